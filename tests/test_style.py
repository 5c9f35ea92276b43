"""Style gates run with the suite (and so in CI): ruff lint, ruff format and snakefmt must be clean.

Fix locally with ``ruff check --fix . && ruff format . && snakefmt Snakefile workflow/``. The settings
live in pyproject.toml (``[tool.ruff]``, ``[tool.snakefmt]``). ``snakemake --lint`` runs in
tests/workflow/test_workflow.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

CHECKS = {
    "ruff check": [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
    "ruff format": [sys.executable, "-m", "ruff", "format", "--no-cache", "--check", "."],
    "snakefmt": [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/"],
}


@pytest.mark.parametrize("name", CHECKS)
def test_style_is_clean(name):
    p = subprocess.run(CHECKS[name], cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0, f"{name} is not clean:\n{p.stdout[-4000:]}\n{p.stderr[-2000:]}"
