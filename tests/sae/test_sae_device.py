"""SAE training's ``device`` plumbing on the CPU (the CUDA run itself: tests/gpu/test_cuda.py).

``train_sae(device=...)`` resolves the device like every stage (:func:`irlens.models.encoder.pick_device`),
trains there and hands the model back where it came from; ``device='cpu'`` is bit-identical to the default.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from irlens.errors import IrlensError
from irlens.sae.config import TrainConfig
from irlens.sae.model import TopKSAE
from irlens.sae.train import TrainData, batch_losses, build_train_data, train_sae

pytestmark = pytest.mark.usefixtures("one_torch_thread")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")


def _data(doc_anchors=True):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 12)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return build_train_data([{"name": "toy", "corpus": x[:250], "queries": x[250:]}], n=3, doc_anchors=doc_anchors)


CFG = dict(n_latents=32, k=3, aux_k=8, n=3, epochs=2, batch=40, batch_queries=8, warmup_steps=1, dead_after=20)


@pytest.mark.parametrize(
    "over",
    [
        {"lam": 1.0, "lam_latent": 0.5, "latent_loss": "infonce", "anchors": "queries+docs", "augment": "mixup"},
        {"lam": 1.0, "lam_gram": 0.1, "augment": "noise"},
    ],
)
def test_device_cpu_is_bit_identical_to_the_default(over):
    cfg = TrainConfig(**CFG, **over)
    data = _data(cfg.anchors == "queries+docs")
    a, rec_a = train_sae(data, cfg, progress=False)
    b, rec_b = train_sae(data, cfg, progress=False, device="cpu")
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(rec_a["history"]) == strip(rec_b["history"])
    assert rec_a["device"] == rec_b["device"] == "cpu"
    assert rec_a["pool"] == rec_b["pool"]
    assert all(isinstance(v, float) for r in rec_b["history"] for k, v in r.items() if k not in ("epoch", "dead"))


@no_cuda
def test_auto_trains_on_the_cpu_without_cuda():
    cfg = TrainConfig(**CFG)
    m, rec = train_sae(_data(False), cfg, progress=False, device="auto")
    assert rec["device"] == "cpu" and all(p.device.type == "cpu" for p in m.parameters())


@no_cuda
@pytest.mark.parametrize(
    "device, msg", [("cuda", "CUDA is not available"), ("cuda:1", "CUDA is not available"), ("gpu0", "not a torch")]
)
def test_a_device_this_machine_lacks_is_an_irlens_error(device, msg):
    with pytest.raises(IrlensError, match=msg):
        train_sae(_data(False), TrainConfig(**CFG), progress=False, device=device)


def test_a_given_model_comes_back_where_it_was():
    cfg = TrainConfig(**CFG)
    data = _data(False)
    m0 = TopKSAE(cfg.sae_config(12), seed=0)
    m, rec = train_sae(data, cfg, progress=False, model=m0, device="cpu")
    assert m is m0 and rec["device"] == "cpu" and all(t.device.type == "cpu" for t in m.state_dict().values())


class _ArangeDevices(TorchFunctionMode):
    """Records the ``device`` keyword of every ``torch.arange`` call."""

    def __init__(self):
        super().__init__()
        self.devices = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.arange:
            self.devices.append(kwargs.get("device"))
        return func(*args, **kwargs)


@pytest.mark.parametrize("in_batch", [True, False])
def test_infonce_targets_are_built_on_the_scores_device(in_batch):
    """The InfoNCE targets must be created on the device of the scores (not the CPU default): on CUDA a CPU
    target tensor fails in cross_entropy. Checked by the device keyword every torch.arange gets."""
    n, nq, nr = 3, 4, 8
    cfg = TrainConfig(n_latents=32, k=3, n=n, batch=nr, batch_queries=nq, lam_latent=1.0, latent_loss="infonce")
    cfg.in_batch = in_batch
    model = TopKSAE(cfg.sae_config(12), seed=0)
    xb = torch.randn(nr + nq * (1 + n), 12, generator=torch.Generator().manual_seed(0))
    vals, idx, xh, pre = model.forward_codes(xb)
    with _ArangeDevices() as mode:
        out = batch_losses(model, cfg, xb, xh, (vals, idx), pre, nr, nq, 1.0)
    assert "lat" in out and torch.isfinite(out["lat"])
    assert mode.devices and all(d is not None and torch.device(d) == xb.device for d in mode.devices), mode.devices


def test_pool_without_anchors_trains_on_a_device():
    x = np.random.default_rng(1).standard_normal((120, 8)).astype(np.float32)
    data = TrainData(x=x, anchors=np.zeros(0, np.int64), neighbours=np.zeros((0, 3), np.int64))
    m, rec = train_sae(data, TrainConfig(n_latents=16, k=2, epochs=1, batch=30, warmup_steps=1), False, device="cpu")
    assert rec["steps"] == 4 and rec["pool"]["rows"] == 120
