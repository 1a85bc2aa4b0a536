"""Export a run's selected weights (SavedModel, ONNX, LiteRT) and measure them: see
`evaluation/export.py`. python export.py RUN_NAME_OR_CHECKPOINT"""

import sys

from evaluation.export import main

if __name__ == "__main__":
    sys.exit(main())
