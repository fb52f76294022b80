#!/usr/bin/env bash
# One device check of the GPU Monte Carlo path (spinsym.mc.gpu: the multi-spin kernel
# MultiSpinGPU and the byte-lane kernel CheckerboardGPU), run from anywhere in the repo on the
# GPU machine:
#
#     bash scripts/device_check.sh          # carry .whl (numpy 1.26.4 + h5py 3.16.0, cp312)
#
# 1. installs the carried wheels into /tmp/site (numba-cuda on the image needs numpy 1.26;
#    h5py is carried so that simulate_gpu's HDF5 output works with that numpy);
# 2. prints the card and the versions; if numba.cuda is not usable with the carried numpy, retries
#    with the image's numpy and a np.row_stack shim;
# 3. runs benchmarks/gpu_mc.py (both kernels and a naive PyTorch checkerboard, ratios);
# 4. runs tests/mc/test_gpu.py (GPU tests included: both kernels bit for bit against their NumPy
#    references over several launch shapes, statistics against exact results, simulate_gpu).
# Logs (<card>: e.g. H200_20250101): $OUT/device_env_<card>.log, $OUT/gpu_mc_<card>.log,
# $OUT/gpu_mc_<card>.json, $OUT/test_gpu_<card>.log
# (OUT defaults to benchmarks/results, where the logs of a run elsewhere are copied as they are).
# About 4-5 minutes in all (benchmark <= 150 s, tests <= 240 s).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/benchmarks/results}
mkdir -p "$OUT"
CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 \
  | sed -e 's/^NVIDIA //' -e 's/[^A-Za-z0-9]/_/g')
CARD=${CARD:-unknown}_$(date +%Y%m%d)
ENV=$OUT/device_env_$CARD.log
: > "$ENV"
export PYTHONUNBUFFERED=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
PY=${PY:-python3}
SITE=/tmp/site
export PYTHONPATH=$PWD
if ls .whl/*.whl >/dev/null 2>&1; then
  if $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$SITE" .whl/*.whl; then
    export PYTHONPATH=$SITE:$PWD
  else
    echo "device_check: installing the carried wheels failed" | tee "$ENV"
  fi
fi

probe() {
  $PY - <<'EOF'
import sys
import numpy, numba
print("python", sys.version.split()[0], "numpy", numpy.__version__, "numba", numba.__version__)
try:
    import numba_cuda
    print("numba_cuda", getattr(numba_cuda, "__version__", "?"))
except Exception as exc:
    print("numba_cuda: not importable:", exc)
try:
    import h5py
    print("h5py", h5py.__version__)
except Exception as exc:
    print("h5py: not importable:", exc)
from numba import cuda
ok = cuda.is_available()
print("cuda available:", ok)
if ok:
    d = cuda.get_current_device()
    print("device:", d.name, "cc", d.compute_capability)
EOF
}

{ nvidia-smi -L; echo "PYTHONPATH=$PYTHONPATH"; probe; } 2>&1 | tee -a "$ENV"
if ! grep -q "cuda available: True" "$ENV"; then
  echo "== numba.cuda unusable with the carried numpy: retry with the image's numpy + row_stack shim ==" \
    | tee -a "$ENV"
  mkdir -p /tmp/shim
  printf 'import numpy\nif not hasattr(numpy, "row_stack"):\n    numpy.row_stack = numpy.vstack\n' \
    > /tmp/shim/sitecustomize.py
  rm -rf "$SITE"/numpy "$SITE"/numpy-* "$SITE"/numpy.libs
  export PYTHONPATH=/tmp/shim:$SITE:$PWD
  { echo "PYTHONPATH=$PYTHONPATH"; probe; } 2>&1 | tee -a "$ENV"
fi

BENCH=$OUT/gpu_mc_$CARD.log
TESTS=$OUT/test_gpu_$CARD.log
echo "== benchmark ==" | tee "$BENCH"
timeout 150 $PY benchmarks/gpu_mc.py --json "$OUT/gpu_mc_$CARD.json" 2>&1 | tee -a "$BENCH"
echo "== tests ==" | tee "$TESTS"
timeout 240 $PY -m pytest -q -p no:cacheprovider -rs --durations=15 tests/mc/test_gpu.py 2>&1 \
  | tee -a "$TESTS"
echo
echo "== summary =="
grep -E "^(device|numpy|python|cuda available)" "$ENV" | tail -n 4
sed -n '/^== benchmark ==$/d; /^== .* ==$/,$p' "$BENCH"
tail -n 2 "$TESTS"
