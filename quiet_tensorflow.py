"""Loads TensorFlow without the start-up lines that say nothing to a user.

Importing TensorFlow 2.21 prints, through its C++ logging and before `TF_CPP_MIN_LOG_LEVEL` is
read, a banner about oneDNN and, on a machine without a GPU, "Could not find cuda drivers" and
"failed call to cuInit ... (303)". Each of the project's entry points calls `import_tensorflow()`
first: the C++ side writes to file descriptor 2 while TensorFlow loads and looks for GPUs, and
every line written then that is not such a notice is passed on unchanged. Importing this module
imports nothing else.
"""

import contextlib
import os
import re
import sys
import tempfile

# Informational lines of TensorFlow's start-up, matched anywhere in a line.
NOISE = re.compile(
    "|".join(
        (
            r"All log messages before absl::InitializeLog\(\) is called",
            r"oneDNN custom operations are on",
            r"cudart_stub\.cc.*Could not find cuda drivers",
            r"failed call to cuInit",
            r"cpu_feature_guard\.cc",
            r"To enable the following instructions: .*rebuild TensorFlow",
            r"Unable to register cu(DNN|FFT|BLAS) factory",
            r"computation_placer\.cc",
            r"TF-TRT Warning: Could not find TensorRT",
        )
    )
)


@contextlib.contextmanager
def filtered_stderr():
    """Holds back what is written to file descriptor 2 and replays it without the `NOISE` lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", "replace").splitlines()
            kept = [line for line in lines if not NOISE.search(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


_loaded = False


def import_tensorflow():
    """Imports TensorFlow and looks for GPUs once, without start-up noise; returns the module."""
    global _loaded
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not _loaded:
        with filtered_stderr():
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # where cuInit reports a missing driver
        _loaded = True
    return sys.modules["tensorflow"]


def load_export(exports: dict[str, str], package: str, name: str):
    """`name` from the module `exports` names for it, TensorFlow loaded first without its
    notices: a package's `__getattr__`, so that importing the package loads nothing."""
    import importlib

    if name not in exports:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    import_tensorflow()
    return getattr(importlib.import_module(exports[name]), name)
