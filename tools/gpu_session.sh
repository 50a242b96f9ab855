#!/usr/bin/env bash
# One device session on an offline GPU node with JAX (no TensorFlow, no package index):
# the dispatch benchmark, then every notebook, then one archive of everything under $OUT
# (a device call returns a limited number of files; one archive always comes back).
#   OUT=/some/dir PROFILE=quick JOBS=5 BUDGET=420 BENCH_SECONDS=150 bash tools/gpu_session.sh
set -uo pipefail
PYTHON=${PYTHON:-python3}
SITE=${SITE:-/tmp/lipnb-site}
OUT=${OUT:?set OUT to the folder that comes back}
"$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}" XLA_PYTHON_CLIENT_PREALLOCATE=false
mkdir -p build/gpu
nvidia-smi > build/gpu/nvidia-smi.txt 2>&1
KERAS_BACKEND=jax timeout "${BENCH_SECONDS:-150}" "$PYTHON" benchmarks/bench_dispatch.py --out build/gpu \
    > build/gpu/bench_dispatch.log 2>&1
echo "bench_dispatch exit $?" >> build/gpu/bench_dispatch.log
PROFILE=${PROFILE:-quick} JOBS=${JOBS:-5} BUDGET=${BUDGET:-420} OUT_DIR=build/gpu SITE="$SITE" WHEELS_INSTALLED=1 \
    bash tools/run_on_gpu_node.sh > build/gpu/run.log 2>&1
echo "notebooks exit $?" >> build/gpu/run.log
tar czf "$OUT/gpu_session.tgz" build/gpu "build/jax/${PROFILE:-quick}" "build/tmp/${PROFILE:-quick}-jax" 2>/dev/null
tail -n 25 build/gpu/bench_dispatch.log build/gpu/run.log
