#!/usr/bin/env python
"""`irdi reproducibility` (keras_irdi/commands/reproducibility.py) as a script of the repository."""
import sys

from keras_irdi.commands.cli import main_wrapper
from keras_irdi.commands.reproducibility import main

if __name__ == "__main__":
    sys.exit(main_wrapper(main))
