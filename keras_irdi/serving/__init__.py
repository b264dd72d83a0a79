"""Serving: the TF Serving export (export.py, irdi-export) and the predict CLI (predict.py, irdi-predict)."""
