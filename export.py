"""Export a run's selected weights (SavedModel, ONNX, LiteRT) and measure them: see
`serving/export.py`. python export.py RUN_NAME_OR_CHECKPOINT"""

import sys

from reporting.exports import export_table
from serving import export


def main(argv=None) -> int:
    """`serving.export.main`, printing the record as `reporting.exports.export_table`."""
    return export.main(argv, table=export_table)


if __name__ == "__main__":
    sys.exit(main())
