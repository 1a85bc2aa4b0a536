"""Experiment suites that run many configurations of train.py."""
