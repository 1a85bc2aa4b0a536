"""Regenerate the leaderboard (RESULTS_PATH/README.md, images/, README.md section) and the
README's seed table from the runs.

    python report.py [--results DIR] [--images DIR] [--readme FILE]
"""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads (via data/)
    from evaluation.report import build_parser, main
    from experiments.seed_table import update_readme

    status = main()
    args = build_parser().parse_args()
    if status == 0 and args.readme.exists() and update_readme(args.readme, args.results):
        print(f"wrote the seed table into {args.readme}")
    sys.exit(status)
