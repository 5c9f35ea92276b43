"""Neuron Integrated Gradients on tiny random cross-encoders: completeness on layer cuts, agreement with
Captum LayerConductance, order of convergence of the Stieltjes rules, chunking invariance, a planted neuron."""

from __future__ import annotations

import numpy as np
import pytest

from irlens.attribution.neurons import COMPONENTS, neuron_layout, neuron_table
from irlens.errors import IrlensError
from irlens.nig.attribute import BASELINES, CrossEncoderNIG, baseline_effect

QUERIES = ["why do cats purr", "what is scurvy caused by"]
DOCS = [
    "Cats purr when they sleep and when they are happy.",
    "Scurvy is a disease of sailors caused by a lack of vitamin C.",
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    from irlens.models import resolve_model

    src = resolve_model("sentence-transformers/all-MiniLM-L6-v2", allow_hub=False).path
    return AutoTokenizer.from_pretrained(src)


def _randomise(model, seed=1, classifier_gain=20.0):
    """Fresh BERTs have zero biases and a near-silent head; give them values like a trained model has."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
        head = model.classifier if hasattr(model, "classifier") else None
        if head is not None and hasattr(head, "weight"):
            head.weight.mul_(classifier_gain)
    return model


def _bert(num_labels=2, seed=0):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=num_labels,
    )
    return _randomise(BertForSequenceClassification(cfg).double().eval())


@pytest.fixture(scope="module")
def bert2():
    return _bert(2)


@pytest.fixture(scope="module")
def feats(tokenizer):
    return tokenizer(QUERIES, DOCS, padding=True, return_tensors="pt")


def test_layout_covers_every_linear_of_the_paper(bert2):
    layout = neuron_layout(bert2)
    assert [n.component for n in layout[:6]] == list(COMPONENTS)
    assert layout[-1].module == "bert.encoder.layer.1.output.dense"
    # per layer: q, k, v, attention output (hidden each), intermediate, output
    assert sum(n.units for n in layout) == 2 * (4 * 32 + 64 + 32)
    t = neuron_table(layout)
    assert len(t) == 448 and t.loc[128, "component"] == "intermediate" and t.loc[128, "unit"] == 0


@pytest.mark.parametrize("num_labels", [2, 1])
@pytest.mark.parametrize("baseline", BASELINES)
def test_layer_cut_completeness_float64(tokenizer, feats, num_labels, baseline):
    model = _bert(num_labels)
    r = CrossEncoderNIG(model, tokenizer, baseline=baseline, steps=64, rule="trapezoid").attribute(feats, [1, 0])
    gap = np.abs(r.f_input - r.f_baseline)
    assert np.all(gap > 1e-8), "baseline must move the score for the check to mean anything"
    assert r.rel_error.max() < 1e-4
    # F(x) is the target label's probability at the input
    direct = CrossEncoderNIG(model, tokenizer).scores(feats, [1, 0])
    np.testing.assert_allclose(r.f_input, direct, rtol=1e-12)


def test_orders_of_convergence(tokenizer, feats, bert2):
    err = {}
    for rule in ("left", "trapezoid", "richardson"):
        err[rule] = [
            CrossEncoderNIG(bert2, tokenizer, steps=n, rule=rule).attribute(feats, [1, 1]).rel_error.max()
            for n in (8, 16, 32)
        ]
    ratio = {k: (v[0] / v[1], v[1] / v[2]) for k, v in err.items()}
    assert all(1.7 < x < 2.3 for x in ratio["left"]), ratio  # first order: error halves
    assert all(3.4 < x < 4.6 for x in ratio["trapezoid"]), ratio  # second order: quarter
    assert all(x > 10 for x in ratio["richardson"]), ratio  # fourth order
    assert err["richardson"][1] < err["trapezoid"][2] < err["left"][2]


@pytest.mark.parametrize(
    "module", ["bert.encoder.layer.1.intermediate.dense", "bert.encoder.layer.0.attention.self.key"]
)
def test_single_linear_equals_captum_layer_conductance(tokenizer, feats, bert2, module):
    import torch
    from captum.attr import LayerConductance

    from irlens.nig.attribute import baseline_embeddings

    n_steps = 20
    nig = CrossEncoderNIG(bert2, tokenizer, steps=n_steps, rule="left", baseline="pad-all")
    ours = nig.attribute(feats, [1, 1])
    lay = next(n for n in nig.layout if n.module == module)
    mine = ours.values[:, lay.offset : lay.offset + lay.units]

    ids, tt, am = feats["input_ids"], feats["token_type_ids"], feats["attention_mask"]
    emb = bert2.get_input_embeddings()
    with torch.no_grad():
        x = emb(ids)
        xb = baseline_embeddings("pad-all", ids, x, emb, tokenizer.pad_token_id, tokenizer.sep_token_id)

    def forward(e, tt, am):
        return torch.softmax(bert2(inputs_embeds=e, token_type_ids=tt, attention_mask=am).logits, -1)[:, 1]

    lc = LayerConductance(forward, bert2.get_submodule(module))
    cap = lc.attribute(x, baselines=xb, additional_forward_args=(tt, am), n_steps=n_steps, method="riemann_trapezoid")
    cap = (cap * am[..., None]).sum(1).detach().numpy()  # summed over non-padding tokens
    scale = np.abs(cap).max()
    assert np.abs(mine - cap).max() < 1e-5 * scale
    # and the second-order rule differs from Captum's first-order one by much more than that
    trap = (
        CrossEncoderNIG(bert2, tokenizer, steps=n_steps, rule="trapezoid")
        .attribute(feats, [1, 1])
        .values[:, lay.offset : lay.offset + lay.units]
    )
    assert np.abs(trap - cap).max() > 1e-3 * scale


def test_chunking_and_batching_do_not_change_results(tokenizer, feats, bert2):
    whole = CrossEncoderNIG(bert2, tokenizer, steps=16, rule="richardson", max_tokens=1 << 20).attribute(feats, [1, 0])
    tiny = CrossEncoderNIG(bert2, tokenizer, steps=16, rule="richardson", max_tokens=1).attribute(
        feats, [1, 0]
    )  # one point per chunk
    np.testing.assert_allclose(tiny.values, whole.values, rtol=0, atol=1e-12)
    for b in range(2):  # each pair alone (no padding) equals its row in the padded batch
        one = tokenizer([QUERIES[b]], [DOCS[b]], return_tensors="pt")
        alone = CrossEncoderNIG(bert2, tokenizer, steps=16, rule="richardson").attribute(one, [[1, 0][b]])
        np.testing.assert_allclose(alone.values[0], whole.values[b], rtol=0, atol=1e-10)
        assert alone.cut_sum[0] == pytest.approx(whole.cut_sum[b], abs=1e-10)


def test_parameters_untouched(tokenizer, feats, bert2):
    flags = [p.requires_grad for p in bert2.parameters()]
    CrossEncoderNIG(bert2, tokenizer, steps=4).attribute(feats, [1, 0])
    assert [p.requires_grad for p in bert2.parameters()] == flags
    assert all(p.grad is None for p in bert2.parameters())
    assert not bert2._forward_hooks and not bert2.get_input_embeddings()._forward_hooks


def test_planted_neuron_carries_the_score(tokenizer, feats):
    """Last layer: the FFN output is c·g_j·v + B·u (one intermediate unit j feeds it, plus a large constant
    bias; c = B = 5000), both much larger than the residual stream, so F depends on the input (almost) only through unit
    j. Its conductance must carry (almost) all of F(x) − F(x′); every other FFN unit of that layer gets 0,
    and a dead unit (zero weights and bias) gets exactly 0."""
    import torch

    model = _bert(2, seed=3)
    j, dead, H = 5, 9, 32
    layer = model.bert.encoder.layer[1]
    g = torch.Generator().manual_seed(7)
    v = torch.randn(H, generator=g, dtype=torch.float64)
    u = torch.randn(H, generator=g, dtype=torch.float64)
    v, u = v - v.mean(), u - u.mean()
    u = u - (u @ v) / (v @ v) * v
    v, u = v / v.norm(), u / u.norm()
    with torch.no_grad():
        layer.output.dense.weight.zero_()
        layer.output.dense.weight[:, j] = 5000.0 * v
        layer.output.dense.bias.copy_(5000.0 * u)
        layer.intermediate.dense.weight[j] *= 5.0
        layer.intermediate.dense.weight[dead].zero_()
        layer.intermediate.dense.bias[dead] = 0.0
        model.classifier.weight.mul_(5.0)
    nig = CrossEncoderNIG(model, tokenizer, steps=64, rule="richardson")
    r = nig.attribute(feats, [1, 1])
    inter = next(n for n in nig.layout if n.module == "bert.encoder.layer.1.intermediate.dense")
    vals = r.values[:, inter.offset : inter.offset + inter.units]
    gap = r.f_input - r.f_baseline
    assert np.all(np.abs(gap) > 1e-2)
    share = vals[:, j] / gap
    assert np.all(share > 0.97) and np.all(share < 1.03), share
    others = np.delete(vals, j, axis=1)
    assert np.abs(others).max() == 0.0  # no path from them to F
    assert np.all(vals[:, dead] == 0.0)
    assert r.rel_error.max() < 1e-4


def test_distilbert_layout_and_completeness(tokenizer, feats):
    import torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    torch.manual_seed(0)
    cfg = DistilBertConfig(
        vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128, num_labels=2
    )
    model = _randomise(DistilBertForSequenceClassification(cfg).double().eval())
    with torch.no_grad():  # keep the head's ReLU in its linear region: its kinks would make the path non-smooth
        model.pre_classifier.bias.add_(10.0)
    f = {k: v for k, v in feats.items() if k != "token_type_ids"}
    nig = CrossEncoderNIG(model, tokenizer, steps=32, rule="richardson")
    assert nig.layout[0].module == "distilbert.transformer.layer.0.attention.q_lin"
    r = nig.attribute(f, [1, 0])
    assert r.rel_error.max() < 1e-4


def test_baseline_effect_table_values(tokenizer, feats, bert2):
    nig = CrossEncoderNIG(bert2, tokenizer)
    eff = baseline_effect(nig, feats)
    assert set(eff) == {"original", *BASELINES}
    p = nig.scores(feats, [1, 1])
    np.testing.assert_allclose(eff["original"], p - (1 - p), rtol=1e-12)


def test_bad_arguments_are_one_line_errors(tokenizer, bert2, feats):
    with pytest.raises(IrlensError, match="baseline 'mask'"):
        CrossEncoderNIG(bert2, tokenizer, baseline="mask")
    with pytest.raises(IrlensError, match="even number"):
        CrossEncoderNIG(bert2, tokenizer, steps=7, rule="richardson")
    with pytest.raises(IrlensError, match="2 pairs but 3 targets"):
        CrossEncoderNIG(bert2, tokenizer, steps=2).attribute(feats, [1, 0, 1])
