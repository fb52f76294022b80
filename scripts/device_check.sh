#!/usr/bin/env bash
# One device check of the GPU Monte Carlo path (spinsym.mc.gpu), run from anywhere in the repo on
# the GPU machine:
#
#     bash scripts/device_check.sh          # carry .whl (numpy 1.26.4 + h5py 3.16.0, cp312)
#
# 1. installs the carried wheels into /tmp/site (numba-cuda on the image needs numpy 1.26;
#    h5py is carried so that simulate_gpu's HDF5 output works with that numpy);
# 2. prints the card and the versions; if numba.cuda is not usable with the carried numpy, retries
#    with the image's numpy and a np.row_stack shim;
# 3. runs benchmarks/gpu_mc.py (flips/ns, naive PyTorch baseline, ratio);
# 4. runs tests/mc/test_gpu.py (GPU tests included).
# Logs: $OUT/env.log, $OUT/bench.log, $OUT/bench.json, $OUT/test_gpu.log (OUT defaults to
# ./device_out).  About 3-4 minutes in all.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/device_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
PY=${PY:-python3}
SITE=/tmp/site
export PYTHONPATH=$PWD
if ls .whl/*.whl >/dev/null 2>&1; then
  if $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$SITE" .whl/*.whl; then
    export PYTHONPATH=$SITE:$PWD
  else
    echo "device_check: installing the carried wheels failed" | tee "$OUT/env.log"
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

{ nvidia-smi -L; echo "PYTHONPATH=$PYTHONPATH"; probe; } 2>&1 | tee -a "$OUT/env.log"
if ! grep -q "cuda available: True" "$OUT/env.log"; then
  echo "== numba.cuda unusable with the carried numpy: retry with the image's numpy + row_stack shim ==" \
    | tee -a "$OUT/env.log"
  mkdir -p /tmp/shim
  printf 'import numpy\nif not hasattr(numpy, "row_stack"):\n    numpy.row_stack = numpy.vstack\n' \
    > /tmp/shim/sitecustomize.py
  rm -rf "$SITE"/numpy "$SITE"/numpy-* "$SITE"/numpy.libs
  export PYTHONPATH=/tmp/shim:$SITE:$PWD
  { echo "PYTHONPATH=$PYTHONPATH"; probe; } 2>&1 | tee -a "$OUT/env.log"
fi

echo "== benchmark ==" | tee "$OUT/bench.log"
timeout 170 $PY benchmarks/gpu_mc.py --json "$OUT/bench.json" 2>&1 | tee -a "$OUT/bench.log"
echo "== tests ==" | tee "$OUT/test_gpu.log"
timeout 260 $PY -m pytest -q -p no:cacheprovider -rs --durations=12 tests/mc/test_gpu.py 2>&1 \
  | tee -a "$OUT/test_gpu.log"
echo
echo "== summary =="
grep -E "^(device|numpy|python|cuda available)" "$OUT/env.log" | tail -n 4
grep -E "^(== |spinsym GPU|naive PyTorch checkerboard \(|ratio)" "$OUT/bench.log"
tail -n 2 "$OUT/test_gpu.log"
