#!/usr/bin/env bash
# GPU check in one command, about 10 minutes on a bare GPU machine:
#   bash benchmarks/gpu_check.sh OUT_DIR
#
# 1. a virtual environment with requirements.txt and tensorflow[and-cuda] at the same pin,
# 2. the dataset (downloaded into DATA_PATH when missing),
# 3. throughput of simple-cnn, wrn-16-4 and mobilenet-v2, project pipeline against the legacy
#    ImageDataGenerator one: mixed_bfloat16 with XLA (which also measures float32 with XLA),
#    then mixed_bfloat16 without XLA (float32 without XLA included); augmentation inside the
#    train step (the GPU default), and once for simple-cnn in the tf.data map, to compare,
# 4. python train.py --model wrn-16-4 --epochs 2, its record under OUT_DIR/runs,
# 5. the presets default, airbench and fast-cnn-kept with XLA, their records under
#    OUT_DIR/runs and their seconds to validation 0.92-0.95 in summary.txt.
#
# Every step runs under `timeout`, bounded by what is left of BUDGET_S; a failed or skipped step
# does not stop the others. OUT_DIR receives the JSON records, one log per step, steps.tsv
# (step, exit status, seconds), nvidia-smi.txt and summary.txt.
#
# Environment: BUDGET_S (default 600), VENV_DIR (default ${TMPDIR:-/tmp}/fmlab-gpu-venv, reused
# when it already imports TensorFlow), PYTHON (default python3), SKIP_INSTALL=1 to use PYTHON as
# it is, DATA_PATH (default: the project's).
set -uo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: bash benchmarks/gpu_check.sh OUT_DIR" >&2
    exit 2
fi
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$1/logs" || exit 2
OUT_DIR=$(cd "$1" && pwd)
SCRATCH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fmlab-gpu-check.XXXXXX")
BUDGET_S=${BUDGET_S:-600}
DEADLINE=$((SECONDS + BUDGET_S))
VENV_DIR=${VENV_DIR:-${TMPDIR:-/tmp}/fmlab-gpu-venv}
PYTHON=${PYTHON:-python3}
trap 'rm -rf "$SCRATCH_DIR"' EXIT
cd "$REPO_DIR" || exit 2
printf 'step\texit_status\tseconds\n' >"$OUT_DIR/steps.tsv"

# run_step NAME CAP_SECONDS COMMAND...: runs COMMAND under timeout (at most CAP_SECONDS and what
# is left of the budget), logs to OUT_DIR/logs/NAME.log, appends to steps.tsv.
run_step() {
    local name=$1 cap=$2
    shift 2
    local left=$((DEADLINE - SECONDS))
    local limit=$((cap < left ? cap : left))
    if ((limit < 15)); then
        printf '%s\tskipped\t0\n' "$name" >>"$OUT_DIR/steps.tsv"
        echo "== $name: skipped, budget spent"
        return 1
    fi
    echo "== $name (at most ${limit}s)"
    local started=$SECONDS status
    timeout --kill-after=10 "$limit" "$@" >"$OUT_DIR/logs/$name.log" 2>&1
    status=$?
    printf '%s\t%s\t%s\n' "$name" "$status" $((SECONDS - started)) >>"$OUT_DIR/steps.tsv"
    tail -n 12 "$OUT_DIR/logs/$name.log"
    return "$status"
}

# The GPU build of TensorFlow at requirements.txt's pin, e.g. tensorflow[and-cuda]>=2.21,<2.22.
TENSORFLOW_CUDA=$(grep -E '^tensorflow[<>=]' requirements.txt | sed 's/^tensorflow/tensorflow[and-cuda]/')
export PYTHON VENV_DIR TENSORFLOW_CUDA
# shellcheck disable=SC2016  # expanded by the inner bash
INSTALL='"$PYTHON" -m venv "$VENV_DIR" &&
    "$VENV_DIR/bin/python" -m pip install --quiet -r requirements.txt "$TENSORFLOW_CUDA"'

nvidia-smi >"$OUT_DIR/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed" >&2

if [[ ${SKIP_INSTALL:-0} == 1 ]]; then
    PY=$PYTHON
elif [[ -x $VENV_DIR/bin/python ]] && "$VENV_DIR/bin/python" -c 'import tensorflow' 2>/dev/null; then
    PY=$VENV_DIR/bin/python
elif run_step install 300 bash -c "$INSTALL"; then
    PY=$VENV_DIR/bin/python
else
    echo "installation failed (see $OUT_DIR/logs/install.log); trying $PYTHON as it is" >&2
    PY=$PYTHON
fi

run_step gpu_visible 60 "$PY" -c '
import tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
print(tf.__version__, gpus)
raise SystemExit(0 if gpus else "no GPU visible to TensorFlow")' || exit 1
run_step dataset 90 "$PY" -c 'from data import load_fashion_mnist; load_fashion_mnist()' || exit 1

# Short windows: the project pipeline runs at tens of thousands of images/s on one GPU.
THROUGHPUT=(-m benchmarks.throughput --steps 150 --windows 5 --warmup 20 --out "$OUT_DIR")
for model in simple-cnn wrn-16-4 mobilenet-v2; do
    run_step "throughput-$model-xla" 100 \
        "$PY" "${THROUGHPUT[@]}" --model "$model" --precision mixed_bfloat16 --jit-compile
done
run_step throughput-simple-cnn-xla-dataset-augmentation 60 \
    "$PY" "${THROUGHPUT[@]}" --model simple-cnn --precision mixed_bfloat16 --jit-compile \
    --augment-on dataset --approaches project
run_step train-wrn-16-4 150 env RESULTS_PATH="$OUT_DIR/runs" \
    DL_MODELS_PATH="$SCRATCH_DIR/checkpoints" TB_LOGS_PATH="$SCRATCH_DIR/tb" \
    "$PY" train.py --model wrn-16-4 --epochs 2 --run-name gpu-check-wrn-16-4
# The presets whose time to accuracy matters, XLA on (the GPU default): train.py's default, all
# the airbench speed options and the 0.95 recipe (fast-cnn-kept); every augmentation
# layer they use must compile with XLA. summary.txt gives each run's seconds to validation
# 0.92-0.95 from its history.
for preset in default airbench fast-cnn-kept; do
    run_step "train-$preset" 150 env RESULTS_PATH="$OUT_DIR/runs" \
        DL_MODELS_PATH="$SCRATCH_DIR/checkpoints" TB_LOGS_PATH="$SCRATCH_DIR/tb" \
        "$PY" train.py --preset "$preset" --jit-compile --run-name "gpu-check-$preset" \
        --tag gpu-check
done
for model in simple-cnn wrn-16-4 mobilenet-v2; do
    run_step "throughput-$model" 80 \
        "$PY" "${THROUGHPUT[@]}" --model "$model" --precision mixed_bfloat16 --no-jit-compile
done

"$PY" - "$OUT_DIR" >"$OUT_DIR/summary.txt" 2>&1 <<'EOF'
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
for path in sorted(out.glob("throughput-*.json")):
    record = json.loads(path.read_text())
    print(
        f"{record['model']}  XLA {record['jit_compile']}  batch {record['batch_size']}  "
        f"augmentation in the {record['augment_on']}  ({path.name})"
    )
    for name, result in record["approaches"].items():
        print(
            f"  {name:<16}{result['precision']:<16}{result['images_per_second']:>10.0f} img/s"
            f"{result['achieved_gflops']:>10.0f} GFLOP/s"
        )
    for name, ratio in record["ratios"].items():
        print(f"  {name}: {ratio:.2f}x")
from benchmarks.race import seconds_to_target

for path in sorted(out.glob("runs/*/result.json")):
    record = json.loads(path.read_text())
    print(
        f"{record['run_name']}: {record['status']}, best val {record['best_val_accuracy']}, "
        f"test {record.get('test_accuracy')}, {record['images_per_second']} img/s, "
        f"fit {record['fit_seconds']} s"
    )
    for target in (0.92, 0.93, 0.94, 0.95):
        seconds = seconds_to_target(record["history"], target)
        reached = "not reached" if seconds is None else f"{seconds:.1f} s of training"
        print(f"  validation {target}: {reached}")
EOF
cat "$OUT_DIR/summary.txt"
echo "records, logs and summary in $OUT_DIR (${SECONDS}s)"
