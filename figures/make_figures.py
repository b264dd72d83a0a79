#!/usr/bin/env python
"""`irdi figures` (keras_irdi/commands/reports.py) as a script of the repository."""
import sys

from keras_irdi.commands.cli import main_wrapper
from keras_irdi.commands.reports import figures_main as main

if __name__ == "__main__":
    sys.exit(main_wrapper(main))
