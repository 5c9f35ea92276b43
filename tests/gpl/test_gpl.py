"""GPL steps on tiny random models: queries (t5 / train-queries / ict), negatives, margins, MarginMSE, resume, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from irlens.cli import main
from irlens.errors import IrlensError

from conftest import write_beir_folder

CORPUS = {
    "d0": ("Cats", "Cats purr and sleep a lot. They purr when they are content and calm."),
    "d1": ("Dogs", "Dogs bark at the mailman. Barking dogs wake the whole street in the morning."),
    "d2": ("", "Birds sing in the morning. The morning chorus of birds is loud in spring."),
    "d3": ("Fish", "Fish swim in water all day. Water quality matters to fish in lakes."),
    "d4": ("Cats and dogs", "Cats and dogs can live together. Many homes keep a cat and a dog."),
    "d5": ("Purring", "Why cats purr: a review of feline sounds and what purring means."),
    "d6": ("Lakes", "Lakes hold fresh water. Fish and birds live near lakes."),
    "d7": ("Mail", "The mailman brings letters every day except on holidays."),
}
QUERIES = {"q1": "why do cats purr", "q2": "dog barking", "q3": "fish in water", "q4": "birds singing in the morning"}
QRELS = {
    "train": [
        ("q1", "d0", 1),
        ("q1", "d5", 2),
        ("q1", "d4", 0),
        ("q2", "d1", 1),
        ("q3", "d3", 1),
        ("q4", "d2", 1),
        ("q4", "gone", 1),
    ],
    "test": [("q1", "d0", 1), ("q2", "d1", 1), ("q3", "d3", 1), ("q4", "d2", 1)],
}


@pytest.fixture
def toy(tmp_path) -> Path:
    return write_beir_folder(tmp_path / "beir" / "toy", CORPUS, QUERIES, QRELS)


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory) -> Path:
    """A random 1-layer T5 with a word-level tokenizer built from the toy corpus (no sentencepiece needed)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for title, text in CORPUS.values():
        for w in f"{title} {text}".lower().replace(".", " ").replace(":", " ").split():
            vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    out = tmp_path_factory.mktemp("tiny-t5")
    PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    ).save_pretrained(out)
    torch.manual_seed(0)
    cfg = T5Config(
        vocab_size=len(vocab),
        d_model=16,
        d_ff=32,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
        d_kv=8,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    T5ForConditionalGeneration(cfg).save_pretrained(out)
    return out


def _corpus():
    return {d: {"title": t, "text": x} for d, (t, x) in CORPUS.items()}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.startswith("irlens gpl ") and ": error: " in l]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ------------------------------------------------------------------------------------------ queries
def test_qpp_rule_matches_gpl():
    from irlens.gpl import queries_per_passage

    # notes §1.2: SciFact 5,183 docs x 49, FiQA 57,638 x 5, NFCorpus 3,633 x 69, resized TREC-COVID 83,334 x 3
    assert [queries_per_passage(n) for n in (5183, 57638, 3633, 83334, 171332)] == [49, 5, 69, 3, 3]
    assert queries_per_passage(83333) == 4  # 3 x 83,333 = 249,999 < 250K
    assert queries_per_passage(10, qpp=2) == 2
    with pytest.raises(IrlensError):
        queries_per_passage(0)


class StubGenerator:
    """Records each call; returns 'q{k} <first word>' and a duplicate, so dedup is visible."""

    def __init__(self, fail_at: int | None = None):
        self.calls, self.fail_at = [], fail_at

    def generate(self, texts, n):
        self.calls.append((len(texts), n))
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise KeyboardInterrupt
        return [[f"q{k} {t.split()[0].lower()}" for k in range(n - 1)] + ["q0 " + t.split()[0].lower()] for t in texts]


def test_t5_backend_batches_qpp_and_resume_with_a_stub(tmp_path):
    from irlens.gpl import t5_queries

    corpus = _corpus()
    gen = StubGenerator()
    q, r = t5_queries(corpus, gen, qpp=3, batch_size=3, progress=False)
    assert gen.calls == [(3, 3), (3, 3), (2, 3)]  # 8 passages in batches of 3, qpp passed through
    assert len(q) == 8 * 2 and list(q)[:2] == ["genQ1", "genQ2"]  # the duplicate sample is dropped
    assert r["genQ1"] == {"d0": 1} and q["genQ1"] == "q0 cats" and r["genQ16"] == {"d7": 1}
    # kill during the 3rd chunk (1 batch per chunk), rerun: the 2 finished chunks are reused
    out = tmp_path / "queries.jsonl"
    with pytest.raises(KeyboardInterrupt):
        t5_queries(
            corpus, StubGenerator(fail_at=3), qpp=3, batch_size=3, partial_out=out, chunk_batches=1, progress=False
        )
    again = StubGenerator()
    assert t5_queries(corpus, again, qpp=3, batch_size=3, partial_out=out, chunk_batches=1, progress=False) == (q, r)
    assert again.calls == [(2, 3)]


def test_t5_backend_with_a_tiny_random_t5(tiny_t5, tmp_path, capsys):
    from irlens.gpl.queries import load_t5_generator, t5_queries

    gen, _ = load_t5_generator(str(tiny_t5), device="cpu", max_length=8)
    a = t5_queries(_corpus(), gen, qpp=2, batch_size=3, seed=1, progress=False)
    b = t5_queries(_corpus(), gen, qpp=2, batch_size=3, seed=1, progress=False)
    assert a == b and 1 <= len(a[0]) <= 16  # seeded sampling; empty / duplicate samples dropped
    assert {d for docs in a[1].values() for d in docs} <= set(CORPUS)
    out = tmp_path / "g"
    data = write_beir_folder(tmp_path / "beir" / "toy", CORPUS, QUERIES, QRELS)
    rc = main(
        [
            "gpl",
            "queries",
            "--backend",
            "t5",
            "--generator",
            str(tiny_t5),
            "--data",
            str(data),
            "--qpp",
            "1",
            "--passages",
            "4",
            "--batch",
            "2",
            "--max-length",
            "8",
            "--device",
            "cpu",
            "--out-queries",
            str(out / "queries.jsonl"),
            "--out-qrels",
            str(out / "qrels.tsv"),
        ]
    )
    assert (
        rc == 0
        and len((out / "qrels.tsv").read_text().splitlines()) <= 5
        and not (out / "queries.jsonl.partial").exists()
    )


def test_train_queries_keep_judged_relevant_documents_in_the_corpus(toy):
    from irlens.data.beir import load_beir
    from irlens.gpl import train_queries

    q, r = train_queries(load_beir(toy, ["train", "test"]), "train")
    assert r == {
        "q1": {"d0": 1, "d5": 1},
        "q2": {"d1": 1},
        "q3": {"d3": 1},
        "q4": {"d2": 1},
    }  # grade 0 and missing docs left out
    assert q["q1"] == QUERIES["q1"]
    with pytest.raises(IrlensError, match="split 'dev'"):
        train_queries(load_beir(toy, ["train"]), "dev")


def test_ict_queries_are_seeded_spans_of_the_passage():
    from irlens.gpl import ict_queries

    a = ict_queries(_corpus(), qpp=2, seed=7, max_words=5, min_words=3)
    assert a == ict_queries(_corpus(), qpp=2, seed=7, max_words=5, min_words=3)
    assert a != ict_queries(_corpus(), qpp=2, seed=8, max_words=5, min_words=3)
    q, r = a
    assert len(q) == 16 and all(len(r[x]) == 1 for x in q)
    for qid, text in q.items():
        (doc,) = r[qid]
        assert 1 <= len(text.split()) <= 5
        assert all(w in CORPUS[doc][1] for w in text.split())  # words of the body (title not used)
    sub = ict_queries(_corpus(), qpp=1, seed=7, passages=3)[1]
    assert len(sub) == 3 and len({d for x in sub.values() for d in x}) == 3


# ---------------------------------------------------------------------------------------- negatives
def test_negatives_exclude_positives(tiny_st_model, tmp_path):
    from irlens.gpl import mine_negatives
    from irlens.models import load_bi_encoder
    from irlens.retrieval.encode import encode_to_file

    corpus = _corpus()
    queries = {"a": "why do cats purr", "b": "fish and water", "c": "mailman"}
    qrels = {"a": {"d0": 1, "d5": 1}, "b": {"d3": 1}, "c": {"d7": 1}}
    miners = [str(tiny_st_model), "bm25"]
    recs = mine_negatives(
        corpus, queries, qrels, miners, k=4, device="cpu", partial_out=tmp_path / "hn.jsonl", progress=False
    )
    assert [r["qid"] for r in recs] == ["a", "b", "c"] and list(recs[0]["neg"]) == miners
    for r in recs:
        assert r["pos"] == list(qrels[r["qid"]])
        for m in miners:
            assert not set(r["neg"][m]) & set(r["pos"]) and len(r["neg"][m]) <= 4
        assert 4 - len(r["pos"]) <= len(r["neg"][str(tiny_st_model)]) <= 4  # top-4 minus the positives among them
    assert recs[2]["neg"]["bm25"] == ["d1"]  # d1 and d7 mention the mailman; d7 is the positive, the rest share no term
    # precomputed corpus embeddings (irlens retrieval encode) give the same negatives as encoding in place
    model, _ = load_bi_encoder(str(tiny_st_model), device="cpu")
    from irlens.data.beir import doc_text

    ids = list(reversed(list(corpus)))  # order differs from the corpus: mapped by id
    encode_to_file(model, ids, [doc_text(corpus[d]) for d in ids], tmp_path / "corpus.npy", {}, progress=False)
    again = mine_negatives(
        corpus,
        queries,
        qrels,
        [str(tiny_st_model)],
        k=4,
        corpus_emb={str(tiny_st_model): str(tmp_path / "corpus.npy")},
        device="cpu",
        progress=False,
    )
    assert [r["neg"] for r in again] == [{str(tiny_st_model): r["neg"][str(tiny_st_model)]} for r in recs]
    with pytest.raises(IrlensError, match="not in the corpus"):
        mine_negatives(corpus, queries, {"a": {"zz": 1}}, ["bm25"], progress=False)


# ------------------------------------------------------------------------------------ pseudo-labels
def test_tuples_are_drawn_as_gpl_does():
    from irlens.gpl import sample_tuples

    recs = [
        {"qid": "a", "pos": ["p1", "p2"], "neg": {"m1": ["n1", "n2"], "m2": ["n2", "n3"]}},
        {"qid": "b", "pos": ["p3"], "neg": {"m1": [], "m2": []}},  # no negative: skipped
        {"qid": "c", "pos": ["p4"], "neg": {"m1": ["n4"]}},
    ]
    t = sample_tuples(recs, 7, seed=1)
    assert len(t) == 7 and t == sample_tuples(recs, 7, seed=1)
    assert [x[0] for x in t[:2]].count("a") == 1 and [x[0] for x in t[:4]].count(
        "c"
    ) == 2  # epochs over the usable queries
    for q, p, n in t:
        assert (q, p in ("p1", "p2"), n in ("n1", "n2", "n3")) == ("a", True, True) or (q, p, n) == ("c", "p4", "n4")
    assert {n for q, _, n in sample_tuples(recs, 200, seed=2) if q == "a"} == {"n1", "n2", "n3"}  # the union of miners
    with pytest.raises(IrlensError):
        sample_tuples(recs[1:2], 3, seed=0)


class ToyTeacher:
    """Logits from a table keyed by (query, document); tokenizer-free (pseudo_label with max_length=None)."""

    def __init__(self, table, num_labels=2, relevant_label=1):
        self.table, self.num_labels, self.relevant_label, self.tokenizer = table, num_labels, relevant_label, None

    def pair_lengths(self, queries, docs):
        return np.array([len(q) + len(d) for q, d in zip(queries, docs)])

    def features(self, queries, docs):
        return list(zip(queries, docs))

    def logits(self, pairs):
        return torch.tensor([self.table[p] for p in pairs], dtype=torch.float64)


def test_margin_labels_on_a_toy_teacher_equal_hand_values():
    from irlens.gpl import pseudo_label

    queries, docs = {"a": "qa", "b": "qb"}, {"p": "P", "n": "N", "m": "M"}
    two = {("qa", "P"): [0.5, 2.0], ("qa", "N"): [1.0, -0.5], ("qb", "P"): [0.0, 0.0], ("qb", "M"): [-1.0, 3.0]}
    tuples = [("a", "p", "n"), ("b", "p", "m"), ("a", "n", "p")]
    # 2 logits: CE = z_rel - z_non: (qa,P) 1.5, (qa,N) -1.5, (qb,P) 0, (qb,M) 4
    got = pseudo_label(ToyTeacher(two), tuples, queries, docs, max_length=None, chunk=2, progress=False)
    np.testing.assert_allclose(got, [3.0, -4.0, -3.0])
    # relevant label 0 flips the sign of every score
    np.testing.assert_allclose(
        pseudo_label(ToyTeacher(two, relevant_label=0), tuples, queries, docs, max_length=None, progress=False),
        [-3.0, 4.0, 3.0],
    )
    # 1 logit: the raw logit, no sigmoid
    one = {k: [v[1]] for k, v in two.items()}
    np.testing.assert_allclose(
        pseudo_label(ToyTeacher(one, num_labels=1), tuples, queries, docs, max_length=None, progress=False),
        [2.5, -3.0, -2.5],
    )


def test_margins_of_a_tiny_bert_teacher_match_unbatched_logits(tiny_ce, tmp_path):
    from irlens.gpl import pseudo_label
    from irlens.models import load_cross_encoder

    ce, _ = load_cross_encoder(str(tiny_ce), device="cpu")
    queries = {"a": "why do cats purr", "b": "fish"}
    docs = {d: f"{t} {x}".strip() for d, (t, x) in CORPUS.items()}
    tuples = [("a", "d0", "d1"), ("b", "d3", "d7"), ("a", "d5", "d2")]
    got = pseudo_label(
        ce, tuples, queries, docs, max_length=350, chunk=2, partial_out=tmp_path / "t.tsv", progress=False
    )

    def s(q, d):
        with torch.no_grad():
            z = ce.model(**ce.tokenizer(queries[q], docs[d], return_tensors="pt")).logits[0]
        return float(z[1] - z[0])

    np.testing.assert_allclose(got, [s(q, p) - s(q, n) for q, p, n in tuples], atol=1e-5)
    # a rerun reuses the finished chunks
    assert (tmp_path / "t.tsv.partial").is_dir()
    np.testing.assert_array_equal(
        pseudo_label(
            ce, tuples, queries, docs, max_length=350, chunk=2, partial_out=tmp_path / "t.tsv", progress=False
        ),
        got,
    )


def test_retokenize_cuts_each_text(tiny_ce):
    from transformers import AutoTokenizer

    from irlens.gpl.labels import retokenize

    tok = AutoTokenizer.from_pretrained(tiny_ce)
    # [CLS] cats pu ##rr [SEP]: the budget counts word pieces and special tokens
    assert retokenize(tok, ["  Cats purr and sleep a lot.  ", "Dogs"], max_length=5) == ["cats purr", "dogs"]


# --------------------------------------------------------------------------------------------- loss
def test_margin_mse_matches_a_hand_example():
    from irlens.gpl import margin_mse

    q = torch.tensor([[1.0, 0.0], [1.0, 2.0]])
    p = torch.tensor([[2.0, 1.0], [0.5, 0.5]])
    n = torch.tensor([[0.0, 1.0], [1.0, -1.0]])
    # dot products: (2 - 0) = 2 and (1.5 - (-1)) = 2.5; targets 1 and 3 -> ((2-1)^2 + (2.5-3)^2) / 2 = 0.625
    assert float(margin_mse(q, p, n, torch.tensor([1.0, 3.0]))) == pytest.approx(0.625)


def test_rescale_margins_as_gpl():
    from irlens.gpl.train import rescale_margins

    # positives: [0, 4] -> [0, 2]; negatives: [-8, 0] -> [-1, 0]
    np.testing.assert_allclose(rescale_margins([4.0, 2.0, -8.0, -2.0, 0.0], -1.0, 2.0), [2.0, 1.0, -1.0, -0.25, 0.0])


# -------------------------------------------------------------------------------------------- train
@pytest.fixture
def train_inputs(toy, tmp_path):
    qfile = tmp_path / "gpl" / "queries.jsonl"
    qfile.parent.mkdir(parents=True)
    qfile.write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    rows = [
        ("q1", "d0", "d1", 2.5),
        ("q2", "d1", "d7", 1.0),
        ("q3", "d3", "d6", 0.5),
        ("q4", "d2", "d6", -0.5),
        ("q1", "d5", "d3", 4.0),
        ("q2", "d1", "d4", 3.0),
        ("q3", "d3", "d0", 2.0),
        ("q4", "d2", "d1", 1.5),
        ("q1", "d0", "d4", 1.0),
    ]
    tsv = tmp_path / "gpl" / "gpl-training-data.tsv"
    tsv.write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))
    return {"data": toy, "queries": qfile, "tsv": tsv}


def _train(base, inp, out, **kw):
    from irlens.gpl import train_gpl

    args = {
        "steps": 4,
        "batch_size": 2,
        "max_length": 32,
        "lr": 1e-3,
        "warmup_steps": 1,
        "seed": 3,
        "threads": 1,
        "progress": False,
        "log_every": 2,
    }
    args.update(kw)
    return train_gpl(str(base), inp["data"], inp["queries"], inp["tsv"], out, **args)


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_training_resumes_from_a_checkpoint_to_the_same_weights(tiny_st_model, train_inputs, tmp_path):
    from irlens.models import load_bi_encoder

    full = tmp_path / "full" / "model"
    rec = _train(tiny_st_model, train_inputs, full)
    assert len(rec["losses"]) == 4 and rec["resumed_at_step"] == 0

    def kill(step, loss):
        if step == 3:
            raise KeyboardInterrupt  # as kill -9 after the step-2 checkpoint: step 3 is lost

    out = tmp_path / "killed" / "model"
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_st_model, train_inputs, out, checkpoint_every=2, on_step=kill)
    assert not out.exists() and (out.parent / "model.partial" / "checkpoint.pt").is_file()
    again = _train(tiny_st_model, train_inputs, out, checkpoint_every=2)
    assert again["resumed_at_step"] == 2 and again["losses"] == rec["losses"]
    wa, wb = _weights(full), _weights(out)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not (out.parent / "model.partial").exists()
    # training moved the weights; another seed (dropout) gives other weights
    w0 = _weights(tiny_st_model)
    assert any(not torch.equal(w0[k], wa[k]) for k in w0)
    _train(tiny_st_model, train_inputs, tmp_path / "s" / "model", seed=4)
    other = _weights(tmp_path / "s" / "model")
    assert any(not torch.equal(other[k], wa[k]) for k in wa)
    # a sentence-transformers folder the resolver and encoder loader read; loss log beside it
    model, resolved = load_bi_encoder(str(full), device="cpu")
    assert resolved.source == "path" and model.encode(["cats"]).shape == (1, 32)
    assert model.max_seq_length == 64  # the base's length, not the training length (32)
    lines = (full / "loss.csv").read_text().splitlines()
    assert lines[0] == "step,loss,lr,teacher_margin_mean,student_margin_mean" and len(lines) == 5
    assert json.loads((full / "training.json").read_text())["config"]["similarity"] == "dot"


def test_a_checkpoint_of_other_settings_is_not_resumed(tiny_st_model, train_inputs, tmp_path):
    out = tmp_path / "m" / "model"

    def kill(step, loss):
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(tiny_st_model, train_inputs, out, checkpoint_every=1, on_step=kill)
    assert _train(tiny_st_model, train_inputs, out, steps=3, checkpoint_every=1)["resumed_at_step"] == 0


def test_too_few_tuples_is_one_error(tiny_st_model, train_inputs, tmp_path):
    with pytest.raises(IrlensError, match="need 20"):
        _train(tiny_st_model, train_inputs, tmp_path / "x", steps=10)


# ----------------------------------------------------------------------------------------- evaluate
def _per_query(path: Path, rows: dict) -> Path:
    path.write_text(
        "query-id\tndcg@10\tmrr@10\trecall@100\tmap\n"
        + "".join(f"{q}\t{a}\t{b}\t{c}\t0\n" for q, (a, b, c) in rows.items())
    )
    return path


def test_base_vs_adapted_table_with_paired_ttest(tmp_path):
    from scipy import stats

    from irlens.gpl.compare import comparison_table

    base = _per_query(tmp_path / "b.tsv", {"1": (0.5, 1.0, 1.0), "2": (0.2, 0.5, 0.0), "3": (0.0, 0.0, 1.0)})
    adapted = _per_query(tmp_path / "a.tsv", {"1": (0.7, 1.0, 1.0), "2": (0.1, 0.5, 1.0), "3": (0.6, 1.0, 1.0)})
    df = comparison_table([("toy", f"minilm={base}", f"minilm-gpl={adapted}")])
    row = df[df["metric"] == "ndcg@10"].iloc[0]
    assert (row["base_model"], row["adapted_model"]) == ("minilm", "minilm-gpl")
    assert (
        row["base"] == pytest.approx(0.7 / 3)
        and row["adapted"] == pytest.approx(1.4 / 3)
        and row["diff"] == pytest.approx(0.7 / 3)
    )
    assert (row["better"], row["worse"], row["n"]) == (2, 1, 3)
    assert row["p"] == pytest.approx(stats.ttest_rel([0.7, 0.1, 0.6], [0.5, 0.2, 0.0]).pvalue)
    md, csvf = tmp_path / "t.md", tmp_path / "t.csv"
    assert (
        main(["gpl", "evaluate", "--compare", "toy", str(base), str(adapted), "--md", str(md), "--csv", str(csvf)]) == 0
    )
    assert "ndcg@10" in md.read_text() and len(csvf.read_text().splitlines()) == 4


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_steps_end_to_end_on_tiny_models(toy, tiny_st_model, tiny_ce, tmp_path):
    from irlens.models import load_bi_encoder

    g = tmp_path / "gpl"
    common = ["--data", str(toy), "--threads", "1"]
    assert (
        main(
            [
                "gpl",
                "queries",
                "--backend",
                "ict",
                "--qpp",
                "1",
                "--seed",
                "1",
                *common,
                "--out-queries",
                str(g / "queries.jsonl"),
                "--out-qrels",
                str(g / "qrels.tsv"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "gpl",
                "negatives",
                *common,
                "--queries",
                str(g / "queries.jsonl"),
                "--qrels",
                str(g / "qrels.tsv"),
                "--miners",
                str(tiny_st_model),
                "bm25",
                "--k",
                "3",
                "--device",
                "cpu",
                "--out",
                str(g / "hard-negatives.jsonl"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "gpl",
                "pseudo-labels",
                *common,
                "--queries",
                str(g / "queries.jsonl"),
                "--negatives",
                str(g / "hard-negatives.jsonl"),
                "--teacher",
                str(tiny_ce),
                "--steps",
                "3",
                "--batch",
                "2",
                "--max-length",
                "32",
                "--device",
                "cpu",
                "--out",
                str(g / "gpl-training-data.tsv"),
            ]
        )
        == 0
    )
    rows = (g / "gpl-training-data.tsv").read_text().splitlines()
    assert len(rows) == 6 and all(len(r.split("\t")) == 4 for r in rows)
    assert (
        main(
            [
                "gpl",
                "train",
                *common,
                "--base",
                str(tiny_st_model),
                "--queries",
                str(g / "queries.jsonl"),
                "--training-data",
                str(g / "gpl-training-data.tsv"),
                "--steps",
                "3",
                "--batch",
                "2",
                "--max-length",
                "32",
                "--warmup-steps",
                "1",
                "--checkpoint-every",
                "2",
                "--out",
                str(g / "model"),
            ]
        )
        == 0
    )
    assert load_bi_encoder(str(g / "model"), device="cpu")[0].encode(["fish"]).shape == (1, 32)
    assert not any(p.name.endswith(".partial") for p in g.iterdir())


def test_cli_errors_are_one_line(toy, tmp_path, capsys):
    g = tmp_path / "gpl"
    assert (
        main(
            [
                "gpl",
                "negatives",
                "--data",
                str(toy),
                "--queries",
                str(g / "queries.jsonl"),
                "--qrels",
                str(g / "qrels.tsv"),
                "--out",
                str(g / "hn.jsonl"),
            ]
        )
        == 2
    )
    assert "run 'irlens gpl queries'" in one_error_line(capsys)
    assert (
        main(
            [
                "gpl",
                "queries",
                "--backend",
                "train-queries",
                "--split",
                "dev",
                "--data",
                str(toy),
                "--out-queries",
                str(g / "q.jsonl"),
                "--out-qrels",
                str(g / "r.tsv"),
            ]
        )
        == 2
    )
    assert "qrels/dev.tsv" in one_error_line(capsys)
    assert (
        main(
            [
                "gpl",
                "train",
                "--base",
                "acme/absent",
                "--data",
                str(toy),
                "--queries",
                str(g / "q.jsonl"),
                "--training-data",
                str(g / "none.tsv"),
                "--out",
                str(g / "m"),
            ]
        )
        == 2
    )
    assert "gpl pseudo-labels" in one_error_line(capsys)
    bad = tmp_path / "hn.jsonl"
    bad.write_text('{"qid": "q1", "pos": ["d0"]}\n')
    assert (
        main(
            [
                "gpl",
                "pseudo-labels",
                "--data",
                str(toy),
                "--queries",
                str(g / "q.jsonl"),
                "--negatives",
                str(bad),
                "--teacher",
                "x",
                "--steps",
                "1",
                "--batch",
                "1",
                "--out",
                str(g / "t.tsv"),
            ]
        )
        == 2
    )
    assert "hn.jsonl:1" in one_error_line(capsys)
    assert (
        main(
            [
                "gpl",
                "evaluate",
                "--compare",
                "toy",
                str(g / "a.tsv"),
                str(g / "b.tsv"),
                "--md",
                str(g / "t.md"),
                "--csv",
                str(g / "t.csv"),
            ]
        )
        == 2
    )
    assert "per-query metrics not found" in one_error_line(capsys)
