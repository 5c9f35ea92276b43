"""The one TF32 switch ($IRLENS_TF32, default off) that pick_device applies when it resolves to CUDA."""

from __future__ import annotations

import pytest
import torch

from irlens.errors import IrlensError
from irlens.models.encoder import TF32_ENV, configure_tf32, pick_device, tf32_enabled


@pytest.fixture
def restore_tf32():
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


@pytest.mark.parametrize(
    "value, want", [(None, False), ("", False), ("0", False), ("off", False), ("1", True), ("TRUE", True), ("on", True)]
)
def test_switch_sets_both_flags(monkeypatch, restore_tf32, value, want):
    if value is None:
        monkeypatch.delenv(TF32_ENV, raising=False)
    else:
        monkeypatch.setenv(TF32_ENV, value)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not want
    assert tf32_enabled() is want and configure_tf32() is want
    assert torch.backends.cuda.matmul.allow_tf32 is want and torch.backends.cudnn.allow_tf32 is want


def test_a_bad_value_is_an_irlens_error(monkeypatch):
    monkeypatch.setenv(TF32_ENV, "maybe")
    with pytest.raises(IrlensError, match=r"\$IRLENS_TF32='maybe'"):
        tf32_enabled()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU path")
def test_cpu_resolution_leaves_the_flags_alone(monkeypatch, restore_tf32):
    monkeypatch.setenv(TF32_ENV, "1")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    assert pick_device("auto") == "cpu" and pick_device("cpu") == "cpu"
    assert torch.backends.cuda.matmul.allow_tf32 is False and torch.backends.cudnn.allow_tf32 is False


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU path")
def test_cuda_resolution_applies_the_switch(monkeypatch, restore_tf32):
    """pick_device('cuda') applies the switch; here CUDA is simulated (no GPU needed)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv(TF32_ENV, "1")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    assert pick_device("cuda:0") == "cuda:0" and torch.backends.cuda.matmul.allow_tf32 is True
    monkeypatch.delenv(TF32_ENV)
    assert pick_device("auto") == "cuda" and torch.backends.cuda.matmul.allow_tf32 is False
    assert torch.backends.cudnn.allow_tf32 is False
