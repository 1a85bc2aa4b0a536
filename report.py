"""Regenerate the leaderboard (RESULTS_PATH/README.md, images/, README.md section), and the
README's seed table and benchmark tables, from the records.

    python report.py [--results DIR] [--images DIR] [--readme FILE]
"""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads (via data/)
    from benchmarks import summary
    from evaluation.report import build_parser, main
    from experiments import seed_table

    status = main()
    args = build_parser().parse_args()
    if status == 0 and args.readme.exists():
        if seed_table.update_readme(args.readme, args.results):
            print(f"wrote the seed table into {args.readme}")
        if summary.update_readme(args.readme, args.results / "benchmarks"):
            print(f"wrote the benchmark tables into {args.readme}")
    sys.exit(status)
