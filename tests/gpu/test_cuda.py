"""CUDA parity: every stage's model code gives on ``cuda`` what it gives on ``cpu`` (same tiny model, same inputs),
and the models and outputs really are on the GPU.

Marked ``gpu`` and skipped, with the reason, where ``torch.cuda.is_available()`` is False. Run on a machine with
a CUDA GPU: ``pytest -m gpu tests/gpu``. Tolerances are those of float32 arithmetic done in another order
(rtol 1e-3 / atol 1e-4 on scores, attributions relative to their largest value); TF32 is off for each test, so
no comparison relies on reduced-precision matmuls.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from irlens.errors import IrlensError

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)"),
]

QUERY = "why do cats purr when they sleep"
DOC = "Cats purr. Purring cats are often asleep, and sleeping cats purr at a low frequency."
TEXTS = [("word " * n).strip() + f" text number {n}" for n in range(1, 40)] + [QUERY, DOC, "x"]
QUERIES = ["why do cats purr", "what is scurvy caused by", "dog barking", "fish in water"]
DOCS = [
    "Cats purr when they sleep and when they are happy.",
    "Scurvy is a disease of sailors caused by a lack of vitamin C.",
    "Dogs bark at the mailman all day long.",
    "Birds sing in the morning.",
]


# ------------------------------------------------------------------------------------------ helpers
@pytest.fixture(autouse=True)
def exact_float32(one_torch_thread):
    """TF32 off for float32 matmuls and cuDNN during the test (cuDNN allows it by default), restored after."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def all_on_cuda(module) -> bool:
    """Every parameter and buffer of ``module`` is on a CUDA device (and there is at least one)."""
    tensors = list(module.parameters()) + list(module.buffers())
    return bool(tensors) and all(t.device.type == "cuda" for t in tensors)


def all_on_cpu(module) -> bool:
    return all(t.device.type == "cpu" for t in list(module.parameters()) + list(module.buffers()))


def assert_close_rel(got, want, rel: float = 1e-4, rtol: float = 1e-3):
    """``got ≈ want`` elementwise, up to ``rtol`` of each value plus ``rel`` × the largest |want|."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rel * max(float(np.abs(want).max()), 1e-12))


def _randomise_biases(model, seed: int = 1) -> None:
    """Fresh BERTs have zero biases (a scale-invariant encoder, a near-silent head); give them values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))


@pytest.fixture(scope="module")
def bi_dir(tiny_st_model, tmp_path_factory):
    """The tiny sentence-transformers model with random biases, saved (loaded per device by load_bi_encoder)."""
    from sentence_transformers import SentenceTransformer

    m = SentenceTransformer(str(tiny_st_model), device="cpu")
    _randomise_biases(m)
    out = tmp_path_factory.mktemp("bi-random-bias")
    m.save(str(out))
    return out


@pytest.fixture(scope="module")
def ce_dir(tmp_path_factory):
    """A 3-layer tiny BERT reranker (2 logits) with random biases and a louder head, saved with MiniLM's vocab."""
    from transformers import BertConfig, BertForSequenceClassification

    from conftest import copy_minilm_tokenizer

    out = copy_minilm_tokenizer(tmp_path_factory.mktemp("ce-random-bias"))
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=2,
    )
    m = BertForSequenceClassification(cfg)
    _randomise_biases(m)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "encoder" in n and n.endswith("weight") and "LayerNorm" not in n:
                p.mul_(3.0)  # masks visibly change the scores
        m.bert.pooler.dense.weight.mul_(10.0)  # F depends on the input: baselines move it by a few hundredths
        m.classifier.weight.mul_(20.0)
    m.save_pretrained(out)
    return out


def _bi(folder, device):
    from irlens.models import load_bi_encoder

    model, _ = load_bi_encoder(str(folder), device=device)
    return model


def _ce(folder, device, max_length=64):
    from irlens.models import load_cross_encoder

    ce, _ = load_cross_encoder(str(folder), device=device, max_length=max_length)
    return ce


# ------------------------------------------------------------------------------- 1. dense encoding
def test_dense_encoding_on_cuda_matches_cpu(tiny_st_model):
    from irlens.retrieval.encode import encode_batch, encode_texts

    gpu, cpu = _bi(tiny_st_model, "cuda"), _bi(tiny_st_model, "cpu")
    assert gpu.device.type == "cuda" and all_on_cuda(gpu)
    assert cpu.device.type == "cpu" and all_on_cpu(cpu)
    eg = encode_texts(gpu, TEXTS, max_tokens=256, progress=False)
    ec = encode_texts(cpu, TEXTS, max_tokens=256, progress=False)
    assert isinstance(eg, np.ndarray) and eg.dtype == np.float32 and eg.shape == ec.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(eg, ec, rtol=1e-3, atol=1e-4)
    # batch packing (padding) does not change the GPU's embeddings either
    np.testing.assert_allclose(
        encode_texts(gpu, TEXTS, max_tokens=64, max_batch=3, progress=False), eg, rtol=1e-4, atol=1e-5
    )
    # one batch as the encode step computes it, and sentence-transformers' own encode on the GPU
    np.testing.assert_allclose(encode_batch(gpu, TEXTS[:5]), ec[:5], rtol=1e-3, atol=1e-4)
    ref = gpu.encode(TEXTS, batch_size=7, convert_to_numpy=True)
    np.testing.assert_allclose(eg, ref, rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------------------------ 2. IG (bi-encoder)
@pytest.mark.parametrize("score,baseline", [("dot", "pad"), ("cos", "pad"), ("cos", "mask"), ("dot", "zero")])
@pytest.mark.parametrize("side", ["query", "document"])
def test_ig_on_cuda_matches_cpu(bi_dir, side, score, baseline):
    from irlens.ig import BiEncoderIG

    gpu, cpu = _bi(bi_dir, "cuda"), _bi(bi_dir, "cpu")
    ig_g = BiEncoderIG(gpu, score=score, baseline=baseline, steps=64)
    assert all_on_cuda(gpu) and ig_g.emb.word_embeddings.weight.device.type == "cuda"
    a_g = ig_g.attribute_pair(QUERY, DOC, side=side)
    a_c = BiEncoderIG(cpu, score=score, baseline=baseline, steps=64).attribute_pair(QUERY, DOC, side=side)
    assert a_g.tokens == a_c.tokens and np.array_equal(a_g.input_ids, a_c.input_ids)
    assert np.array_equal(a_g.special, a_c.special)
    assert a_g.score == pytest.approx(a_c.score, rel=1e-3, abs=1e-4)
    assert a_g.baseline_score == pytest.approx(a_c.baseline_score, rel=1e-3, abs=1e-4)
    assert a_g.scores.dtype == np.float64 and np.all(np.isfinite(a_g.scores))
    assert_close_rel(a_g.scores, a_c.scores, rel=1e-3)
    # completeness: Σ attributions = s(x) − s(x′) up to quadrature error (64 Gauss–Legendre nodes: far below
    # 1e-3 of the gap) and float32 rounding of scores of size |s(x)|, on both devices
    gap = abs(a_c.score - a_c.baseline_score)
    assert gap > 1e-4, "the baseline should move the score"
    tol = 1e-3 * gap + 1e-5 * max(1.0, abs(a_c.score))
    assert abs(a_c.delta) < tol and abs(a_g.delta) < tol
    # s(x) is the score of the untouched model on the GPU
    q, d = gpu.encode([QUERY, DOC], convert_to_numpy=True).astype(np.float64)
    s = float(q @ d / (np.linalg.norm(q) * np.linalg.norm(d))) if score == "cos" else float(q @ d)
    assert a_g.score == pytest.approx(s, rel=1e-4, abs=1e-5)


def test_ig_batched_pairs_on_cuda_equal_one_at_a_time(bi_dir):
    from irlens.ig import BiEncoderIG

    gpu, cpu = _bi(bi_dir, "cuda"), _bi(bi_dir, "cpu")
    pairs = [(QUERY, DOC), ("dog barking", "Dogs bark at the mailman every single morning."), (QUERY, "Birds sing.")]
    together = BiEncoderIG(gpu, score="cos", steps=16, max_tokens=100).attribute(pairs, side="document")  # chunks
    on_cpu = BiEncoderIG(cpu, score="cos", steps=16, max_tokens=100).attribute(pairs, side="document")
    assert len(together) == len(pairs)
    for (q, d), t, c in zip(pairs, together, on_cpu):
        alone = BiEncoderIG(gpu, score="cos", steps=16).attribute_pair(q, d, side="document")
        assert t.tokens == alone.tokens
        assert_close_rel(t.scores, alone.scores, rel=1e-4)
        assert t.score == pytest.approx(alone.score, rel=1e-4, abs=1e-5)
        assert_close_rel(t.scores, c.scores, rel=1e-3)
    # the ranking-level query IG (one IG of the summed documents) agrees with the CPU too
    docs = [DOC, "Sleeping cats often purr.", "Dogs bark at night and wake the neighbours."]
    tg = BiEncoderIG(gpu, score="cos", steps=16).attribute_query_ranking(QUERY, docs)
    tc = BiEncoderIG(cpu, score="cos", steps=16).attribute_query_ranking(QUERY, docs)
    assert_close_rel(tg.scores, tc.scores, rel=1e-3)
    assert tg.score == pytest.approx(tc.score, rel=1e-3, abs=1e-4)


def test_ig_adaptive_on_cuda_converges_to_the_cpu_result(bi_dir):
    from irlens.ig import BiEncoderIG

    gpu, cpu = _bi(bi_dir, "cuda"), _bi(bi_dir, "cpu")
    ref = BiEncoderIG(cpu, score="cos", baseline="mask", steps=128).attribute_pair(QUERY, DOC, side="document")
    ig = BiEncoderIG(gpu, score="cos", baseline="mask", steps=4, tol=1e-3, max_steps=512)
    a = ig.attribute_pair(QUERY, DOC, side="document")
    assert a.meta["converged"] and a.rel_error <= 1e-3 and a.steps <= 512
    assert_close_rel(a.scores, ref.scores, rel=1e-2, rtol=0)


# ------------------------------------------------------------------------------------ 3. NIG (cross-encoder)
@pytest.mark.parametrize("rule,max_tokens", [("trapezoid", 16384), ("richardson", 16384), ("richardson", 1)])
def test_nig_on_cuda_matches_cpu(ce_dir, rule, max_tokens):
    from irlens.nig import CrossEncoderNIG

    r = {}
    for dev in ("cuda", "cpu"):
        ce = _ce(ce_dir, dev)
        feats = ce.features(QUERIES[:2], DOCS[:2])
        assert all(v.device.type == dev for v in feats.values())
        nig = CrossEncoderNIG(
            ce.model, ce.tokenizer, relevant_label=ce.relevant_label, steps=32, rule=rule, max_tokens=max_tokens
        )
        assert nig.device.type == dev
        r[dev] = nig.attribute(feats, [1, 0])
        if dev == "cuda":
            assert all_on_cuda(ce.model)
            # CPU tensors (the tokenizer's own output) are moved to the model's device
            cpu_feats = ce.tokenizer(QUERIES[:2], DOCS[:2], padding=True, truncation=True, return_tensors="pt")
            again = nig.attribute(cpu_feats, [1, 0])
            assert_close_rel(again.values, r[dev].values, rel=1e-4)
    g, c = r["cuda"], r["cpu"]
    assert g.values.shape == c.values.shape == (2, nig.n_neurons) and g.values.dtype == np.float64
    np.testing.assert_allclose(g.f_input, c.f_input, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(g.f_baseline, c.f_baseline, rtol=1e-3, atol=1e-4)
    assert np.all(np.abs(c.f_input - c.f_baseline) > 1e-2), "the baseline should move F"
    assert_close_rel(g.values, c.values, rel=1e-3)
    assert_close_rel(g.cut_sum, c.cut_sum, rel=1e-3)
    # completeness on the layer cuts holds on the GPU as on the CPU
    assert c.rel_error.max() < 1e-3 and g.rel_error.max() < 1e-3
    assert np.array_equal(g.targets, [1, 0])


def test_nig_baseline_effect_on_cuda_matches_cpu(ce_dir):
    from irlens.nig import CrossEncoderNIG, baseline_effect

    out = {}
    for dev in ("cuda", "cpu"):
        ce = _ce(ce_dir, dev)
        nig = CrossEncoderNIG(ce.model, ce.tokenizer, relevant_label=ce.relevant_label)
        out[dev] = baseline_effect(nig, ce.features(QUERIES, DOCS))
    assert set(out["cuda"]) == set(out["cpu"])
    for k in out["cpu"]:
        np.testing.assert_allclose(out["cuda"][k], out["cpu"][k], rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------------------------ 4. ablation
def test_masked_scorer_on_cuda_matches_cpu(ce_dir):
    from irlens.ablation import NeuronMask, apply_mask
    from irlens.ablation.scorer import MaskedScorer

    L = "bert.encoder.layer"
    masks = [
        NeuronMask({f"{L}.2.intermediate.dense": [1, 5, 9]}, "top layer"),  # from the cached layer 2
        NeuronMask({f"{L}.1.attention.self.value": [0, 31], f"{L}.2.output.dense": [4]}, "from layer 1"),
        NeuronMask({}, "empty"),
        NeuronMask({f"{L}.0.attention.self.query": [3], f"{L}.0.intermediate.dense": list(range(0, 64, 2))}, "0"),
    ]
    qs, ds = QUERIES * 2, DOCS + DOCS[::-1]
    got, orig = {}, {}
    for dev in ("cuda", "cpu"):
        ce = _ce(ce_dir, dev, max_length=32)
        sc = MaskedScorer(ce, qs, ds, max_rows=5, cache_mb=2048)
        assert sc.features["input_ids"].device.type == dev
        got[dev], orig[dev] = sc.score(masks), sc.original()
        assert sc.prefix_cache is True  # the cut path agreed with the full forward on this device
        if dev == "cuda":
            assert all_on_cuda(ce.model)
            for m, row in zip(masks, got[dev]):  # the batched, cached scorer = one mask at a time, on the GPU
                with apply_mask(ce.model, m):
                    np.testing.assert_allclose(row, ce.score(qs, ds, max_batch=3), rtol=1e-4, atol=1e-4)
    assert got["cuda"].shape == (len(masks), len(qs)) and got["cuda"].dtype == np.float64
    np.testing.assert_allclose(got["cuda"], got["cpu"], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(orig["cuda"], orig["cpu"], rtol=1e-3, atol=1e-4)
    assert np.abs(got["cpu"][0] - orig["cpu"]).max() > 1e-2  # the masks do something
    np.testing.assert_array_equal(got["cuda"][2], orig["cuda"])


# ------------------------------------------------------------------------------ 5. cross-encoder rerank
def test_cross_encoder_rerank_on_cuda_matches_cpu(ce_dir, tiny_beir):
    from irlens.cross_encoder.rerank import rerank

    first = {
        "q1": {"d2": 3.0, "d1": 2.0, "d5": 1.0, "d3": 0.5},
        "q2": {"d2": 1.0, "d1": 0.5, "d4": 0.2},
        "6": {"d4": 2.0, "6": 1.0, "d3": 0.1},
    }
    runs, scores = {}, {}
    for dev in ("cuda", "cpu"):
        ce = _ce(ce_dir, dev)
        assert ce.device == dev and torch.device(ce.device).type == dev
        f = ce.features(QUERIES, DOCS)
        assert all(v.device.type == dev for v in f.values())
        with torch.inference_mode():
            assert ce.logits(f).device.type == dev
        scores[dev] = ce.score(QUERIES, DOCS, max_batch=3)
        runs[dev] = rerank(ce, tiny_beir, "test", first, depth=3, max_batch=2, progress=False)
    assert scores["cuda"].dtype == np.float64
    np.testing.assert_allclose(scores["cuda"], scores["cpu"], rtol=1e-3, atol=1e-4)
    assert runs["cuda"].keys() == runs["cpu"].keys() == first.keys()
    for q in first:
        assert runs["cuda"][q].keys() == runs["cpu"][q].keys() == first[q].keys()
        docs = sorted(first[q])
        np.testing.assert_allclose(
            [runs["cuda"][q][d] for d in docs], [runs["cpu"][q][d] for d in docs], rtol=1e-3, atol=1e-4
        )


# --------------------------------------------------------------------------------------------- 6. SAE
def _sae_inputs(n=64, d=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) + 0.3


def _sae_pair(cfg, x):
    """The same SAE on the CPU and (a deep copy) on the GPU, with its pre-bias and a random encoder bias."""
    from irlens.sae.model import TopKSAE

    cpu = TopKSAE(cfg, seed=0)
    cpu.init_pre_bias(x)
    with torch.no_grad():
        cpu.b_enc.add_(0.05 * torch.randn(cpu.b_enc.shape, generator=torch.Generator().manual_seed(3)))
    gpu = copy.deepcopy(cpu).to("cuda")
    assert all_on_cuda(gpu) and all_on_cpu(cpu)
    return cpu, gpu


def _assert_clear_topk(a, k: int, margin: float = 1e-5) -> None:
    """The TopK of every row of ``a`` (computed on the CPU) is clear-cut: no near-tie at the k-th value and no
    chosen value near 0 (ReLU's kink), so float32 rounding on another device picks the same latents."""
    top = torch.sort(a, dim=1, descending=True).values
    assert (top[:, k - 1] - top[:, k]).min() > margin, "near-tie at the k-th latent: choose other inputs"
    assert top[:, :k].abs().min() > margin, "a chosen pre-activation is near 0: choose other inputs"


def test_sae_forward_encode_decode_on_cuda_match_cpu():
    from irlens.sae.config import SAEConfig

    cfg = SAEConfig(d_model=32, n_latents=128, k=8, aux_k=16, refine_steps=0)
    x = _sae_inputs()
    cpu, gpu = _sae_pair(cfg, x)
    xg = x.to("cuda")
    with torch.no_grad():
        _assert_clear_topk(cpu.pre_activations(x), cfg.k)
        z_c, xh_c, pre_c = cpu(x)
        z_g, xh_g, pre_g = gpu(xg)
        assert z_g.device.type == xh_g.device.type == pre_g.device.type == "cuda"
        assert_close_rel(pre_g.cpu(), pre_c, rel=1e-4)
        assert torch.equal((z_g != 0).cpu(), z_c != 0)
        assert_close_rel(z_g.cpu(), z_c, rel=1e-4)
        assert_close_rel(xh_g.cpu(), xh_c, rel=1e-4)
        vals_g, idx_g = gpu.encode_topk(xg)
        vals_c, idx_c = cpu.encode_topk(x)
        assert vals_g.device.type == idx_g.device.type == "cuda"
        assert torch.equal(idx_g.cpu(), idx_c)
        assert_close_rel(vals_g.cpu(), vals_c, rel=1e-4)
        assert_close_rel(gpu.decode(gpu.encode(xg)).cpu(), cpu.decode(cpu.encode(x)), rel=1e-4)
        # inference-time refinement (sparse CSR products and ‖W_dec‖₂ on the GPU): same reconstruction quality
        rv_g, ri_g = gpu.encode_topk(xg, refine_steps=10)
        rv_c, ri_c = cpu.encode_topk(x, refine_steps=10)
        assert rv_g.device.type == "cuda"
        r_g = gpu.decode(gpu.scatter(rv_g, ri_g)).cpu()
        r_c = cpu.decode(cpu.scatter(rv_c, ri_c))
        err_g, err_c = float((r_g - x).pow(2).sum()), float((r_c - x).pow(2).sum())
        assert err_g == pytest.approx(err_c, rel=1e-3)
        assert err_c < float((xh_c - x).pow(2).sum())  # refinement improves on the encoder's codes


def _one_step(model, cfg, xb, nr, nq, var):
    """One training step as irlens.sae.train.train_sae takes it (codes, losses, backward, projected decoder
    gradient, Adam, unit-norm decoder, dead-latent counters). Returns (losses, gradients)."""
    from irlens.sae.train import batch_losses

    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=6.25e-10, fused=True)
    vals, idx, xh, pre = model.forward_codes(xb)
    parts = batch_losses(model, cfg, xb, xh, (vals, idx), pre, nr, nq, var)
    opt.zero_grad(set_to_none=True)
    sum(parts.values()).backward()
    model.project_decoder_grad()
    grads = {n: p.grad.detach().cpu().clone() for n, p in model.named_parameters()}
    opt.step()
    model.normalize_decoder()
    model.update_fired_codes(vals.detach(), idx)
    return {k: float(v.detach()) for k, v in parts.items()}, grads


@pytest.mark.parametrize("latent_loss", ["kl", "mse", "infonce"])
def test_sae_training_step_on_cuda_matches_cpu(latent_loss):
    """One step of irlens.sae.train.train_sae (TopKSAE.forward_codes, batch_losses with the InfoNCE targets on the
    scores' device, the decoder constraints) gives on the GPU what it gives on the CPU."""
    from irlens.sae.config import TrainConfig

    n, nq, nr = 4, 4, 16
    cfg = TrainConfig(
        n_latents=128,
        k=8,
        aux_k=16,
        dead_after=1,
        n=n,
        batch=nr,
        batch_queries=nq,
        lam=0.5,
        lam_latent=0.5,
        latent_loss=latent_loss,
        lam_gram=0.1,
    )
    x = _sae_inputs(nr + nq * (1 + n))
    var = float((x - x.mean(0)).pow(2).sum(1).mean())
    cpu, gpu = _sae_pair(cfg.sae_config(32), x)
    out = {}
    for name, model, xb in (("cpu", cpu, x), ("cuda", gpu, x.to("cuda"))):
        model.train()
        with torch.no_grad():  # one batch first: latents that did not fire are dead (dead_after=1), AuxK is on
            model.update_fired_codes(*model.encode_topk(xb[:8]))
            n_dead = int(model.dead_mask.sum())
            assert n_dead > 0
            if name == "cpu":  # the TopK and the AuxK choice among dead latents are clear-cut
                a = model.pre_activations(xb)
                _assert_clear_topk(a, cfg.k)
                _assert_clear_topk(a[:, model.dead_mask], min(cfg.aux_k, n_dead))
        out[name] = _one_step(model, cfg, xb, nr, nq, var)
    (loss_g, grad_g), (loss_c, grad_c) = out["cuda"], out["cpu"]
    assert loss_g.keys() == loss_c.keys() and {"fvu", "auxk", "gram", "kl", "lat"} <= loss_g.keys()
    for k in loss_c:
        assert loss_g[k] == pytest.approx(loss_c[k], rel=1e-3, abs=1e-5), k
    for k in grad_c:
        assert_close_rel(grad_g[k], grad_c[k], rel=1e-3)
    assert all_on_cuda(gpu)
    norms = torch.linalg.vector_norm(gpu.W_dec.detach(), dim=0)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
    assert torch.equal(gpu.since_fired.cpu(), cpu.since_fired)


def test_sae_train_continues_a_model_on_cuda():
    """A model given on the GPU trains there (device None: the model's device) and stays there."""
    from irlens.sae.config import TrainConfig
    from irlens.sae.train import TrainData, train_sae

    x = _sae_inputs(256).numpy()
    data = TrainData(x=x, anchors=np.zeros(0, np.int64), neighbours=np.zeros((0, 8), np.int64))
    cfg = TrainConfig(n_latents=128, k=8, aux_k=16, epochs=2, batch=64, warmup_steps=1)
    cpu, gpu = _sae_pair(cfg.sae_config(32), torch.from_numpy(x))
    m_c, rec_c = train_sae(data, cfg, progress=False, model=cpu)
    m_g, rec_g = train_sae(data, cfg, progress=False, model=gpu)
    assert all_on_cuda(m_g)
    assert rec_g["history"][-1]["fvu"] == pytest.approx(rec_c["history"][-1]["fvu"], rel=5e-2)


def test_sae_train_device_cuda_with_retrieval_losses_returns_a_cpu_model():
    """train_sae(device='cuda:0'): fresh model, pool and batches on the GPU (geometric-median init, InfoNCE,
    mixup draws on the CPU generator); the model comes back on the CPU, the record says where it trained."""
    from irlens.sae.config import TrainConfig
    from irlens.sae.train import build_train_data, train_sae

    x = _sae_inputs(400).numpy()
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    cfg = TrainConfig(
        n_latents=128, k=8, aux_k=16, n=4, epochs=2, batch=64, batch_queries=16, warmup_steps=1, lam=1.0,
        lam_latent=0.5, latent_loss="infonce", anchors="queries+docs", augment="mixup",
    )  # fmt: skip
    data = build_train_data([{"name": "toy", "corpus": x[:320], "queries": x[320:]}], n=4, doc_anchors=True)
    m_c, rec_c = train_sae(data, cfg, progress=False, device="cpu")
    m_g, rec_g = train_sae(data, cfg, progress=False, device="cuda:0")
    assert all_on_cpu(m_g) and rec_g["device"] == "cuda:0" and rec_c["device"] == "cpu"
    for key in ("fvu", "kl", "lat"):
        assert rec_g["history"][-1][key] == pytest.approx(rec_c["history"][-1][key], rel=5e-2), key
    assert rec_g["pool"]["rows"] == rec_c["pool"]["rows"] == len(x)


def test_sae_n2g_activations_with_an_encoder_on_cuda_match_cpu(bi_dir):
    """``irlens sae interpret --device cuda``: the bi-encoder on the GPU, the SAE (loaded on the CPU) unchanged."""
    from irlens.sae.config import SAEConfig
    from irlens.sae.model import TopKSAE
    from irlens.sae.n2g import activation_fn

    sae = TopKSAE(SAEConfig(d_model=32, n_latents=64, k=4), seed=0).eval()
    gpu, cpu = _bi(bi_dir, "cuda"), _bi(bi_dir, "cpu")
    a_g = activation_fn(gpu, sae)(TEXTS[:10])
    a_c = activation_fn(cpu, sae)(TEXTS[:10])
    assert a_g.shape == (10, 64) and np.isfinite(a_g).all()
    np.testing.assert_allclose(a_g, a_c, rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------------------- 7. --device resolution
def test_pick_device_resolves_auto_and_cuda_n(ce_dir, tiny_st_model):
    from irlens.models.encoder import pick_device

    assert pick_device("auto") == "cuda" and pick_device(None) == "cuda"
    n = torch.cuda.device_count()
    assert n >= 1
    for spec in ("cuda", "cuda:0", f"cuda:{n - 1}"):
        assert pick_device(spec) == spec and torch.device(pick_device(spec)).type == "cuda"
    with pytest.raises(IrlensError, match=rf"--device cuda:{n}: this machine has {n} CUDA device"):
        pick_device(f"cuda:{n}")
    with pytest.raises(IrlensError, match="not a torch device"):
        pick_device("gpu0")
    # what the loaders do with the resolved device: the models really sit on cuda:0
    bi = _bi(tiny_st_model, "cuda:0")
    assert bi.device == torch.device("cuda:0") and all(p.device == torch.device("cuda:0") for p in bi.parameters())
    ce = _ce(ce_dir, "cuda:0")
    assert ce.device == "cuda:0" and all(p.device == torch.device("cuda:0") for p in ce.model.parameters())
    auto = _bi(tiny_st_model, "auto")
    assert auto.device.type == "cuda"


def test_cli_encode_with_device_cuda_0_matches_cpu(tiny_beir, tiny_st_model, tmp_path):
    from irlens.cli import main

    out = {}
    for dev in ("cuda:0", "cpu"):
        path = tmp_path / dev.replace(":", "") / "corpus.npy"
        argv = ["retrieval", "encode", "--data", str(tiny_beir), "--model", str(tiny_st_model), "--side", "corpus"]
        assert main(argv + ["--device", dev, "--threads", "1", "--out", str(path)]) == 0
        meta = json.loads(path.with_suffix(".json").read_text())
        assert meta["device"] == dev  # str(model.device) of the loaded model
        out[dev] = np.load(path)
    assert out["cuda:0"].shape == out["cpu"].shape == (6, 32)
    np.testing.assert_allclose(out["cuda:0"], out["cpu"], rtol=1e-3, atol=1e-4)
