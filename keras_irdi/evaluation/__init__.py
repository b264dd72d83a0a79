"""Evaluation: the level sweep of the six networks over a trained run (level_sweep.py)."""
