#!/usr/bin/env python
"""`irdi publish` (keras_irdi/commands/publish.py) as a script of the repository."""
import sys

from keras_irdi.commands.publish import main, run  # noqa: F401 (main: what the tests' call_cli runs)

if __name__ == "__main__":
    sys.exit(run())
