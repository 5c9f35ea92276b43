"""bench/device.sh, the prepared GPU check (issue 24 item 6), in its CPU mode: the same steps at tiny sizes,
so that the script, bench/ig.py, bench/nig.py and bench/sae_step.py in device mode cannot rot where CI has no
GPU. A few minutes on 2 cores (random-init MiniLM-L6 shapes, 32-token texts, 2 pairs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_device_check_runs_on_cpu_and_reports(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.fail("this test checks the CPU mode of bench/device.sh; on a GPU machine run bench/device.sh itself")
    out = tmp_path / "out"
    env = dict(os.environ, PYTHON=sys.executable)
    p = subprocess.run(
        ["bash", str(REPO / "bench/device.sh"), str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    files = sorted(f.name for f in out.iterdir())
    assert len(files) <= 8, files  # what comes back from the device machine
    assert {"results.txt", "bench.log", "pytest.log", "ig.json", "nig.json", "sae_step.json"} <= set(files), files
    lines = (out / "results.txt").read_text().splitlines()
    results = {
        ln.split()[1]: dict(kv.split("=", 1) for kv in ln.split()[2:] if "=" in kv)
        for ln in lines
        if ln.startswith("RESULT ")
    }
    assert set(results) == {"pytest_gpu", "ig", "nig", "sae", "device_check"}, lines
    assert results["pytest_gpu"]["rc"] == "0", lines  # every GPU test skipped, with its reason, on the CPU
    assert "skipped" in (out / "pytest.log").read_text()
    ig, nig, sae = (json.loads((out / f).read_text()) for f in ("ig.json", "nig.json", "sae_step.json"))
    assert ig["complete"] and nig["complete"]
    r = ig["runs"]["minilm-l6_32"]
    assert r["doc_tokens"] == 32 and r["encoder_params"] > 10_000_000
    fp32 = r["dtypes"]["fp32"]
    for k in ("c_per_call", "c_batched", "b"):
        assert fp32[k]["seconds"] > 0 and fp32[k]["frac_peak"] is None  # no peak known for a CPU
    assert fp32["c_batched"]["rel_error_max"] <= ig["settings"]["tol"]
    assert float(results["ig"]["minilm-l6_32_fp32_speedup_c_batched_a"]) > 0
    n = nig["runs"]["minilm-l6_32"]["dtypes"]["fp32"]
    assert n["irlens_batched"]["seconds_per_pair"] > 0 and n["speedup_irlens_batched_over_a"] > 0
    assert sae["steps_per_s"]["sparse"] > 0 and sae["device"] == "cpu"
    assert results["device_check"]["device"] == "cpu"
