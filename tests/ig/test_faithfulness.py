"""IG faithfulness (irlens.ig.faithfulness): deletion/insertion curves reach their ends exactly, random orders
are seeded, and on a model where one planted word carries the whole score IG's deletion curve drops at the
first step while random orders' do not; attention rollout and its pooling readout checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from irlens.errors import IrlensError
from irlens.ig import BiEncoderIG
from irlens.ig.faithfulness import (
    aopc,
    attention_at_input,
    attention_rollout,
    attention_rollout_readout,
    faithfulness_curves,
    random_orders,
    rollout_readout,
    word_order,
)
from irlens.ig.words import merge_words

QUERY = "why do cats purr when they sleep"
DOC = "Cats purr. Purring cats are often asleep, and sleeping cats purr at a low frequency."


@pytest.fixture(scope="module")
def tiny64(tiny_st_model):
    import torch
    from sentence_transformers import SentenceTransformer

    m = SentenceTransformer(str(tiny_st_model), device="cpu")
    m.double().eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-zero biases, as in a trained model (see tests/ig/test_ig.py)
        for name, p in m.named_parameters():
            if name.endswith("bias"):
                p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return m


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A BERT with no encoder layer, mean pooling and dot score, whose score is carried by the word 'zebra'
    alone: token vectors are LayerNorm(word embedding) (position/type embeddings 0), [CLS]/[SEP]/[PAD] embed to
    0, 'zebra' to a zero-mean u and every other token to a vector orthogonal to u. For the query 'zebra'
    (embedding u/3) a document's score is |u|²/(3L) if it contains 'zebra' once, and nothing else moves it."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel

    from conftest import copy_minilm_tokenizer

    hf_dir = copy_minilm_tokenizer(tmp_path_factory.mktemp("planted-hf"))
    cfg = BertConfig(
        vocab_size=30522, hidden_size=16, num_hidden_layers=0, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=64,
    )  # fmt: skip
    bert = BertModel(cfg)
    H = cfg.hidden_size
    u = torch.zeros(H, dtype=torch.float64)
    u[0], u[1] = 1.0, -1.0  # zero mean: LayerNorm keeps its direction
    g = torch.Generator().manual_seed(0)
    w = torch.randn(cfg.vocab_size, H, generator=g, dtype=torch.float64)
    w -= (w @ u)[:, None] * u[None] / (u @ u)  # every token orthogonal to u
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(hf_dir))
    zebra = tok.convert_tokens_to_ids("zebra")
    w[zebra] = 5 * u
    for t in (tok.cls_token_id, tok.sep_token_id, tok.pad_token_id):
        w[t] = 0
    with torch.no_grad():
        bert.embeddings.word_embeddings.weight.copy_(w.float())
        bert.embeddings.position_embeddings.weight.zero_()
        bert.embeddings.token_type_embeddings.weight.zero_()
        bert.embeddings.LayerNorm.weight.fill_(1.0)
        bert.embeddings.LayerNorm.bias.zero_()
    bert.save_pretrained(hf_dir)
    word = Transformer(str(hf_dir), max_seq_length=64)
    st = SentenceTransformer(modules=[word, Pooling(H, pooling_mode="mean")], device="cpu")
    st.double().eval()
    return st


def _pair(ig, query, doc, side="document", candidates=None):
    a = ig.attribute_pair(query, doc, side=side)
    return {
        "query": query,
        "document": doc,
        "word_scores": np.array([w["score"] for w in merge_words(a)]),
        "candidates": candidates,
    }


@pytest.mark.parametrize("baseline", ["pad", "pad-all", "zero"])
@pytest.mark.parametrize("side", ["document", "query"])
def test_deleting_every_word_reaches_the_baseline_and_inserting_every_word_the_input(tiny64, side, baseline):
    ig = BiEncoderIG(tiny64, score="cos", baseline=baseline, steps=16)
    curves, summary = faithfulness_curves(ig, [_pair(ig, QUERY, DOC, side)], side=side, repeats=2, seed=3)
    s, s0 = summary["s"].iloc[0], summary["s0"].iloc[0]
    assert abs(s - s0) > 1e-4
    for (order, mode, rep), c in curves.groupby(["order", "mode", "repeat"]):
        first, last = c.sort_values("step")["score"].iloc[[0, -1]]
        start, end = (s, s0) if mode == "deletion" else (s0, s)
        assert first == pytest.approx(start, abs=1e-9), (order, mode, rep)
        assert last == pytest.approx(end, abs=1e-9), (order, mode, rep)
    assert set(curves["order"]) == {"ig", "grad_input", "attention", "random"} and set(curves["repeat"]) == {0, 1}
    assert set(curves.loc[curves["order"] == "attention", "repeat"]) == {0}
    assert set(summary["order"]) == {"ig", "grad_input", "attention", "random"}
    # normalised scores: 1 at x, 0 at x′
    assert curves["norm"].iloc[0] == pytest.approx(1.0)


def test_random_orders_are_seeded_and_reproducible(tiny64):
    assert [list(p) for p in random_orders(7, 3, 11)] == [list(p) for p in random_orders(7, 3, 11)]
    assert [list(p) for p in random_orders(7, 3, 11)] != [list(p) for p in random_orders(7, 3, 12)]
    ig = BiEncoderIG(tiny64, score="cos", steps=16)
    p = _pair(ig, QUERY, DOC)
    a, _ = faithfulness_curves(ig, [p], orders=("random",), repeats=3, seed=5)
    b, _ = faithfulness_curves(ig, [p], orders=("random",), repeats=3, seed=5)
    c, _ = faithfulness_curves(ig, [p], orders=("random",), repeats=3, seed=6)
    assert np.array_equal(a["score"].to_numpy(), b["score"].to_numpy())
    assert not np.array_equal(a["score"].to_numpy(), c["score"].to_numpy())


def test_ig_deletion_drops_at_the_first_step_on_a_planted_word_and_random_does_not(planted):
    ig = BiEncoderIG(planted, score="dot", steps=32)
    doc = "the striped zebra grazed near a river while birds sang over the quiet green valley at dawn today"
    # a longer document with 'zebra' once scores lower (mean pooling over more tokens): doc ranks first
    longer = doc + " and then the whole herd walked slowly along the muddy bank towards the old wooden bridge"
    p = _pair(ig, "zebra", doc, candidates=[longer, doc])
    ws = p["word_scores"]
    words = [w["word"] for w in merge_words(ig.attribute_pair("zebra", doc))]
    assert words[int(np.argmax(ws))] == "zebra" and np.allclose(np.delete(ws, words.index("zebra")), 0, atol=1e-6)
    curves, summary = faithfulness_curves(ig, [p], repeats=10, seed=0)
    first = curves[curves["step"] == 1].groupby(["order", "mode"])["norm"].mean()
    # IG removes 'zebra' first: the score falls to s(x′) at once; random orders remove it at step 1 in a
    # minority of repeats only (2 of 18 words per step)
    assert first[("ig", "deletion")] == pytest.approx(0.0, abs=1e-6)
    assert first[("random", "deletion")] > 0.5
    assert first[("ig", "insertion")] == pytest.approx(1.0, abs=1e-6)  # restoring 'zebra' restores the score
    # no encoder layer: the rollout is the identity, every piece weighs 1/L and the attention order is the text
    # order (multi-piece words first); 'zebra', the third word, is not among the first 2 of 18: nothing moves
    assert first[("attention", "deletion")] == pytest.approx(1.0, abs=1e-9)
    assert first[("attention", "insertion")] == pytest.approx(0.0, abs=1e-9)
    auc = summary.set_index(["order", "mode"])["aopc"]
    assert auc[("ig", "deletion")] > auc[("random", "deletion")] + 0.3
    assert auc[("ig", "insertion")] > auc[("random", "insertion")] + 0.3
    # ranks among the 2 candidates: first at x; second once IG's first step has removed 'zebra'
    s = summary.set_index(["order", "mode"])
    assert s.loc[("ig", "deletion"), "rank"] == 1.0
    assert s.loc[("ig", "deletion"), "rank_first_step"] == 2.0
    assert s.loc[("random", "deletion"), "rank_first_step"] < 1.5


def test_aopc_by_hand():
    # deletion: area of 1 - norm = [0, 0.5, 1] over fractions 0, 0.5, 1: (0 + 0.5) / 4 + (0.5 + 1) / 4 = 0.5
    assert aopc(np.array([1.0, 0.5, 0.0]), "deletion") == pytest.approx(0.5)
    # insertion: area of [0, 0.25, 1]: (0 + 0.25) / 4 + (0.25 + 1) / 4 = 0.375
    assert aopc(np.array([0.0, 0.25, 1.0]), "insertion") == pytest.approx(0.375)
    # uneven steps weigh by width: [0, 1, 1] at 0, 0.1, 1 -> 0.1 * 0.5 + 0.9 * 1 = 0.95
    assert aopc(np.array([0.0, 1.0, 1.0]), "insertion", [0.0, 0.1, 1.0]) == pytest.approx(0.95)
    assert list(word_order([0.1, 3.0, -1.0, 3.0])) == [1, 3, 0, 2]  # ties by position


def test_attention_rollout_by_hand():
    # layer 1, two heads: mean [[1, 0], [.5, .5]]; + I = [[2, 0], [.5, 1.5]]; rows / 2 -> [[1, 0], [.25, .75]]
    # layer 2, two equal heads [[0, 1], [0, 1]]; + I = [[1, 1], [0, 2]]; rows / 2 -> [[.5, .5], [0, 1]]
    # R = Ã2 Ã1 = [[.5 + .125, .375], [.25, .75]]
    att = np.array(
        [
            [[[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]],
            [[[0.0, 1.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]],
        ]
    )
    R = attention_rollout(att)
    assert np.allclose(R, [[0.625, 0.375], [0.25, 0.75]], atol=1e-12)
    # (not Ã1 Ã2 = [[.5, .5], [.125, .875]], nor without the identity: [[.5, .5], [.5, .5]])
    assert np.allclose(attention_rollout(att[:1]), [[1.0, 0.0], [0.25, 0.75]])
    assert np.allclose(attention_rollout(np.zeros((0, 1, 3, 3))), np.eye(3))  # no layer: identity
    # readout as the model pools: mean of the real tokens' rows, or the [CLS] / last real token's row
    assert np.allclose(rollout_readout(R, "mean"), [0.4375, 0.5625])
    assert np.allclose(rollout_readout(R, "cls"), [0.625, 0.375])
    assert np.allclose(rollout_readout(R, "lasttoken"), [0.25, 0.75])
    # the same without forming R: pooling weights pushed down the layers (what the attention order runs)
    assert np.allclose(attention_rollout_readout(att, "mean"), [0.4375, 0.5625], atol=1e-12)
    assert np.allclose(attention_rollout_readout(att, "cls"), [0.625, 0.375], atol=1e-12)
    assert np.allclose(attention_rollout_readout(att, "lasttoken"), [0.25, 0.75], atol=1e-12)
    # a padded third token: real rows only (its column keeps the mass the real rows put on it)
    rng = np.random.default_rng(0)
    att3 = rng.random((3, 2, 3, 3))
    att3 /= att3.sum(-1, keepdims=True)
    R3 = attention_rollout(att3)
    for mask in ([1, 1, 0], [0, 1, 1], [1, 1, 1]):
        for pooling in ("mean", "cls", "lasttoken"):
            want = rollout_readout(R3, pooling, mask=mask)
            assert np.allclose(attention_rollout_readout(att3, pooling, mask=mask), want, atol=1e-12)
    Rp = np.array([[0.5, 0.5, 0.0], [0.1, 0.9, 0.0], [9.0, 9.0, 9.0]])  # third row: a padded position
    assert np.allclose(rollout_readout(Rp, "mean", mask=[1, 1, 0]), [0.3, 0.7, 0.0])
    assert np.allclose(rollout_readout(Rp, "cls", mask=[0, 1, 1]), Rp[1])  # left padding: first real token
    with pytest.raises(IrlensError, match="pooling 'max'"):
        rollout_readout(R, "max")


def test_attention_order_on_a_real_encoder_matches_numpy_rollout_and_leaves_sdpa(tiny64):
    import torch

    ig = BiEncoderIG(tiny64, score="cos", steps=8)
    hf = tiny64[0].auto_model
    impl = hf.config._attn_implementation
    with torch.inference_mode():
        before = tiny64.encode([QUERY, DOC], convert_to_tensor=True)
    with ig._hooked():
        items = [ig._prepare(QUERY, DOC, "document"), ig._prepare(DOC, QUERY, "document")]  # 2 lengths, 1 batch
        batched = attention_at_input(ig, items)
        single = [attention_at_input(ig, [it])[0] for it in items]
    assert hf.config._attn_implementation == impl  # switched back (sdpa by default)
    with torch.inference_mode():
        assert torch.equal(before, tiny64.encode([QUERY, DOC], convert_to_tensor=True))
    for it, b, s in zip(items, batched, single):
        assert b.shape == (it["ids"].shape[0],) and np.allclose(b, s, atol=1e-10)  # padding changes nothing
        assert b.sum() == pytest.approx(1.0)  # rollout rows are distributions; so is their mean
    # by hand: eager attentions of the one text, mean over heads + I, rows renormalised, through the layers,
    # mean of the rows (mean pooling)
    feats = tiny64.preprocess([DOC])
    hf.set_attn_implementation("eager")
    try:
        with torch.inference_mode():
            out = hf(input_ids=feats["input_ids"], attention_mask=feats["attention_mask"], output_attentions=True)
    finally:
        hf.set_attn_implementation(impl)
    assert len(out.attentions) == 2
    R = np.eye(feats["input_ids"].shape[1])
    for a in out.attentions:
        m = a[0].double().numpy().mean(0) + np.eye(len(R))
        R = (m / m.sum(1, keepdims=True)) @ R
    assert np.allclose(batched[0], R.mean(0), atol=1e-10)


def test_bad_inputs_are_one_clear_error(tiny64):
    ig = BiEncoderIG(tiny64, score="cos", steps=8)
    p = _pair(ig, QUERY, DOC)
    with pytest.raises(IrlensError, match="IG word scores for"):
        faithfulness_curves(ig, [{**p, "word_scores": p["word_scores"][:-1]}])
    with pytest.raises(IrlensError, match="not among its candidates"):
        faithfulness_curves(ig, [{**p, "candidates": ["something else"]}])
    with pytest.raises(IrlensError, match="order"):
        faithfulness_curves(ig, [p], orders=("rollout",))
    with pytest.raises(IrlensError, match="fractions"):
        faithfulness_curves(ig, [p], fractions=(0.0, 0.5))


def test_faithfulness_commands_on_the_ig_pairs(tiny_beir, tiny_st_model, tmp_path):
    import pandas as pd

    from irlens.cli import main
    from irlens.data.beir import load_beir
    from irlens.retrieval.trec import write_run

    ds = load_beir(tiny_beir)
    run = {q: {d: float(len(d) + i) for i, d in enumerate(sorted(ds.corpus))} for q in ds.queries}
    write_run(run, tmp_path / "run.trec")
    pairs = tmp_path / "pairs.parquet"
    assert main(["ig", "pairs", "--data", str(tiny_beir), "--run", f"tiny={tmp_path / 'run.trec'}", "--queries", "0",
                 "--top-k", "3", "--out", str(pairs)]) == 0  # fmt: skip
    model = ["--data", str(tiny_beir), "--dataset", "tiny", "--model", str(tiny_st_model), "--label", "tiny",
             "--score", "dot", "--threads", "1"]  # fmt: skip
    assert main(["ig", "attribute", *model, "--run", str(tmp_path / "run.trec"), "--pairs", str(pairs),
                 "--steps", "8", "--out", str(tmp_path / "ig")]) == 0  # fmt: skip
    faith = ["ig", "faithfulness", *model, "--pairs", str(pairs), "--words", str(tmp_path / "ig.words.parquet"),
             "--per-query", "2", "--repeats", "2", "--fractions", "0,0.5,1"]  # fmt: skip
    assert main([*faith, "--out", str(tmp_path / "f")]) == 0
    summary = pd.read_parquet(tmp_path / "f.summary.parquet")
    n_pairs = pd.read_parquet(pairs).groupby("qid").head(2).shape[0]
    assert len(summary) == n_pairs * 2 * 4 * 2  # pairs x sides x orders x modes
    per_query = pd.read_parquet(pairs).groupby("qid").size()  # candidates: every IG pair of the query
    assert set(summary["model"]) == {"tiny"} and summary["rank"].between(1, per_query.max()).all()
    curves = pd.read_parquet(tmp_path / "f.curves.parquet")
    assert set(curves["fraction"]) == {0.0, 0.5, 1.0} and {"qid", "docid", "side"} <= set(curves.columns)
    out = ["--md", str(tmp_path / "t.md"), "--csv", str(tmp_path / "t.csv"), "--figure", str(tmp_path / "t.png")]
    assert main(["ig", "faithfulness-table", "--inputs", str(tmp_path / "f"), *out]) == 0
    t = pd.read_csv(tmp_path / "t.csv")
    assert set(t["what"]) == {
        *("ig", "grad_input", "attention", "random"),
        *("ig − random", "ig − grad_input", "ig − attention"),
    }
    assert (t["ci_low"] <= t["mean"] + 1e-12).all() and (t["mean"] <= t["ci_high"] + 1e-12).all()
    assert (tmp_path / "t.pdf").stat().st_size > 0
    # IG words of another model / side do not fit: one error line, exit 2
    words = pd.read_parquet(tmp_path / "ig.words.parquet")
    words[words["word_index"] > 0].to_parquet(tmp_path / "bad.parquet")
    faith[faith.index("--words") + 1] = str(tmp_path / "bad.parquet")
    assert main([*faith, "--out", str(tmp_path / "g")]) == 2
