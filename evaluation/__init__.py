"""Evaluation on validation and test: metrics, statistics, calibration, records read back,
predictions, ensembles, tables, figures and the report. Importing the package imports nothing."""
