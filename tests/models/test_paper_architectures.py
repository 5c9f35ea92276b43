"""The paper preset's bi-encoder architectures, as tiny random models saved to temp folders, through one
step of each bi-encoder stage: encode (CLI), exact search, IG (completeness), GPL training (CLI, two
steps, reloadable), SAE training + evaluation (CLI) on their embeddings.

* DistilBERT, mean pooling, dot score (``GPL/msmarco-distilbert-margin-mse``): no token_type_ids;
* BERT, CLS pooling, normalised, cosine (``BAAI/bge-base-en-v1.5``).

The 2-logit BERT cross-encoder (monoBERT) and a DistilBERT one are covered in tests/test_cross_encoder.py
and tests/test_nig.py; the T5 generator (``BeIR/query-gen-msmarco-t5-base-v1``) in tests/test_gpl.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from irlens.cli import main

from conftest import copy_minilm_tokenizer


def _save_st(folder, arch: str):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel

    (folder / "hf").mkdir()
    hf = copy_minilm_tokenizer(folder / "hf")
    torch.manual_seed(0)
    if arch == "distilbert-mean-dot":
        cfg = json.loads((hf / "tokenizer_config.json").read_text())  # as DistilBertTokenizer: no segment ids
        (hf / "tokenizer_config.json").write_text(
            json.dumps({**cfg, "model_input_names": ["input_ids", "attention_mask"]})
        )
        DistilBertModel(
            DistilBertConfig(
                vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128
            )
        ).save_pretrained(hf)
    else:
        BertModel(
            BertConfig(
                vocab_size=30522,
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=64,
                max_position_embeddings=128,
            )
        ).save_pretrained(hf)
    word = Transformer(str(hf), max_seq_length=64)
    pool = Pooling(word.get_embedding_dimension(), pooling_mode="mean" if arch == "distilbert-mean-dot" else "cls")
    modules = [word, pool] + ([Normalize()] if arch == "bert-cls-cos" else [])
    out = folder / "st"
    SentenceTransformer(modules=modules, device="cpu").save(str(out))
    return out


@pytest.mark.parametrize("arch", ["distilbert-mean-dot", "bert-cls-cos"])
def test_one_step_of_each_bi_encoder_stage(arch, tmp_path, tiny_beir):
    from irlens.ig import BiEncoderIG
    from irlens.models import load_bi_encoder
    from irlens.retrieval.encode import load_embeddings
    from irlens.retrieval.search import dense_search

    score = "dot" if arch == "distilbert-mean-dot" else "cos"
    model_dir = _save_st(tmp_path, arch)
    model, _ = load_bi_encoder(str(model_dir), device="cpu")
    tok = model.tokenizer("a query", "a document")
    assert ("token_type_ids" in tok) == (arch == "bert-cls-cos")  # DistilBERT takes no segment ids
    # encode (CLI) and search
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
                    str(model_dir),
                    "--out",
                    str(emb / f"{side}.npy"),
                    "--threads",
                    "1",
                ]
            )
            == 0
        )
    d, doc_ids, _ = load_embeddings(emb / "corpus.npy")
    q, _, _ = load_embeddings(emb / "queries.npy")
    assert d.shape == (6, 32) and q.shape == (3, 32)
    if arch == "bert-cls-cos":
        assert np.allclose(np.linalg.norm(d, axis=1), 1, atol=1e-5)
    s, i = dense_search(q, d, 3)
    assert np.allclose(s[:, 0], (q @ d.T).max(1), atol=1e-5)
    # IG, both sides: completeness in float64 on this architecture
    import copy

    m64 = copy.deepcopy(model).double()
    with torch.no_grad():  # fresh biases are zero; give them values as a trained model has (see tests/test_ig.py)
        g = torch.Generator().manual_seed(1)
        for name, p in m64.named_parameters():
            if name.endswith("bias"):
                p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    ig = BiEncoderIG(m64, score=score, baseline="pad", steps=64)
    for side in ("query", "document"):
        a = ig.attribute_pair("why do cats purr", "Cats purr and sleep a lot.", side=side)
        assert abs(a.score - a.baseline_score) > 1e-6 and a.rel_error < 1e-4, (side, a.delta)
    # GPL: two MarginMSE steps from hand-written margins; the saved model loads and encodes
    g = tmp_path / "gpl"
    g.mkdir()
    (g / "queries.jsonl").write_text(
        "".join(
            json.dumps({"_id": k, "text": t}) + "\n" for k, t in (("q1", "why do cats purr"), ("q2", "dog barking"))
        )
    )
    (g / "train.tsv").write_text("q1\td1\td2\t2.5\nq2\td2\td3\t1.0\nq1\td5\td4\t0.5\nq2\td5\td1\t-0.5\n")
    assert (
        main(
            [
                "gpl",
                "train",
                "--data",
                str(tiny_beir),
                "--threads",
                "1",
                "--base",
                str(model_dir),
                "--queries",
                str(g / "queries.jsonl"),
                "--training-data",
                str(g / "train.tsv"),
                "--steps",
                "2",
                "--batch",
                "2",
                "--max-length",
                "32",
                "--warmup-steps",
                "1",
                "--out",
                str(g / "model"),
            ]
        )
        == 0
    )
    adapted, _ = load_bi_encoder(str(g / "model"), device="cpu")
    assert adapted.encode(["fish"]).shape == (1, 32)
    assert not np.allclose(adapted.encode(["fish"]), model.encode(["fish"]))  # the weights moved
    # SAE on its embeddings: train (one epoch) and evaluate (CLI)
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
                json.dumps({"n_latents": 16, "k": 2, "epochs": 1, "batch": 4, "n": 2}),
                "--out",
                str(tmp_path / "sae"),
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
                str(tmp_path / "sae"),
                "--embeddings",
                str(emb),
                "--qrels",
                str(tiny_beir / "qrels" / "test.tsv"),
                "--out",
                str(tmp_path / "sae.json"),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    m = json.loads((tmp_path / "sae.json").read_text())
    assert m["reconstruction"]["all"]["l0"] <= 2 and 0 <= m["retrieval"]["latent"]["ndcg@10"] <= 1
