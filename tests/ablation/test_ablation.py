"""Neuron masks (zero exactly the named units, restore exactly), random baselines, the t-test wrapper."""

from __future__ import annotations

import numpy as np
import pytest

from irlens.ablation import NeuronMask, apply_mask, apply_masks, paired_ttest, random_like
from irlens.errors import IrlensError


@pytest.fixture(scope="module")
def model():
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        num_labels=2,
    )
    m = BertForSequenceClassification(cfg).eval()
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return m


@pytest.fixture(scope="module")
def inputs():
    import torch

    g = torch.Generator().manual_seed(0)
    return {
        "input_ids": torch.randint(5, 100, (3, 12), generator=g),
        "attention_mask": torch.ones(3, 12, dtype=torch.long),
    }


def _capture(model, names, inputs):
    import torch

    got, hs = {}, []
    for n in names:
        hs.append(
            model.get_submodule(n).register_forward_hook(
                lambda _m, _i, o, _n=n: got.__setitem__(_n, o.detach().clone())
            )
        )
    with torch.no_grad():
        logits = model(**inputs).logits
    for h in hs:
        h.remove()
    return got, logits


def test_mask_zeroes_exactly_the_named_units(model, inputs):
    inter, key = "bert.encoder.layer.1.intermediate.dense", "bert.encoder.layer.0.attention.self.key"
    mask = NeuronMask({inter: [3, 7, 60], key: [0]}, "toy")
    before, logits0 = _capture(model, [inter, key], inputs)
    with apply_mask(model, mask):
        # capture hooks registered after the mask see its output; compare units one by one
        after, logits1 = _capture(model, [inter, key], inputs)
    for name, units in mask.units.items():
        assert (after[name][..., units] == 0).all()
        keep = [u for u in range(after[name].shape[-1]) if u not in units]
        if name == key:  # first masked module: everything else is untouched (upstream of any change)
            assert torch_equal(after[name][..., keep], before[name][..., keep])
    assert not torch_equal(logits0, logits1)
    # restoring gives bit-identical outputs
    _, logits2 = _capture(model, [inter], inputs)
    assert torch_equal(logits0, logits2)
    assert not model.get_submodule(inter)._forward_hooks


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_mask_json_round_trip_and_from_neurons(tmp_path):
    import pandas as pd

    rows = pd.DataFrame({"module": ["a.b", "a.b", "c"], "unit": [5, 2, 0]})
    m = NeuronMask.from_neurons(rows, "P_x@1%")
    assert m.units == {"a.b": [2, 5], "c": [0]} and m.size == 3 and m.counts() == {"a.b": 2, "c": 1}
    m.to_json(tmp_path / "m.json")
    back = NeuronMask.from_json(tmp_path / "m.json")
    assert back.units == m.units and back.name == "P_x@1%"
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(IrlensError, match="not a neuron mask"):
        NeuronMask.from_json(tmp_path / "bad.json")


def test_bad_masks_are_one_line_errors(model, inputs):
    with pytest.raises(IrlensError, match="module 'bert.nope' is not in the model"):
        with apply_mask(model, NeuronMask({"bert.nope": [1]}, "x")):
            pass
    with pytest.raises(IrlensError, match="unit 64 of 'bert.encoder.layer.0.intermediate.dense' is outside 0..63"):
        with apply_mask(model, NeuronMask({"bert.encoder.layer.0.intermediate.dense": [64]}, "x")):
            pass


def test_random_masks_match_per_module_counts():
    mask = NeuronMask({"l0.q": [1, 2, 3], "l1.ffn": [10]}, "s")
    widths = {"l0.q": 32, "l1.ffn": 64}
    rng = np.random.default_rng(0)
    draws = [random_like(mask, widths, rng) for _ in range(50)]
    assert all(d.counts() == mask.counts() for d in draws)
    assert all(0 <= u < widths[m] for d in draws for m, us in d.units.items() for u in us)
    assert len({tuple(d.units["l0.q"]) for d in draws}) > 40  # drawn anew each repeat
    again = [random_like(mask, widths, np.random.default_rng(0)) for _ in range(1)]
    assert again[0].units == draws[0].units  # seeded
    with pytest.raises(IrlensError, match="no known width"):
        random_like(mask, {"l0.q": 32}, rng)


def test_paired_ttest_by_hand():
    a = np.array([0.5, 0.6, 0.7, 0.8])
    b = np.array([0.4, 0.6, 0.5, 0.7])
    # d = b - a = [-0.1, 0, -0.2, -0.1]; mean -0.1; sd (ddof 1) = sqrt(0.02/3); t = mean / (sd / 2)
    sd = np.sqrt(((np.array([-0.1, 0, -0.2, -0.1]) + 0.1) ** 2).sum() / 3)
    t = -0.1 / (sd / 2)
    r = paired_ttest(a, b)
    assert r["t"] == pytest.approx(t, rel=1e-12)
    assert r["n"] == 4 and r["pct_diff"] == pytest.approx((0.55 - 0.65) / 0.65 * 100)
    from scipy import stats

    assert r["p"] == pytest.approx(2 * stats.t.sf(abs(t), df=3), rel=1e-10)
    same = paired_ttest(a, a)
    assert same["t"] == 0.0 and same["p"] == 1.0
    with pytest.raises(IrlensError, match="equally long"):
        paired_ttest(a, b[:3])


def test_per_example_masks_equal_masks_one_by_one(model, inputs):
    import torch

    inter, key = "bert.encoder.layer.1.intermediate.dense", "bert.encoder.layer.0.attention.self.key"
    masks = [NeuronMask({inter: [3, 7]}, "a"), NeuronMask({}, "none"), NeuronMask({inter: [1], key: [0, 5, 9]}, "b")]
    with torch.no_grad():
        alone = []
        for m in masks:
            with apply_mask(model, m):
                alone.append(model(**inputs).logits)
        rep = {k: v.repeat(len(masks), 1) for k, v in inputs.items()}
        with apply_masks(model, masks, rows_per_mask=3):
            together = model(**rep).logits
    assert torch.allclose(together, torch.cat(alone), atol=1e-6, rtol=0)
    assert not torch.allclose(alone[0], alone[1])
    with pytest.raises(IrlensError, match="expected 3 x 3 masks"):
        with apply_masks(model, masks, rows_per_mask=3), torch.no_grad():
            model(**inputs)
