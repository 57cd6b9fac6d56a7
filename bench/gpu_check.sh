#!/usr/bin/env bash
# The GPU row of README "Performance" in one prepared run (issue #16): run it once on a CUDA
# machine from the repository root, e.g.  OUT=gpu_results bash bench/gpu_check.sh
# Every step has its own timeout and writes one file under $OUT, so a step that fails or runs
# long costs only itself; the most wanted numbers come first. About 8 minutes on one H100/H200
# (budget: the compare rows 2 min, the per-architecture rows 3 min, DDP 1 min, tests 2-4 min).
#
# What it measures, all at 256 px, bf16 autocast + channels_last (the Trainer's CUDA defaults):
#   1. ours vs the plain published CycleGAN step (bench/reference.py: float32, NCHW, separate
#      passes), same card, same run, interleaved: batch 1 and batch 8 (target >= 3x)
#   2. `bench train` for every architecture's default recipe (+ CUT/FastCUT), batch 1 and 8,
#      and CycleGAN with torch.compile
#   3. `bench translate` for every architecture (random weights at the published width)
#   4. a 2-process DistributedDataParallel run with nccl (on one GPU nccl may refuse two ranks
#      on the same device: the log then says so, and the gloo run beside it shows DDP itself)
#   5. the test suite (default stage) on the CUDA machine
set -u
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
export GRADIO_ANALYTICS_ENABLED=False PYTHONUNBUFFERED=1
T0=$(date +%s)

PERF_SECONDS=${PERF_SECONDS:-100000}  # the whole run's budget: a step gets at most what is left
step() {  # step NAME SECONDS COMMAND...: run with a timeout, keep stdout/stderr, note the exit code
  local name=$1 secs=$2; shift 2
  local t=$(date +%s) left=$(( PERF_SECONDS - ($(date +%s) - T0) ))
  [ "$left" -lt "$secs" ] && secs=$left
  if [ "$secs" -lt 15 ]; then echo "$name skipped: out of time" | tee -a "$OUT/summary.txt"; return; fi
  timeout "$secs" "$@" >"$OUT/$name.json" 2>"$OUT/$name.err"
  local rc=$?
  echo "$name rc=$rc $(( $(date +%s) - t ))s (total $(( $(date +%s) - T0 ))s)" | tee -a "$OUT/summary.txt"
}

{ nvidia-smi; python -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))"; } \
  >"$OUT/env.txt" 2>&1
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || { echo "no CUDA device" | tee -a "$OUT/summary.txt"; exit 1; }

# 1. ours vs the published step
step compare_b1 120 python -m bench compare --device cuda --scale full --size 256 --batch 1 --steps 20 --warmup 3
step compare_b8 120 python -m bench compare --device cuda --scale full --size 256 --batch 8 --steps 10 --warmup 2

# 2. training step per architecture, batch 1 first (the most wanted), then batch 8
for arch in cyclegan discogan dualgan cut; do
  step "train_${arch}_b1" 60 python -m bench train --device cuda --arch "$arch" --scale full --size 256 --batch 1 --steps 10 --warmup 2 --peak-reps 1
done
step train_fastcut_b1 60 python -m bench train --device cuda --arch cut --recipe fastcut --scale full --size 256 --batch 1 --steps 10 --warmup 2 --peak-reps 1
for arch in cyclegan discogan dualgan cut; do
  step "train_${arch}_b8" 60 python -m bench train --device cuda --arch "$arch" --scale full --size 256 --batch 8 --steps 10 --warmup 2 --peak-reps 1
done

# 3. translation per architecture
for arch in cyclegan discogan dualgan cut; do
  step "translate_$arch" 60 python -m bench translate --device cuda --model "random:$arch" --size 256 --n 20 --warmup 3 --peak-reps 1
done

# 4. DDP, two processes
TMP=$(mktemp -d)
step ddp_nccl 60 python -m torch.distributed.run --standalone --nproc_per_node=2 -m train --data demo:daynight --scale quick --size 64 --steps 20 --device cuda --out "$TMP/nccl"
step ddp_gloo_cpu 60 python -m torch.distributed.run --standalone --nproc_per_node=2 -m train --data demo:daynight --scale quick --size 64 --steps 20 --device cpu --threads 1 --out "$TMP/gloo"
rm -rf "$TMP"

# compile last: its first call compiles for a minute or more
step train_cyclegan_b1_compile 150 python -m bench train --device cuda --arch cyclegan --scale full --size 256 --batch 1 --steps 10 --warmup 3 --peak-reps 1 --set compile=true

# 5. the test suite on the CUDA machine (no browser: chromium is not there)
[ -n "${SKIP_TESTS:-}" ] || step pytest 300 python -m pytest -q -x -p no:cacheprovider --ignore=tests/test_browser.py
echo "done in $(( $(date +%s) - T0 ))s" | tee -a "$OUT/summary.txt"
