"""Preparing a run: its directory on disk (directory.py) and its config, strategy and data (config.py).

Below training, evaluation and serving, which all read a run; above models/ and data/.
"""
