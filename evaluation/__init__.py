"""Evaluation of predictions on validation and test: metrics, statistics, calibration, seed
groups, ensembles and specialists combined. Importing the package imports nothing."""
