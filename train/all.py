#!/usr/bin/env python
"""The whole paper in one command: `irdi train` (keras_irdi/commands/train.py) as a script of the repository."""
import sys

from keras_irdi.commands.cli import main_wrapper
from keras_irdi.commands.train import main

if __name__ == "__main__":
    sys.exit(main_wrapper(main))
