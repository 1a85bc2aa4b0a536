"""Regenerate the leaderboard (RESULTS_PATH/README.md, images/, README.md section) from the runs.

    python report.py [--results DIR] [--images DIR] [--readme FILE]
"""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads (via data/)
    from evaluation.report import main

    sys.exit(main())
