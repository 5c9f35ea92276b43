"""irlens.runtime.tune_cpu_allocator: applied once, switchable, and results do not change."""

import json
import subprocess
import sys

import pytest

CHILD = r"""
import json, os, sys
from irlens.runtime import tune_cpu_allocator
state = tune_cpu_allocator()
import torch
torch.manual_seed(0)
torch.set_num_threads(1)
lin = torch.nn.Sequential(torch.nn.Linear(64, 2048), torch.nn.GELU(), torch.nn.Linear(2048, 64))
x = torch.randn(3000, 64)  # activations of 24 MB: above glibc's default mmap threshold
y = lin(x)
y.sum().backward()
print(json.dumps({"state": state, "thp": os.environ.get("THP_MEM_ALLOC_ENABLE"),
                  "y": y.detach().double().sum().item(), "g": lin[0].weight.grad.double().abs().sum().item(),
                  "again": tune_cpu_allocator() is state}))
"""


def _child(env_value):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("IRLENS_TUNE_ALLOCATOR", "THP_MEM_ALLOC_ENABLE")}
    if env_value is not None:
        env["IRLENS_TUNE_ALLOCATOR"] = env_value
    p = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_tuning_is_on_by_default_and_changes_no_result():
    on, off = _child(None), _child("0")
    assert on["state"] == {"enabled": True, "mallopt": True, "thp": True} and on["thp"] == "1"
    assert off["state"] == {"enabled": False, "mallopt": False, "thp": False} and off["thp"] is None
    assert on["again"] and off["again"]  # applied once per process
    assert (on["y"], on["g"]) == (off["y"], off["g"])  # bit-identical forward and backward
