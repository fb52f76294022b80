#!/usr/bin/env bash
# Training throughput on the GPU machine (benchmarks/train_speed.py --device cuda).
#
#     bash scripts/device_train_check.sh     # carry .whl: numpy 1.26.4, scipy 1.13.1, h5py,
#                                            # escnn 1.0.11, pymanopt, autograd (cp312)
#
# escnn imports lie_learn only for SO(3) and scikit-learn only for an optional SVD; neither is
# used by spinsym's p4m networks, and neither has wheels for the device's numpy, so both are
# replaced by stubs here (lie_learn's SO(3) function raises if ever called).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/device_out}
mkdir -p "$OUT"
SITE=/tmp/site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$SITE" .whl/*.whl || echo "installing the carried wheels failed"
STUB=/tmp/stub
mkdir -p $STUB/lie_learn/representations/SO3 $STUB/sklearn
touch $STUB/lie_learn/__init__.py $STUB/lie_learn/representations/__init__.py \
  $STUB/lie_learn/representations/SO3/__init__.py
printf 'def wigner_D_matrix(*args, **kwargs):\n    raise NotImplementedError("SO(3) is not available here")\n' \
  > $STUB/lie_learn/representations/SO3/wigner_d.py
printf 'raise ImportError("scikit-learn is not used by spinsym")\n' > $STUB/sklearn/__init__.py
export PYTHONPATH=$STUB:$SITE:$PWD PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$OUT/train_speed.log"
timeout 420 python3 benchmarks/train_speed.py --device cuda --steps 40 2>&1 | tee -a "$OUT/train_speed.log"
