"""Benchmarks: training throughput, time to a target accuracy, FLOP counts and CPU peaks, and
where the time of a training step goes.

Run each as a module from the repository root: `python -m benchmarks.throughput --help`.
"""

from quiet_tensorflow import import_tensorflow

import_tensorflow()  # before any benchmark loads Keras: TensorFlow without its start-up notices
