"""Reporting: the paper's numbers and claims, tables and figures from the sweep files.

Imports no TensorFlow or Keras (checked by tests/test_layers.py), so results can be rebuilt anywhere.
"""
