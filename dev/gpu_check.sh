#!/usr/bin/env bash
# The GPU checks in one run, for a session lent a GPU machine (the device tool's `run`):
#
#     run(command="bash dev/gpu_check.sh $(git rev-parse --short HEAD)", timeout_s=560)
#
# (write the commit in by hand: the command runs there, on a copy of the tree without its history).
# There python3 holds PyTorch, torchvision, timm, pytest and hypothesis and nothing can be
# installed, so the package runs from the tree (PYTHONPATH). Written under $OUT, which comes back:
#
#   env.txt        the GPU, the versions, and each step's exit status
#   tests.log      tests/test_cuda.py: results on the device, no sync, the CPU's maths, and a
#                  training step compiled with mode="reduce-overhead" captured in one CUDA graph
#   benchmarks.md  docs/benchmarks.md with its CUDA section measured at that commit: copy the
#                  section (between its markers) into docs/benchmarks.md
#   bench.log      the benchmark's output
#   profile.txt    dev/gpu_profile.py: host and synced ms a call, CUDA kernels a call, top ops
#
# Each step is bounded (5 + 3 + 1.5 minutes), so the run ends inside the device's 10-minute limit.
set -u
commit=${1:?usage: bash dev/gpu_check.sh COMMIT}
python=${PYTHON:-python3}
out=${OUT:-out/gpu_check}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 ZMIX_BENCH_COMMIT="$commit"

{
    echo "commit $commit"
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || echo "no nvidia-smi"
    "$python" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())"
    "$python" -c "import timm; print('timm', timm.__version__)" || echo "no timm: the benchmark has no timm anchors"
} >"$out/env.txt" 2>&1

timeout 300 "$python" -m pytest -q -p no:cacheprovider -rs tests/test_cuda.py >"$out/tests.log" 2>&1
echo "tests rc=$?" >>"$out/env.txt"

cp docs/benchmarks.md "$out/benchmarks.md"
timeout 180 "$python" benchmarks/bench_mixing.py --device cuda --out "$out" >"$out/bench.log" 2>&1
echo "benchmark rc=$?" >>"$out/env.txt"

timeout 90 "$python" dev/gpu_profile.py >"$out/profile.txt" 2>&1
echo "profile rc=$?" >>"$out/env.txt"

cat "$out/env.txt"
tail -n 5 "$out/tests.log"
