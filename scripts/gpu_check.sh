#!/usr/bin/env bash
# The GPU check (issue 19): one script, at most 8 minutes on one GPU, everything it measures under $OUT.
#
#   OUT=/some/folder scripts/gpu_check.sh                    # on a GPU machine
#   OUT=/tmp/gpu-check scripts/gpu_check.sh --device cpu --quick   # the same steps on CPU, to test the script
#
# Steps: the device (name, driver, torch, CUDA), the tests marked gpu, `slimconv-bench targets` in float32
# and in the AMP dtype (float16 on CUDA, bfloat16 on CPU), the Operator benchmark page through AppTest on the
# device, and the records' summary. A failed step is named and the others still run; the exit status is 1
# if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

DEVICE=cuda
QUICK=()
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE="$2"; shift 2 ;;
        --quick) QUICK=(--quick); shift ;;
        *) echo "usage: $0 [--device cuda|cpu] [--quick]" >&2; exit 2 ;;
    esac
done
OUT="${OUT:?set OUT to the folder for the results}"
mkdir -p "$OUT/records"
if [ "$DEVICE" = cpu ]; then AMP=bfloat16; else AMP=float16; fi
if [ ${#QUICK[@]} -gt 0 ]; then BUDGET=(--budget 2 --min-rounds 3 --block-time 0.005); else BUDGET=(--budget 12); fi
failed=()

step() {  # step NAME SECONDS COMMAND...: run with a time limit, output in $OUT/NAME.log
    local name="$1" limit="$2"; shift 2
    local started=$SECONDS
    if timeout "$limit" "$@" >"$OUT/$name.log" 2>&1; then
        echo "ok      $name ($((SECONDS - started)) s)"
    else
        echo "FAILED  $name ($((SECONDS - started)) s, exit $?; see $name.log)"
        failed+=("$name")
    fi
}

step device 30 python - "$DEVICE" <<'PY'
import subprocess, sys, torch
device = sys.argv[1]
print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())
if device.startswith("cuda"):
    print("device", torch.cuda.get_device_name(device), torch.cuda.get_device_properties(device))
    print(subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv"],
                         capture_output=True, text=True).stdout)
else:
    import platform
    print("device", platform.processor() or platform.machine(), torch.get_num_threads(), "threads")
PY
step tests 150 python -m pytest -q -p no:cacheprovider -m gpu tests
step targets-float32 170 python -m slimconv.bench targets --device "$DEVICE" --dtype float32 "${QUICK[@]}" \
    "${BUDGET[@]}" --out "$OUT/records"
step "targets-$AMP" 170 python -m slimconv.bench targets --device "$DEVICE" --dtype "$AMP" "${QUICK[@]}" \
    "${BUDGET[@]}" --out "$OUT/records"
step page 90 python scripts/gpu_page_check.py --device "$DEVICE" --out "$OUT"
step summary 30 python -m slimconv.bench.summary "$OUT/records"

cat "$OUT"/device.log
grep -h -A20 "^Targets:" "$OUT"/targets-*.log
if [ ${#failed[@]} -gt 0 ]; then echo "failed steps: ${failed[*]}"; exit 1; fi
echo "all steps passed; records in $OUT/records"
