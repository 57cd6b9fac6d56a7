#!/usr/bin/env bash
# One lease of a CUDA machine, used once: the GPU table (bench/gpu_check.sh), then real-photo
# training runs side by side on the card while the test suite runs on CUDA, then everything
# packed into at most 8 files under $OUT (the device tool's limit). Bounded by BUDGET seconds in
# all, so the packing always happens inside the call's own timeout.
#   OUT=out BUDGET=540 TRAIN_SECONDS=240 PHOTOS=data/photos256 bash bench/gpu_session.sh
# A second, shorter lease can go on from the first one's models: SKIP_PERF=1, RUNS="a b" (a subset
# of the runs below), INIT_DIR=folder with one model folder per run name (--init), STEPS_name=N,
# TESTS="test files" (default: every test file that needs neither gradio nor a browser).
set -u
OUT=${OUT:-gpu_out}; BUDGET=${BUDGET:-540}; TRAIN_SECONDS=${TRAIN_SECONDS:-240}
PHOTOS=${PHOTOS:-data/photos256}; DEVICE=${DEVICE:-cuda}
T0=$(date +%s)
WORK=$(mktemp -d); mkdir -p "$OUT" "$WORK/perf" "$WORK/runs" "$WORK/logs"
# the CUDA image has python3 only
if ! command -v python >/dev/null; then mkdir -p "$WORK/bin"; ln -s "$(command -v python3)" "$WORK/bin/python"; export PATH="$WORK/bin:$PATH"; fi
export GRADIO_ANALYTICS_ENABLED=False PYTHONUNBUFFERED=1
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
pack() {  # the small results, always
  tar -C "$WORK" --exclude='*.safetensors' --exclude='checkpoints' -czf "$OUT/results.tar.gz" perf logs runs 2>/dev/null
  cp "$WORK/perf/summary.txt" "$OUT/summary.txt" 2>/dev/null
}
trap pack EXIT

# 1. the GPU table: every step has its own timeout (bench/gpu_check.sh); no tests there
[ -n "${SKIP_PERF:-}" ] || OUT="$WORK/perf" SKIP_TESTS=1 PERF_SECONDS=$(( BUDGET - TRAIN_SECONDS - 60 )) bash bench/gpu_check.sh
echo "perf done at $(( $(date +%s) - T0 ))s" | tee -a "$WORK/perf/summary.txt"

# 2. real-photo runs side by side on the card, and the tests on CUDA beside them
secs=$(( $(left) - 45 )); [ "$secs" -gt "$TRAIN_SECONDS" ] && secs=$TRAIN_SECONDS
echo "training for ${secs}s" | tee -a "$WORK/perf/summary.txt"
common=(--data "$PHOTOS" --scale quick --size 256 --device "$DEVICE" --seed 0 --workers 2
        --checkpoint-every 500 --keep 2 --score-every 0 --sample-every 2000 --log-every 50 --quiet)
launch() {  # launch NAME STEPS ARGS...
  local name=$1 steps=$2; shift 2
  case " ${RUNS:-$name} " in *" $name "*) ;; *) return ;; esac
  local var="STEPS_${name//-/_}"; steps=${!var:-$steps}
  [ -n "${INIT_DIR:-}" ] && set -- "$@" --init "$INIT_DIR/$name"
  timeout -s INT -k 30 "$secs" python -m train "${common[@]}" --steps "$steps" --out "$WORK/runs/$name" "$@" \
    >"$WORK/logs/$name.out" 2>"$WORK/logs/$name.err" &
}
launch cyclegan-idt 6000 --arch cyclegan --lambda-identity 3
launch cyclegan 6000 --arch cyclegan
launch dualgan 6000 --arch dualgan
launch discogan 6000 --arch discogan --lambda-cycle 10
launch cut 6000 --arch cut
launch fastcut 6000 --arch cut --recipe fastcut
tests=${TESTS:-$(grep -LE "gradio|from ui|import ui|import app|playwright|vintagify|demo:vintage|import av" tests/test_*.py)}
timeout -k 10 $(( secs + 20 )) python -m pytest -q -p no:cacheprovider -n 6 $tests >"$WORK/logs/pytest.txt" 2>&1 &
wait
echo "training and tests done at $(( $(date +%s) - T0 ))s" | tee -a "$WORK/perf/summary.txt"
tail -3 "$WORK/logs/pytest.txt" >>"$WORK/perf/summary.txt"

# 3. the checkpoints as model folders (generators only, as shipped), each run's newest first,
#    then older ones while the total fits the tool's limits (8 files of 16 MiB, 64 MiB in all)
python - "$WORK/runs" "$OUT" <<'EOF'
import sys, tarfile, pathlib, tempfile
import cyclegan
from cyclegan.checkpoints import save_model
runs, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
ckpts = {r.name: sorted((r / "checkpoints").glob("step_*"), reverse=True) for r in sorted(runs.iterdir())}
order = [c for i in range(3) for cs in ckpts.values() for c in cs[i:i + 1]]
part, size, n, total, tmp = None, 0, 0, 0, pathlib.Path(tempfile.mkdtemp())
for c in order:
    dest = tmp / c.parent.parent.name / c.name
    try:
        save_model(cyclegan.load_model(str(c)), dest)
    except Exception as e:
        print(f"{c}: {e}", file=sys.stderr); continue
    need = sum(f.stat().st_size for f in dest.iterdir())
    if need > 16_000_000 or total + need > 58_000_000:
        continue
    if part is None or size + need > 16_000_000:
        if part: part.close()
        if n == 6: break
        n += 1; part, size = tarfile.open(out / f"models{n}.tar", "w"), 0
    part.add(dest, arcname=f"{c.parent.parent.name}/{c.name}")
    size += need; total += need
if part: part.close()
EOF
ls -la "$OUT"
