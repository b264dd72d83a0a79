"""What the command-line tools share: options and parsing (cli.py), train/all.py's job (run_everything.py)."""
