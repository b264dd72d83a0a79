"""Training: the paper's four stages (stages.py) over one shared fit loop (fitting.py)."""
