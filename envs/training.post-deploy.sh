#!/usr/bin/env bash
# Snakemake runs this once, inside the freshly created conda env of the envs/<family>.yaml beside it
# (--use-conda / --sdm conda), from the directory Snakemake runs in; it copies the script into
# .snakemake/conda/ first, so it must stand alone (every envs/*.post-deploy.sh is this same file). It
# installs this checkout's irlens package into the env, editable (--no-deps: the env file pins what the
# family needs), so the env's `irlens` is the checkout's code and stays current when the code changes.
# Running Snakemake outside the checkout (--directory): set IRLENS_SRC to the checkout.
set -euo pipefail
src="${IRLENS_SRC:-$PWD}"
if [ ! -f "$src/pyproject.toml" ] || ! grep -q '^name = "irlens"' "$src/pyproject.toml"; then
    echo "irlens post-deploy: $src is not the irlens checkout (no pyproject.toml naming irlens); set IRLENS_SRC=<checkout> and rerun" >&2
    exit 1
fi
python -m pip install --no-deps --disable-pip-version-check -e "$src"
