"""Optuna searches over presets: a search space file (`space`), the study and its storage
(`study`), one trial as one ordinary run (`objective`) and the best trial as a preset
(`export`). `sweep.py` drives them."""
