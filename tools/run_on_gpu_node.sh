#!/usr/bin/env bash
# Every notebook on an offline GPU node with JAX (no TensorFlow, no package index there).
#
# Bring the wheels listed in tools/gpu_wheels.txt in .whl/ (the pip download command is
# at the top of that file), then, on the node, from the repository root:
#   PROFILE=quick JOBS=4 BUDGET=540 bash tools/run_on_gpu_node.sh
# Writes build/gpu/gpu.json; `python tools/gpu_run.py report --run build/gpu/gpu.json`
# (here, beside the CPU results) turns it into benchmarks/results/gpu.md.
set -euo pipefail
PYTHON=${PYTHON:-python3}
SITE=${SITE:-/tmp/lipnb-site}
if [ -z "${WHEELS_INSTALLED:-}" ]; then  # tools/gpu_session.sh installs them first, and says so
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl
fi
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
state="$PWD/build/state"
mkdir -p "$state"
export JUPYTER_DATA_DIR="$state/jupyter-data" JUPYTER_CONFIG_DIR="$state/jupyter-config" \
       JUPYTER_RUNTIME_DIR="$state/jupyter-runtime" IPYTHONDIR="$state/ipython" \
       KERAS_HOME="$state/keras" MPLCONFIGDIR="$state/matplotlib" PYTHONHASHSEED=0 \
       PYDEVD_DISABLE_FILE_VALIDATION=1
exec "$PYTHON" tools/gpu_run.py run --backend jax --kernel python3 --profile "${PROFILE:-quick}" \
     --jobs "${JOBS:-4}" --budget "${BUDGET:-3000}" --out "${OUT_DIR:-build/gpu}" ${ONLY:+--only $ONLY}
