"""Integrated Gradients for bi-encoders: quadrature, completeness, agreement with Captum, adaptive mode."""

from __future__ import annotations

import numpy as np
import pytest

from irlens.attribution import quadrature
from irlens.errors import IrlensError
from irlens.ig import BASELINES, BiEncoderIG

QUERY = "why do cats purr when they sleep"
DOC = "Cats purr. Purring cats are often asleep, and sleeping cats purr at a low frequency."


@pytest.fixture(scope="module")
def tiny64(tiny_st_model):
    import torch
    from sentence_transformers import SentenceTransformer

    m = SentenceTransformer(str(tiny_st_model), device="cpu")
    m.double().eval()
    # A fresh BERT has zero biases and LayerNorm shifts, which makes the encoder scale-invariant (the
    # zero baseline would then be a degenerate point); give them values as a trained model has.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("bias"):
                p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return m


@pytest.mark.parametrize(
    "method", ["gauss-legendre", "riemann-left", "riemann-right", "riemann-middle", "riemann-trapezoid"]
)
def test_quadrature_weights_sum_to_one(method):
    x, w = quadrature(method, 7)
    assert len(x) == len(w) == 7 and np.all((x >= 0) & (x <= 1))
    assert w.sum() == pytest.approx(1.0, abs=1e-14)


def test_gauss_legendre_exact_for_degree_2n_minus_1():
    x, w = quadrature("gauss-legendre", 4)
    for deg in range(8):  # ∫₀¹ α^deg dα = 1 / (deg + 1)
        assert (w * x**deg).sum() == pytest.approx(1.0 / (deg + 1), abs=1e-14)
    assert (w * x**8).sum() != pytest.approx(1.0 / 9, abs=1e-10)


def test_trapezoid_is_the_textbook_rule():
    x, w = quadrature("riemann-trapezoid", 3)
    assert x.tolist() == [0.0, 0.5, 1.0] and w.tolist() == [0.25, 0.5, 0.25]


def test_unknown_quadrature_is_one_clear_error():
    with pytest.raises(IrlensError, match="unknown quadrature 'simpson'"):
        quadrature("simpson", 8)


@pytest.mark.parametrize("side", ["query", "document"])
@pytest.mark.parametrize("baseline", BASELINES)
@pytest.mark.parametrize("score", ["dot", "cos"])
def test_completeness_float64_64_gauss_legendre(tiny64, side, baseline, score):
    a = BiEncoderIG(tiny64, score=score, baseline=baseline, steps=64).attribute_pair(QUERY, DOC, side=side)
    gap = a.score - a.baseline_score
    assert abs(gap) > 1e-3, "the baseline should move the score"
    assert abs(a.delta) < 1e-4 * max(1.0, abs(gap))
    assert a.rel_error < 1e-4
    assert len(a.scores) == len(a.tokens) == len(a.input_ids)


def test_scores_match_the_model(tiny64):
    """s(x) reported by IG equals the score of the untouched model."""
    import torch

    a = BiEncoderIG(tiny64, score="cos").attribute_pair(QUERY, DOC, side="document")
    q, d = tiny64.encode([QUERY, DOC], convert_to_tensor=True)
    assert a.score == pytest.approx(float(torch.nn.functional.cosine_similarity(q, d, dim=0)), abs=1e-12)


def test_pad_baseline_keeps_specials(tiny64):
    import torch

    ig = BiEncoderIG(tiny64, baseline="pad")
    a = ig.attribute_pair(QUERY, DOC, side="query")
    ids = torch.tensor(a.input_ids)
    b = ig._baseline_ids(ids, a.special).tolist()
    tok = tiny64.tokenizer
    assert b[0] == tok.cls_token_id and b[-1] == tok.sep_token_id
    assert set(b[1:-1]) == {tok.pad_token_id}


@pytest.mark.parametrize("side", ["query", "document"])
def test_agrees_with_captum_layer_integrated_gradients(tiny64, side):
    """Same layer (embedding output), baseline ([CLS] [PAD]… [SEP]), Gauss–Legendre nodes and step count."""
    import torch
    from captum.attr import LayerIntegratedGradients

    steps = 50
    a = BiEncoderIG(tiny64, score="dot", baseline="pad", steps=steps).attribute_pair(QUERY, DOC, side=side)
    text, other = (QUERY, DOC) if side == "query" else (DOC, QUERY)
    feats = tiny64.preprocess([text])
    with torch.no_grad():
        fixed = tiny64(tiny64.preprocess([other]))["sentence_embedding"][0]

    def forward(input_ids):
        n = input_ids.shape[0]
        f = {k: (v.expand(n, *v.shape[1:]) if torch.is_tensor(v) and k != "input_ids" else v) for k, v in feats.items()}
        f["input_ids"] = input_ids
        return (tiny64(f)["sentence_embedding"] * fixed).sum(-1)

    ids = feats["input_ids"]
    base = ids.clone()
    base[0, 1:-1] = tiny64.tokenizer.pad_token_id
    lig = LayerIntegratedGradients(forward, tiny64[0].auto_model.embeddings)
    attr, delta = lig.attribute(
        ids, baselines=base, n_steps=steps, method="gausslegendre", return_convergence_delta=True
    )
    ref = attr.sum(-1)[0].detach().numpy()
    assert np.max(np.abs(a.scores - ref)) < 1e-5 * np.max(np.abs(ref))
    assert a.delta == pytest.approx(float(delta), abs=1e-9)


def test_adaptive_meets_tolerance_and_matches_converged_result(tiny64):
    ref = BiEncoderIG(tiny64, score="cos", steps=256).attribute_pair(QUERY, DOC, side="document")
    a = BiEncoderIG(tiny64, score="cos", steps=4, tol=1e-3, max_steps=512).attribute_pair(QUERY, DOC, side="document")
    assert a.meta["converged"] and a.rel_error <= 1e-3
    assert a.steps <= 512
    assert np.max(np.abs(a.scores - ref.scores)) < 1e-2 * np.max(np.abs(ref.scores))


def test_batched_pairs_equal_one_at_a_time(tiny64):
    pairs = [(QUERY, DOC), ("dog barking", "Dogs bark at the mailman every single morning."), (QUERY, "Birds sing.")]
    ig = BiEncoderIG(tiny64, score="cos", steps=16, max_tokens=100)  # forces several chunks with padding
    together = ig.attribute(pairs, side="document")
    for (q, d), t in zip(pairs, together):
        alone = BiEncoderIG(tiny64, score="cos", steps=16).attribute_pair(q, d, side="document")
        np.testing.assert_allclose(t.scores, alone.scores, rtol=0, atol=1e-12)


def test_no_parameter_gradients_and_flags_restored(tiny64):
    flags = [p.requires_grad for p in tiny64.parameters()]
    BiEncoderIG(tiny64, steps=4).attribute_pair(QUERY, DOC)
    assert [p.requires_grad for p in tiny64.parameters()] == flags
    assert all(p.grad is None for p in tiny64.parameters())


def test_bad_input_is_one_clear_error(tiny64):
    with pytest.raises(IrlensError, match="empty text"):
        BiEncoderIG(tiny64).attribute_pair("   ", DOC)
    with pytest.raises(IrlensError, match="side 'title'"):
        BiEncoderIG(tiny64).attribute_pair(QUERY, DOC, side="title")
    with pytest.raises(IrlensError, match="baseline 'unk'"):
        BiEncoderIG(tiny64, baseline="unk")


def test_missing_pad_token_is_one_clear_error(tiny_st_model):
    from sentence_transformers import SentenceTransformer

    m = SentenceTransformer(str(tiny_st_model), device="cpu")
    m.tokenizer.pad_token = None
    with pytest.raises(IrlensError, match="no pad token"):
        BiEncoderIG(m, baseline="pad")
    BiEncoderIG(m, baseline="zero")  # the zero baseline needs no pad token


def test_centred_rule_integrates_exactly_and_warped_panels_converge(tiny64):
    from irlens.attribution.quadrature import centre_warp

    x, w = quadrature("gauss-legendre-centred", 24)
    for deg in range(4):
        assert (w * x**deg).sum() == pytest.approx(1.0 / (deg + 1), abs=1e-10)
    t = np.linspace(0, 1, 101)
    assert np.all(np.diff(centre_warp(t)) > 0) and centre_warp(0.0) == 0.0 and centre_warp(1.0) == 1.0
    a = BiEncoderIG(tiny64, score="cos", method="gauss-legendre-centred", steps=64).attribute_pair(QUERY, DOC)
    assert a.rel_error < 1e-4
    b = BiEncoderIG(tiny64, score="cos", steps=8, tol=1e-3, warp_panels=True).attribute_pair(QUERY, DOC)
    assert b.meta["converged"] and b.rel_error <= 1e-3


def test_unk_is_content_replaced_by_the_pad_baseline_and_merged_as_a_word(tiny64):
    """'☃' is not in the WordPiece vocabulary: 'snow☃man' becomes one [UNK] covering the word. It is a word of
    the input, so the pad baseline replaces it and word merging keeps it with its attribution."""
    import torch

    from irlens.ig.words import merge_words

    doc = "cats like snow☃man toys"
    ig = BiEncoderIG(tiny64, baseline="pad", steps=64)
    a = ig.attribute_pair(QUERY, doc, side="document")
    tok = tiny64.tokenizer
    unk = a.tokens.index(tok.unk_token)
    assert not a.special[unk] and a.special[0] and a.special[-1]
    b = ig._baseline_ids(torch.tensor(a.input_ids), a.special).tolist()
    assert b[0] == tok.cls_token_id and b[-1] == tok.sep_token_id and set(b[1:-1]) == {tok.pad_token_id}
    assert a.rel_error < 1e-4
    rows = merge_words(a)
    assert [r["word"] for r in rows] == ["cats", "like", "snow☃man", "toys"]
    assert rows[2]["score"] == a.scores[unk] and rows[2]["norm"] == "snow☃man"
    assert sum(r["score"] for r in rows) == pytest.approx(a.scores[1:-1].sum(), abs=1e-12)


def _one_doc_rankings(model, title, text):
    from irlens.data.beir import BeirDataset
    from irlens.ig.ranking import attribute_rankings

    corpus = {"d": {"title": title, "text": text}}
    ds = BeirDataset(corpus=corpus, queries={"q": QUERY}, qrels={"test": {"q": {"d": 1}}})
    ig = BiEncoderIG(model, score="cos", steps=8)
    labels = {"model": "m", "dataset": "d"}
    tables = attribute_rankings(ig, ds, {"q": {"d": 1.0}}, ["q"], 1, ("document",), labels=labels, progress=False)
    return tables["words"]


def test_title_with_leading_blanks_flags_only_the_title_words(tiny64):
    from irlens.ig.words import title_chars

    assert title_chars("  Cats ") == 4 and title_chars("   ") == 0 and title_chars(None) == 0
    w = _one_doc_rankings(tiny64, "  Cats", "purr loudly at night")
    assert w.loc[w["in_title"], "norm"].tolist() == ["cats"]


def test_word_cut_by_truncation_is_flagged_and_never_a_domain_term(tiny64):
    """max_seq_length 64: [CLS] + 61 × 'cats' + 'methyl' of 'methylation' (methyl ##ation) + [SEP]."""
    from irlens.ig.analysis import domain_share

    assert tiny64.max_seq_length == 64 and tiny64.tokenizer.tokenize("methylation") == ["methyl", "##ation"]
    w = _one_doc_rankings(tiny64, "", "cats " * 61 + "methylation of the cats")
    last = w.iloc[-1]
    assert (last["word"], last["norm"], bool(last["truncated"])) == ("methyl", "methyl", True)
    assert not w["truncated"].iloc[:-1].any()
    share = domain_share(w, {"methyl"})
    assert share["domain_word_share"].iloc[0] == 0 and share["domain_positive_share"].iloc[0] == 0
    whole = _one_doc_rankings(tiny64, "", "cats " * 60 + "methylation")  # fits: not truncated
    assert whole.iloc[-1]["norm"] == "methylation" and not whole["truncated"].any()


@pytest.mark.parametrize("score", ["dot", "cos"])
def test_ranking_level_query_ig_is_one_ig_of_the_summed_documents(tiny64, score):
    # the query side is linear in the fixed document vector: Σ_d IG(q; d) = one IG (float64, fixed rule)
    docs = [DOC, "Sleeping cats often purr.", "Dogs bark at night and wake the neighbours.", "Purring is a sound."]
    ig = BiEncoderIG(tiny64, score=score, steps=16)
    per_pair = ig.attribute([(QUERY, d) for d in docs], side="query")
    total = ig.attribute_query_ranking(QUERY, docs)
    want = np.sum([a.scores for a in per_pair], axis=0)
    assert np.max(np.abs(total.scores - want)) <= 1e-8 * np.max(np.abs(want))
    assert total.score == pytest.approx(sum(a.score for a in per_pair), rel=1e-10)
    assert total.baseline_score == pytest.approx(sum(a.baseline_score for a in per_pair), rel=1e-10)
    assert total.tokens == per_pair[0].tokens and total.meta["documents"] == 4
    with pytest.raises(IrlensError, match="at least one document"):
        ig.attribute_query_ranking(QUERY, [])


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_gauss_lobatto_has_its_ends_as_nodes_and_degree_2n_minus_3(n):
    x, w = quadrature("gauss-lobatto", n)
    assert x[0] == 0.0 and x[-1] == 1.0 and np.all(np.diff(x) > 0)
    for deg in range(2 * n - 2):  # exact up to degree 2n − 3 ...
        assert (w * x**deg).sum() == pytest.approx(1.0 / (deg + 1), abs=1e-13)
    assert abs((w * x ** (2 * n - 2)).sum() - 1.0 / (2 * n - 1)) > 1e-6  # ... and not beyond
    # n = 3 is Simpson's rule
    if n == 3:
        np.testing.assert_allclose(w, [1 / 6, 4 / 6, 1 / 6], atol=1e-15)


def _encoder_rows(model):
    """Count the sequences that go through the first encoder layer (every forward of the full model)."""
    rows = []
    layer = model[0].auto_model.encoder.layer[0]
    handle = layer.register_forward_hook(lambda mod, inp, out: rows.append(inp[0].shape[0]))
    return rows, handle


def test_adaptive_lobatto_costs_one_gradient_pass_per_point_and_no_extra_forwards(tiny64):
    """The adaptive rule's panel ends are its own gradient points: besides the one 2-row forward for s(x) and
    s(x′), the encoder sees exactly one row per reported step (a panel-edge forward of the old Gauss–Legendre
    panels would add rows). With 3-point panels no point is ever thrown away, so steps = 9 + 2k."""
    pairs = [(QUERY, DOC), ("dog barking", "Dogs bark at the mailman every single morning.")]
    ig = BiEncoderIG(tiny64, score="cos", steps=9, tol=1e-6, max_steps=512)
    rows, handle = _encoder_rows(tiny64)
    try:
        out = ig.attribute(pairs, side="document")
    finally:
        handle.remove()
    steps = [a.steps for a in out]
    assert all(a.meta["converged"] and a.rel_error <= 1e-6 for a in out)
    assert all(s > 9 and (s - 9) % 2 == 0 for s in steps), steps  # 1e-6 needs refinement; odd counts only
    fixed_side = 2  # each pair's query is encoded once (fixed vector)
    assert sum(rows) == sum(steps) + 2 * len(pairs) + fixed_side
    assert out[0].method == "gauss-lobatto-3-adaptive"


def test_adaptive_stops_on_the_completeness_error_itself(tiny64):
    """At a loose tol the first 9 points can already be complete enough: then nothing is refined, and the
    reported rel_error (Σ scores vs s(x) − s(x′)) is what the stopping rule saw."""
    for tol in (0.5, 1e-2, 1e-4):
        a = BiEncoderIG(tiny64, score="cos", steps=9, tol=tol).attribute_pair(QUERY, DOC)
        assert a.meta["converged"] and a.rel_error <= tol
    loose = BiEncoderIG(tiny64, score="cos", steps=9, tol=0.5).attribute_pair(QUERY, DOC)
    assert loose.steps == 9


def test_adaptive_max_steps_flags_the_pair_not_converged(tiny64):
    a = BiEncoderIG(tiny64, score="cos", steps=3, tol=1e-12, max_steps=11).attribute_pair(QUERY, DOC)
    assert a.steps <= 11 and not a.meta["converged"]


def test_adaptive_batched_pairs_equal_one_at_a_time(tiny64):
    pairs = [(QUERY, DOC), ("dog barking", "Dogs bark at the mailman every single morning."), (QUERY, "Birds sing.")]
    ig = BiEncoderIG(tiny64, score="cos", steps=9, tol=1e-4, max_tokens=100)  # several chunks, mixed rounds
    together = ig.attribute(pairs, side="document")
    for (q, d), t in zip(pairs, together):
        alone = BiEncoderIG(tiny64, score="cos", steps=9, tol=1e-4).attribute_pair(q, d, side="document")
        assert t.steps == alone.steps
        np.testing.assert_allclose(t.scores, alone.scores, rtol=0, atol=1e-12)


def test_bf16_passes_fall_back_to_fp32_for_pairs_that_miss_tol(tiny_st_model):
    from sentence_transformers import SentenceTransformer

    m = SentenceTransformer(str(tiny_st_model), device="cpu").eval()  # float32: autocast applies
    pairs = [(QUERY, DOC), ("dog barking", "Dogs bark at the mailman every single morning.")]
    loose = BiEncoderIG(m, score="cos", steps=9, tol=0.5, precision="bf16").attribute(pairs)
    assert [a.meta["precision"] for a in loose] == ["bf16", "bf16"]
    assert all(a.rel_error <= 0.5 for a in loose)
    kw = dict(score="cos", steps=9, tol=1e-5, stop="completeness")  # fp32 reaches 1e-5 on this stop, bf16 not
    tight = BiEncoderIG(m, precision="bf16", **kw).attribute(pairs)
    ref = BiEncoderIG(m, **kw).attribute(pairs)
    for t, r in zip(tight, ref):  # bf16 cannot reach 1e-5: redone in fp32, the fp32 result
        assert t.meta["precision"] == "fp32" and t.meta["converged"] and t.rel_error <= 1e-5
        np.testing.assert_allclose(t.scores, r.scores, rtol=0, atol=1e-6)
        assert t.steps > r.steps  # the bf16 attempt's passes are counted too
    with pytest.raises(IrlensError, match="precision 'fp16'"):
        BiEncoderIG(m, precision="fp16")


def test_stop_on_panels_bounds_every_panel_and_costs_at_least_as_much(tiny64):
    """``stop="panels"`` stops on Σ|panel errors| ≤ tol·|Δs|, a bound on the completeness error: never fewer
    points than stopping on the completeness error itself, and still complete."""
    pairs = [(QUERY, DOC), ("dog barking", "Dogs bark at the mailman every single morning.")]
    for tol in (1e-2, 1e-4):
        loose = BiEncoderIG(tiny64, score="cos", steps=9, tol=tol).attribute(pairs)
        strict = BiEncoderIG(tiny64, score="cos", steps=9, tol=tol, stop="panels").attribute(pairs)
        for a, b in zip(loose, strict):
            assert b.meta["converged"] and b.rel_error <= tol and b.steps >= a.steps
    with pytest.raises(IrlensError, match="stop 'bound'"):
        BiEncoderIG(tiny64, stop="bound")
