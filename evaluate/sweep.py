#!/usr/bin/env python
"""`irdi sweep` (keras_irdi/commands/sweep.py) as a script of the repository."""
import sys

from keras_irdi.commands.cli import main_wrapper
from keras_irdi.commands.sweep import main

if __name__ == "__main__":
    sys.exit(main_wrapper(main))
