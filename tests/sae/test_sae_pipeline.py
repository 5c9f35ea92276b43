"""SAE stage as the workflow runs it (issue 9): codes saved by `sae evaluate`, the variants table and
figure, the latent page with N2G explanations, the control curves with latent PRF. Tiny data, CPU."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from irlens.sae.config import TrainConfig
from irlens.sae.metrics import encode_array
from irlens.sae.model import TopKSAE
from irlens.sae.train import TrainData, train_sae

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _toy_sae(x: np.ndarray, n_latents=32, k=3, seed=0) -> TopKSAE:
    data = TrainData(x=x, anchors=np.zeros(0, np.int64), neighbours=np.zeros((0, 8), np.int64))
    m, _ = train_sae(
        data,
        TrainConfig(n_latents=n_latents, k=k, epochs=3, batch=32, lr=4e-3, warmup_steps=1, seed=seed),
        progress=False,
    )
    return m


# ------------------------------------------------------------------------------------------- N2G
def test_n2g_finds_the_word_that_drives_the_latent_and_scores_by_hand():
    from irlens.sae.n2g import explain_latent, predict, score_explanation

    def act(texts):  # latent 1 = 1 + number of times "apple" occurs; latent 0 constant
        a = np.zeros((len(texts), 2), np.float32)
        for i, t in enumerate(texts):
            a[i, 0] = 1.0
            a[i, 1] = 1.0 + 2.0 * t.lower().split().count("apple")
        return a

    docs = [
        "An apple a day. Nothing else here at all.",
        "Green apple pie recipe.",
        "Red apple and pear. Other words follow.",
    ]
    ex = explain_latent(1, docs, act, top_words=1)
    assert ex["patterns"] == [["apple"]]
    # pruning kept the activating sentence (≥ 50 % of the whole text's activation)
    assert ex["examples"][0]["pruned"] == "An apple a day." and ex["examples"][0]["activation"] == 3.0
    # saliency of "apple" = 1 - act(without it) / act = 1 - 1/3
    assert ex["examples"][0]["saliency"][0] == ["apple", pytest.approx(2 / 3, abs=1e-4)]
    assert predict([["apple", "pie"], ["pear"]], ["apple pie", "pie", "a pear tree", "Apple, pie!"]).tolist() == [
        True,
        False,
        True,
        True,
    ]
    s = score_explanation([["apple"]], ["apple tart", "banana", "apple"], ["apple cider", "kiwi", "lime", "plum"])
    assert (
        s["precision"] == pytest.approx(2 / 3)
        and s["recall"] == pytest.approx(2 / 3)
        and s["f1"] == pytest.approx(2 / 3)
    )


def test_n2g_held_out_rows_skip_the_examples_and_negatives_never_fire():
    from irlens.sae.n2g import held_out_rows

    vals = np.array([[0.9, 0.1], [0.8, 0.0], [0.7, 0.2], [0.6, 0.3], [0.5, 0.4], [0.4, 0.1]], np.float32)
    idx = np.array([[2, 0], [2, 0], [2, 1], [1, 2], [0, 1], [1, 0]])
    pos, neg = held_out_rows(vals, idx, latent=2, skip=2, n_eval=3, rng=np.random.default_rng(0))
    assert pos.tolist() == [2, 3]  # ranks 3, 4 by activation of latent 2 (0.7, 0.3); rows 0, 1 built the explanation
    assert len(neg) == 2 and set(neg.tolist()) <= {4, 5}


# ------------------------------------------------------------------------------------------- PRF
def test_prf_adds_delta_to_exactly_the_feedback_latents():
    from irlens.retrieval.search import dense_search
    from irlens.sae.control import prf_queries

    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 8)).astype(np.float32)
    m = _toy_sae(x)
    corpus, queries = x[:250], x[250:260]
    dv, di, dh = encode_array(m, corpus)
    same = prf_queries(m, queries, dh, dv, di, feedback_k=3, feedback_latents=2, delta=0.0)
    assert np.allclose(same, encode_array(m, queries)[2], atol=1e-5)  # δ = 0: the reconstruction
    moved = prf_queries(m, queries, dh, dv, di, feedback_k=3, feedback_latents=2, delta=0.5)
    z = m.encode(torch.from_numpy(queries))
    _, top = dense_search(m.decode(z).detach().numpy(), dh, 3)
    for r in range(len(queries)):
        lat = {int(di[d, j]) for d in top[r] for j in np.argsort(-dv[d], kind="stable")[:2] if dv[d, j] > 0}
        want = z[r].clone()
        want[list(lat)] += 0.5
        assert np.allclose(moved[r], m.decode(want[None]).detach().numpy()[0], atol=1e-5)


# ------------------------------------------------------------------------------------------- CLI
def test_cli_codes_table_interpret_control(tmp_path, tiny_beir, tiny_st_model, capsys):
    from irlens.cli import main

    emb = tmp_path / "emb" / "tiny"
    for side in ("corpus", "queries"):
        assert (
            main(
                [
                    "retrieval",
                    "encode",
                    "--data",
                    str(tiny_beir),
                    "--side",
                    side,
                    "--model",
                    str(tiny_st_model),
                    "--out",
                    str(emb / f"{side}.npy"),
                    "--threads",
                    "1",
                ]
            )
            == 0
        )
    qrels = tiny_beir / "qrels" / "test.tsv"
    models = {}
    for name, k in (("main", 3), ("k2", 2)):
        models[name] = tmp_path / name
        assert (
            main(
                [
                    "sae",
                    "train",
                    "--preset",
                    "plain",
                    "--embeddings",
                    str(emb),
                    "--settings",
                    json.dumps({"n_latents": 16, "k": k, "epochs": 3, "batch": 4, "refine_steps": 2, "n": 2}),
                    "--out",
                    str(models[name]),
                    "--threads",
                    "1",
                ]
            )
            == 0
        )
        assert (
            main(
                [
                    "sae",
                    "evaluate",
                    "--model",
                    str(models[name]),
                    "--embeddings",
                    str(emb),
                    "--qrels",
                    str(qrels),
                    "--codes-out",
                    str(tmp_path / f"{name}.npz"),
                    "--out",
                    str(tmp_path / f"{name}.json"),
                    "--threads",
                    "1",
                ]
            )
            == 0
        )
    # codes in the npz = the model's codes of every corpus / query row
    model, _ = TopKSAE.load(models["main"])
    with np.load(tmp_path / "main.npz") as z:
        corpus = np.load(emb / "corpus.npy")
        v, i, _ = encode_array(model, corpus)
        assert np.array_equal(z["doc_idx"], i) and np.allclose(z["doc_vals"], v) and z["query_vals"].shape == (3, 3)
    # evaluation with saved codes = evaluation without
    assert (
        main(
            [
                "sae",
                "evaluate",
                "--model",
                str(models["main"]),
                "--embeddings",
                str(emb),
                "--qrels",
                str(qrels),
                "--out",
                str(tmp_path / "plain.json"),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    a, b = json.loads((tmp_path / "main.json").read_text()), json.loads((tmp_path / "plain.json").read_text())
    assert {k: v["ndcg@10"] for k, v in a["retrieval"].items()} == {k: v["ndcg@10"] for k, v in b["retrieval"].items()}
    assert (
        main(
            [
                "sae",
                "table",
                "--eval",
                f"main={tmp_path / 'main.json'}",
                "--eval",
                f"k2={tmp_path / 'k2.json'}",
                "--sweep",
                "k2",
                "main",
                "--pair",
                "main:k2",
                "--md",
                str(tmp_path / "t.md"),
                "--csv",
                str(tmp_path / "t.csv"),
                "--figure",
                str(tmp_path / "t.png"),
            ]
        )
        == 0
    )
    t = pd.read_csv(tmp_path / "t.csv")
    assert list(t["variant"]) == ["main", "k2"] and list(t["k"]) == [3, 2]
    # the models refine (refine_steps 2): unsuffixed columns = encoder codes, *_refined = IHT codes, labelled
    assert t.loc[0, "recon_ndcg@10"] == pytest.approx(a["retrieval"]["reconstructed-encoder"]["ndcg@10"], abs=1e-5)
    assert t.loc[0, "recon_refined_ndcg@10"] == pytest.approx(a["retrieval"]["reconstructed"]["ndcg@10"], abs=1e-5)
    assert t.loc[0, "codes"] == "encoder; *_refined: refined (IHT, 2 steps)" and a["codes"] == "refined (IHT, 2 steps)"
    assert t.loc[0, "dead_pct"] == pytest.approx(a["train_pool"]["dead_pct"], abs=1e-4)  # the training pool
    assert (tmp_path / "t.pdf").stat().st_size > 0 and "| main" in (tmp_path / "t.md").read_text()
    out = tmp_path / "lat"
    assert (
        main(
            [
                "sae",
                "interpret",
                "--model",
                str(models["main"]),
                "--embeddings",
                str(emb),
                "--codes",
                str(tmp_path / "main.npz"),
                "--data",
                str(tiny_beir),
                "--encoder",
                str(tiny_st_model),
                "--latents",
                "2",
                "--top",
                "2",
                "--n2g-examples",
                "1",
                "--n2g-eval",
                "2",
                "--max-share",
                "1",
                "--out-json",
                str(out / "l.json"),
                "--out-html",
                str(out / "l.html"),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    rec = json.loads((out / "l.json").read_text())
    assert rec["codes"] == "refined (IHT, 2 steps)" and "base_rate" in rec["latents"][0]["n2g"]["score"]
    assert len(rec["latents"]) == 2 and all("n2g" in r and r["top_documents"] for r in rec["latents"])
    freq = [r["doc_freq"] for r in rec["latents"]]
    assert freq == sorted(freq, reverse=True)
    html = (out / "l.html").read_text()
    assert html.count("<section") == 2 and "<script" not in html and "http" not in html
    assert (
        main(
            [
                "sae",
                "control",
                "--model",
                str(models["main"]),
                "--embeddings",
                str(emb),
                "--qrels",
                str(qrels),
                "--codes",
                str(tmp_path / "main.npz"),
                "--latent",
                str(rec["latents"][0]["latent"]),
                "--targets",
                "2",
                "--values",
                "0",
                "0.5",
                "--prf-values",
                "0",
                "0.5",
                "--md",
                str(tmp_path / "c.md"),
                "--csv",
                str(tmp_path / "c.csv"),
                "--figure",
                str(tmp_path / "c.png"),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    c = pd.read_csv(tmp_path / "c.csv")
    assert set(c["codes"]) == {"refined (IHT, 2 steps)"}
    assert list(c["kind"]) == ["latent", "latent", "random", "random", "prf", "prf"]
    assert list(c["value"]) == [0.0, 0.5] * 3
    # the random control amplifies another latent, scored on the same targets: at δ = 0 nothing is edited
    lat, rnd = c[c["kind"] == "latent"], c[c["kind"] == "random"]
    assert (rnd["amplified"] != rnd["latent"]).all() and (rnd["latent"].to_numpy() == lat["latent"].to_numpy()).all()
    assert rnd["p@10"].iloc[0] == lat["p@10"].iloc[0] and rnd["ndcg@10"].iloc[0] == lat["ndcg@10"].iloc[0]
    # δ = 0 PRF is plain reconstructed retrieval
    assert c.loc[4, "ndcg@10"] == pytest.approx(
        a["retrieval"]["reconstructed"]["ndcg@10"], abs=1e-4
    )  # CSV keeps 4 decimals
    assert a["reconstruction_normalized"] is False  # the tiny encoder has no Normalize module
    # causal checks of the interpreted latents, with their N2G patterns beside them
    causal = ["sae", "causal", "--model", str(models["main"]), "--embeddings", str(emb),
              "--codes", str(tmp_path / "main.npz"), "--latents-json", str(out / "l.json"), "--targets", "2",
              "--repeats", "2", "--bootstrap", "200",
              "--md", str(tmp_path / "k.md"), "--csv", str(tmp_path / "k.csv")]  # fmt: skip
    assert main(causal) == 0
    k = pd.read_csv(tmp_path / "k.csv")
    assert list(k["latent"]) == [r["latent"] for r in rec["latents"]] and "n2g_patterns" in k.columns
    assert "tested latents causal (" in (tmp_path / "k.md").read_text() and "pattern_docs" not in k.columns
    # with the encoder: the N2G patterns are also tested by deleting their words from held-out firing documents.
    # The tiny corpus has too few firing documents beyond the N2G examples, so a copy of the latents JSON gives
    # every latent the pattern "the" and no examples (nothing held back): each firing document with "the" counts
    edited = json.loads((out / "l.json").read_text())
    for r in edited["latents"]:
        r["n2g"] = {**r["n2g"], "patterns": [["the"]], "examples": []}
    (tmp_path / "the.json").write_text(json.dumps(edited))
    cli = [*causal[:-4], "--encoder", str(tiny_st_model), "--data", str(tiny_beir), "--pattern-docs", "3"]
    assert main([*cli, "--latents-json", str(tmp_path / "the.json"), "--pattern-min-docs", "1",
                 "--md", str(tmp_path / "p.md"), "--csv", str(tmp_path / "p.csv")]) == 0  # fmt: skip
    p = pd.read_csv(tmp_path / "p.csv")
    assert list(p["latent"]) == list(k["latent"]) and (p["pattern_docs"] <= 3).all()
    judged = p[p["pattern_docs"] >= 1]
    assert (
        len(judged) >= 1
        and judged["pattern_p"].notna().all()
        and (judged["pattern_p_holm"] >= judged["pattern_p"]).all()
    )
    # 1–3 documents: the smallest reachable p (1/2 … 1/8) times the tested latents exceeds 0.05, so no verdict
    assert judged["pattern_supported"].isna().all() and "too few documents to tell" in (tmp_path / "p.md").read_text()
    assert np.allclose(judged["pattern_difference"], judged["pattern_drop"] - judged["pattern_drop_random"])
    assert "N2G pattern deletion (held out)" in (tmp_path / "p.md").read_text()
    assert main([*causal[:-4], "--encoder", str(tiny_st_model), "--md", str(tmp_path / "q.md"),
                 "--csv", str(tmp_path / "q.csv")]) == 2  # fmt: skip
    assert not (tmp_path / "q.md").exists()  # --encoder without --data: one error line, nothing written
    assert (
        main([*causal[:-4], "--latent", "99999", "--md", str(tmp_path / "x.md"), "--csv", str(tmp_path / "x.csv")]) == 2
    )
    # unit-norm embeddings (a normalising encoder): x̂ normalised in evaluate and in control alike
    emb_n = tmp_path / "emb" / "tiny-normalised"
    emb_n.mkdir()
    for side in ("corpus", "queries"):
        x = np.load(emb / f"{side}.npy")
        np.save(emb_n / f"{side}.npy", x / np.linalg.norm(x, axis=1, keepdims=True))
        shutil.copy(emb / f"{side}.json", emb_n / f"{side}.json")
    assert (
        main(
            [
                "sae",
                "evaluate",
                "--model",
                str(models["main"]),
                "--embeddings",
                str(emb_n),
                "--qrels",
                str(qrels),
                "--out",
                str(tmp_path / "n.json"),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    n = json.loads((tmp_path / "n.json").read_text())
    assert n["reconstruction_normalized"] is True and "reconstructed-raw" in n["retrieval"]
    assert (
        main(
            [
                "sae",
                "control",
                "--model",
                str(models["main"]),
                "--embeddings",
                str(emb_n),
                "--qrels",
                str(qrels),
                "--latent",
                str(rec["latents"][0]["latent"]),
                "--targets",
                "2",
                "--values",
                "0",
                "--prf-values",
                "0",
                "--md",
                str(tmp_path / "cn.md"),
                "--csv",
                str(tmp_path / "cn.csv"),
                "--figure",
                str(tmp_path / "cn.png"),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    cn = pd.read_csv(tmp_path / "cn.csv")
    prf0 = cn[cn["kind"] == "prf"].index[0]
    assert cn.loc[prf0, "value"] == 0 and cn.loc[prf0, "ndcg@10"] == pytest.approx(
        n["retrieval"]["reconstructed"]["ndcg@10"], abs=1e-4
    )
    # corpus sentences as extra training pseudo-queries
    # (irlens retrieval encode --side sentences; sae train --sentences)
    assert (
        main(
            [
                "retrieval",
                "encode",
                "--data",
                str(tiny_beir),
                "--side",
                "sentences",
                "--sentences-per-doc",
                "2",
                "--model",
                str(tiny_st_model),
                "--out",
                str(emb / "sentences.npy"),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    sent_ids = json.loads((emb / "sentences.json").read_text())["ids"]
    assert (
        sent_ids
        and all(i.split("#")[0] in {"d1", "d2", "d3", "d4", "d5", "6"} for i in sent_ids)
        and np.load(emb / "sentences.npy").shape == (len(sent_ids), 32)
    )
    assert (
        main(
            [
                "sae",
                "train",
                "--preset",
                "plain",
                "--embeddings",
                str(emb),
                "--sentences",
                "--settings",
                json.dumps({"n_latents": 16, "k": 3, "epochs": 1, "batch": 4, "n": 2}),
                "--out",
                str(tmp_path / "sent"),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    part = TopKSAE.load(tmp_path / "sent")[1]["data"]["parts"][0]
    assert part["sentences"] == len(sent_ids) and part["queries"] == 3 + len(sent_ids)
    # errors: one line naming the file
    capsys.readouterr()
    assert (
        main(
            [
                "sae",
                "table",
                "--eval",
                f"x={tmp_path / 'nope.json'}",
                "--md",
                str(tmp_path / "x.md"),
                "--csv",
                str(tmp_path / "x.csv"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "nope.json: SAE evaluation not found" in err and "\n" not in err
    assert (
        main(["sae", "train", "--embeddings", str(emb), "--settings", '{"kk": 3}', "--out", str(tmp_path / "bad")]) == 2
    )
    assert "unknown SAE setting(s) kk" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists() and not (tmp_path / "x.md").exists()
