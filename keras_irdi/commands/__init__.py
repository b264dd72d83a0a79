"""The `irdi` command (irdi.py) and its subcommands: train, sweep, reports (tables, figures), publish,
reproducibility; what they share: options and parsing (cli.py), a whole run's job (run_everything.py)."""
