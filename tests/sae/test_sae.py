"""Sparse autoencoder (issue 9): TopK, unit-norm decoder, geometric median, losses, AuxK, dictionary
recovery, save/load, latent sparse retrieval, CLI. Tiny synthetic data, CPU, seconds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from irlens.errors import IrlensError
from irlens.sae import loss as L
from irlens.sae.config import SAEConfig, TrainConfig
from irlens.sae.metrics import encode_array, reconstruction_metrics
from irlens.sae.model import TopKSAE, decoder_col_norms, geometric_median
from irlens.sae.retrieval import LatentIndex, evaluate_sae, topk_rows
from irlens.sae.train import TrainData, build_train_data, save_model, train_sae

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def sparse_dictionary_data(n=6000, d=24, atoms=48, active=3, seed=0, noise=0.0):
    """Rows ``x = D c`` with ``active`` atoms of a random unit-column dictionary ``D [d, atoms]`` per row."""
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((d, atoms))
    D /= np.linalg.norm(D, axis=0, keepdims=True)
    C = np.zeros((n, atoms))
    for i in range(n):
        C[i, rng.choice(atoms, active, replace=False)] = rng.uniform(0.5, 1.5, active)
    X = C @ D.T + noise * rng.standard_normal((n, d))
    return X.astype(np.float32), D


def pool_only(x: np.ndarray) -> TrainData:
    return TrainData(x=x, anchors=np.zeros(0, np.int64), neighbours=np.zeros((0, 8), np.int64))


# ------------------------------------------------------------------------------------------ TopK
def test_topk_keeps_exactly_k_largest():
    torch.manual_seed(0)
    m = TopKSAE(SAEConfig(d_model=16, n_latents=64, k=5), seed=0)
    with torch.no_grad():
        m.b_enc.fill_(10.0)  # every pre-activation positive: ReLU zeroes none of the k
    x = torch.randn(50, 16)
    z = m.encode(x)
    assert ((z != 0).sum(1) == 5).all()
    a = m.pre_activations(x)
    kth = torch.sort(a, dim=1, descending=True).values[:, 4:5]
    assert torch.equal(z != 0, a >= kth)  # the kept ones are the 5 largest
    assert torch.allclose(z[z != 0], a[z != 0])  # values pass unchanged (ReLU of positives)


def test_topk_relu_zeroes_negative_winners():
    m = TopKSAE(SAEConfig(d_model=8, n_latents=16, k=4), seed=0)
    with torch.no_grad():
        m.b_enc.fill_(-100.0)  # every pre-activation negative
    v, i = m.encode_topk(torch.randn(3, 8))
    assert v.shape == (3, 4) and (v == 0).all()
    assert (m.encode(torch.randn(3, 8)) == 0).all()


def test_tied_init_and_unit_columns():
    m = TopKSAE(SAEConfig(d_model=12, n_latents=40, k=3), seed=1)
    assert torch.allclose(decoder_col_norms(m), torch.ones(40), atol=1e-6)
    assert torch.equal(m.W_enc.data, m.W_dec.data.T)


def test_tied_encoder_is_the_decoder_transpose_throughout(tmp_path):
    x, _ = sparse_dictionary_data(n=400, d=8, atoms=16)
    m, rec = train_sae(
        pool_only(x), TrainConfig(n_latents=32, k=2, epochs=2, batch=50, warmup_steps=1, tied=True), progress=False
    )
    assert not hasattr(m, "W_enc") and "W_enc" not in m.state_dict()
    xt = torch.from_numpy(x)
    assert torch.allclose(m.pre_activations(xt), (xt - m.b_pre) @ m.W_dec + m.b_enc)
    save_model(m, rec, tmp_path / "t")
    m2, meta = TopKSAE.load(tmp_path / "t")
    assert meta["sae"]["tied"] is True and torch.equal(m2.encode(xt), m.encode(xt))


# --------------------------------------------------------------------------------- unit decoder
def test_decoder_grad_projection_is_orthogonal_to_columns():
    m = TopKSAE(SAEConfig(d_model=10, n_latents=30, k=4), seed=0)
    x = torch.randn(64, 10)
    _, xh, _ = m(x)
    (xh - x).pow(2).sum().backward()
    before = m.W_dec.grad.clone()
    m.project_decoder_grad()
    par = (m.W_dec.grad * m.W_dec.data).sum(0) / torch.linalg.vector_norm(before, dim=0)
    assert par.abs().max() < 1e-5  # float32 round-off only
    assert (
        (before * m.W_dec.data).sum(0) / torch.linalg.vector_norm(before, dim=0)
    ).abs().max() > 0.1  # there was a parallel part


def test_decoder_columns_stay_unit_norm_after_training_steps():
    x, _ = sparse_dictionary_data(n=600, d=16, atoms=32)
    cfg = TrainConfig(n_latents=64, k=4, epochs=3, batch=64, lr=1e-2, warmup_steps=1, aux_k=8, dead_after=200)
    m, rec = train_sae(pool_only(x), cfg, progress=False)
    norms = decoder_col_norms(m)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
    assert rec["steps"] == 3 * math.ceil(600 / 64)
    # the constraint is what keeps them there: one plain Adam step without it moves the norms
    m2 = TopKSAE(SAEConfig(d_model=16, n_latents=64, k=4), seed=0)
    opt = torch.optim.Adam(m2.parameters(), lr=1e-2)
    _, xh, _ = m2(torch.from_numpy(x))
    (xh - torch.from_numpy(x)).pow(2).sum().backward()
    opt.step()
    assert (decoder_col_norms(m2) - 1).abs().max() > 1e-3


# ---------------------------------------------------------------------------- geometric median
def test_geometric_median_1d_is_the_median_and_robust():
    x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [100.0]])
    assert abs(float(geometric_median(x)) - 2.0) < 1e-4  # mean would be 21.2
    x[-1] = 1e6
    assert abs(float(geometric_median(x)) - 2.0) < 1e-4


def test_geometric_median_square_with_outlier_matches_brute_force():
    pts = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [40.0, 40.0]], dtype=torch.float64)
    m = geometric_median(pts).numpy()

    def cost(p):
        return np.linalg.norm(pts.numpy() - p, axis=1).sum()

    # brute force over a fine grid around the unit square, then a finer local grid
    g = np.linspace(-1, 2, 301)
    best = min((cost(np.array([a, b])), a, b) for a in g for b in g)
    g2a, g2b = np.linspace(best[1] - 0.01, best[1] + 0.01, 201), np.linspace(best[2] - 0.01, best[2] + 0.01, 201)
    best = min((cost(np.array([a, b])), a, b) for a in g2a for b in g2b)
    assert cost(m) <= best[0] + 1e-8
    assert np.abs(m - np.array(best[1:])).max() < 2e-4
    assert np.abs(m - 0.5).max() < 0.3  # inside the square, pulled a little toward the outlier; the mean is (8.4, 8.4)


def test_geometric_median_symmetric_and_weighted():
    tri = torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, math.sqrt(3.0)]], dtype=torch.float64)
    assert torch.allclose(geometric_median(tri), tri.mean(0), atol=1e-6)  # Fermat point = centroid
    pts = torch.tensor([[0.0], [1.0], [5.0]])
    assert (
        abs(float(geometric_median(pts, weights=torch.tensor([1.0, 5.0, 1.0]))) - 1.0) < 1e-4
    )  # heavy middle point wins


def test_pre_bias_initialised_to_geometric_median():
    x = torch.randn(200, 6) + 3
    m = TopKSAE(SAEConfig(d_model=6, n_latents=12, k=2))
    m.init_pre_bias(x)
    assert torch.allclose(m.b_pre.data, geometric_median(x), atol=1e-6)


# ---------------------------------------------------------------------------------------- losses
def test_fvu_of_mean_predictor_is_one_and_exact_is_zero():
    x = torch.randn(100, 7) + 5
    assert abs(float(L.fvu(x, x.mean(0, keepdim=True).expand_as(x))) - 1) < 1e-5
    assert float(L.fvu(x, x)) == 0.0
    var = float((x - x.mean(0)).pow(2).sum(1).mean())
    xh = x + 0.1 * torch.randn_like(x)
    assert torch.allclose(L.fvu(x, xh, denom=var), L.fvu(x, xh), rtol=1e-5)


@pytest.mark.parametrize("in_batch", [False, True])
def test_retrieval_kl_zero_when_reconstruction_exact(in_batch):
    torch.manual_seed(0)
    q, docs = torch.randn(5, 12), torch.randn(5, 4, 12)
    s = L.candidate_scores(q, docs, in_batch)
    assert s.shape == ((5, 20) if in_batch else (5, 4))
    assert float(L.retrieval_kl(s, L.candidate_scores(q.clone(), docs.clone(), in_batch), tau=0.05)) == pytest.approx(
        0.0, abs=1e-7
    )
    noisy = L.candidate_scores(q + 0.3 * torch.randn_like(q), docs, in_batch)
    assert float(L.retrieval_kl(s, noisy, tau=1.0)) > 1e-3
    # KL through the model: an SAE whose reconstruction is exact gives KL 0 (identity dictionary)
    m = TopKSAE(SAEConfig(d_model=12, n_latents=24, k=24))
    with torch.no_grad():
        m.W_dec.zero_()
        m.W_dec[:, :12] = torch.eye(12)
        m.W_dec[:, 12:] = -torch.eye(12)
        m.W_enc.copy_(m.W_dec.T)
        m.b_pre.zero_()
    _, qh, _ = m(q)
    _, dh, _ = m(docs.reshape(-1, 12))
    assert torch.allclose(qh, q, atol=1e-6)
    s_hat = L.candidate_scores(qh, dh.reshape(5, 4, 12), in_batch)
    assert float(L.retrieval_kl(s, s_hat, tau=0.05).detach()) == pytest.approx(0.0, abs=1e-6)


def test_embedding_scope_loss_matches_its_formula():
    torch.manual_seed(0)
    q, d = torch.randn(3, 16), torch.randn(3, 5, 16)
    qh, dh = q + 0.05 * torch.randn_like(q), d + 0.05 * torch.randn_like(d)
    mse, kld = L.embedding_scope_loss(q, d, qh, dh)
    c = 1 / 4  # 1/sqrt(16)
    want = 0.0
    for i in range(3):
        s = torch.stack([q[i] @ d[i, j] for j in range(5)]) * c
        sh = torch.stack([qh[i] @ dh[i, j] for j in range(5)]) * c
        p = s.exp() / (s.exp() + s.exp().sum())
        ph = sh.exp() / (sh.exp() + sh.exp().sum())
        want += float((p * (p.log() - ph.log())).sum())
    assert float(kld) == pytest.approx(want, rel=1e-5)
    assert float(mse) == pytest.approx(float(((qh - q) ** 2).mean() + ((dh - d) ** 2).mean()), rel=1e-6)
    zero = L.embedding_scope_loss(q, d, q, d)
    assert float(zero[0]) == 0 and abs(float(zero[1])) < 1e-6
    _, kld_bm = L.embedding_scope_loss(q, d, qh, dh, scale=1.0, reduction="batchmean")
    assert float(kld_bm) != pytest.approx(float(kld))


def test_score_fvu_is_shift_invariant_per_query():
    torch.manual_seed(0)
    s = torch.randn(4, 9)
    assert float(L.score_fvu(s, s + torch.randn(4, 1))) == pytest.approx(0.0, abs=1e-10)
    assert float(L.score_fvu(s, torch.zeros_like(s))) == pytest.approx(1.0)  # explains nothing
    assert float(L.score_fvu(s, 2 * s)) == pytest.approx(1.0)  # no free scale: 2s misses by s
    assert 0 < float(L.score_fvu(s, s + 0.1 * torch.randn_like(s))) < 0.05


def test_latent_scores_options():
    zq, zd = torch.rand(4, 10), torch.rand(6, 10)
    w = torch.rand(10)
    assert torch.allclose(L.latent_scores(zq, zd), zq @ zd.T)
    assert torch.allclose(L.latent_scores(zq, zd, weights=w), (zq * w) @ zd.T)
    cos = L.latent_scores(zq, zd, normalize=True)
    assert torch.allclose(cos, torch.nn.functional.cosine_similarity(zq[:, None], zd[None], dim=-1), atol=1e-6)


# ------------------------------------------------------------------------------------------ AuxK
def _planted_dead(aux_coef):
    x, _ = sparse_dictionary_data(n=2000, d=16, atoms=32, active=3, seed=3)
    cfg = TrainConfig(
        n_latents=48,
        k=3,
        aux_k=16,
        aux_coef=aux_coef,
        dead_after=256,
        epochs=6,
        batch=128,
        lr=3e-3,
        warmup_steps=1,
        seed=0,
        refine_steps=0,
    )
    m = TopKSAE(cfg.sae_config(16), seed=0)
    m.init_pre_bias(torch.from_numpy(x))
    planted = torch.arange(0, 48, 2)  # half the latents start dead: encoder rows too short to win the TopK
    with torch.no_grad():
        m.W_enc[planted] *= 0.1
    v, i, _ = encode_array(m, x)
    assert not np.isin(i[v > 0], planted.numpy()).any()  # truly dead at the start
    m, _ = train_sae(pool_only(x), cfg, progress=False, model=m)
    v, i, _ = encode_array(m, x)
    return np.isin(planted.numpy(), i[v > 0]).mean()


def test_auxk_revives_planted_dead_latents():
    revived = _planted_dead(aux_coef=1 / 32)
    without = _planted_dead(aux_coef=0.0)
    assert without < 0.2  # nothing else brings them back
    assert revived >= 0.75 and revived > without + 0.5


def test_aux_loss_zero_without_dead_latents():
    m = TopKSAE(SAEConfig(d_model=8, n_latents=16, k=2, dead_after=10))
    x = torch.randn(5, 8)
    _, xh, a = m(x)
    assert float(m.aux_loss(x, xh, a)) == 0.0
    m.since_fired[:4] = 10
    assert m.dead_mask.sum() == 4 and float(m.aux_loss(x, xh, a).detach()) > 0


# ------------------------------------------------------------------------------ dictionary recovery
def test_recovers_a_known_sparse_dictionary():
    x, D = sparse_dictionary_data(n=8000, d=24, atoms=48, active=3, seed=0)
    cfg = TrainConfig(
        n_latents=96, k=3, aux_k=32, dead_after=2000, epochs=12, batch=128, lr=4e-3, warmup_steps=10, seed=0
    )
    m, _ = train_sae(pool_only(x), cfg, progress=False)
    W = m.W_dec.detach().numpy()  # [d, L] unit columns
    cos = D.T @ W  # [atoms, L]
    mmc = cos.max(1).mean()
    assert mmc >= 0.9, f"mean max cosine {mmc:.3f}"
    v, i, xh = encode_array(m, x)
    assert reconstruction_metrics(x, xh, v, i, 96)["fvu"] < 0.1
    # a random dictionary of the same shape is far from it (the test can fail)
    R = np.random.default_rng(1).standard_normal(W.shape)
    R /= np.linalg.norm(R, axis=0)
    assert (D.T @ R).max(1).mean() < 0.8


@pytest.mark.parametrize("aug", ["mixup", "noise"])
def test_augmentation_keeps_norms_and_is_seeded(aug):
    from irlens.sae.train import augment_rows

    X = torch.nn.functional.normalize(torch.randn(100, 6), dim=1)
    cfg = TrainConfig(augment=aug, aug_prob=0.5, aug_strength=0.5)
    a = augment_rows(X[:40], X, cfg, torch.Generator().manual_seed(0))
    b = augment_rows(X[:40], X, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert torch.allclose(torch.linalg.vector_norm(a, dim=1), torch.ones(40), atol=1e-5)
    changed = (a != X[:40]).any(1)
    assert 5 < int(changed.sum()) < 35  # about half the rows


def test_training_is_deterministic():
    x, _ = sparse_dictionary_data(n=500, d=8, atoms=16)
    cfg = TrainConfig(n_latents=32, k=2, epochs=2, batch=50, warmup_steps=1)
    a, _ = train_sae(pool_only(x), cfg, progress=False)
    b, _ = train_sae(pool_only(x), cfg, progress=False)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


# --------------------------------------------------------------------------- retrieval-loss training
def _retrieval_data(seed=0):
    x, _ = sparse_dictionary_data(n=700, d=16, atoms=32, active=3, seed=seed)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return {"name": "toy", "corpus": x[:600], "queries": x[600:]}


@pytest.mark.parametrize(
    "over",
    [
        {"lam": 1.0},
        {"lam": 1.0, "in_batch": False, "lam_latent": 0.5, "latent_norm": True},
        {"lam_latent": 1.0, "latent_loss": "infonce", "anchors": "queries+docs"},
        {"lam_latent": 1.0, "latent_loss": "mse"},
        {"loss": "embedding-scope"},
    ],
)
def test_training_with_retrieval_losses_runs(over):
    cfg = TrainConfig(n_latents=64, k=4, n=4, epochs=2, batch=64, batch_queries=16, warmup_steps=1, **over)
    data = build_train_data([_retrieval_data()], n=4, doc_anchors=cfg.anchors == "queries+docs")
    assert data.neighbours.shape == ((100 + (600 if over.get("anchors") else 0)), 4)
    m, rec = train_sae(data, cfg, progress=False)
    keys = set(rec["history"][-1])
    if over.get("loss") == "embedding-scope":
        assert {"mse", "kld"} <= keys and "fvu" not in keys
    else:
        assert "fvu" in keys and ("kl" in keys) == (cfg.lam > 0) and ("lat" in keys) == (cfg.lam_latent > 0)
    assert all(np.isfinite(v) for k, v in rec["history"][-1].items() if isinstance(v, float))


def test_build_train_data_neighbours_are_dense_top_n():
    part = _retrieval_data()
    data = build_train_data([part, {**part, "name": "toy2"}], n=3, doc_anchors=True)
    x = data.x
    for a, nb in zip(data.anchors[:5], data.neighbours[:5]):  # queries of part 1
        s = x[:600] @ x[a]
        assert set(nb) == set(np.argsort(-s)[:3])
    docs = data.anchors[100:105]  # documents of part 1 as anchors: never their own neighbour
    assert all(a not in nb for a, nb in zip(docs, data.neighbours[100:105]))
    assert data.neighbours[-1].min() >= 700  # part 2's neighbours index part 2's corpus


def test_recommended_preset():
    from irlens.sae.config import RECOMMENDED

    cfg = TrainConfig.recommended(epochs=3)
    assert cfg.epochs == 3 and cfg.lam_latent == RECOMMENDED["lam_latent"] > 0 and cfg.uses_anchors
    assert TrainConfig().lam_latent == 0 and not TrainConfig().uses_anchors  # the plain default


def test_retrieval_loss_needs_queries():
    with pytest.raises(IrlensError, match="training queries"):
        train_sae(
            pool_only(np.random.rand(100, 8).astype(np.float32)),
            TrainConfig(n_latents=16, k=2, lam=1.0, epochs=1),
            progress=False,
        )
    with pytest.raises(IrlensError, match="loss 'mse' unknown"):
        TrainConfig(loss="mse")


# ------------------------------------------------------------------------------------ save / load
def test_save_load_round_trip(tmp_path):
    x, _ = sparse_dictionary_data(n=300, d=8, atoms=16)
    m, rec = train_sae(
        pool_only(x), TrainConfig(n_latents=32, k=3, epochs=1, batch=64, warmup_steps=1, dead_after=100), progress=False
    )
    save_model(m, rec, tmp_path / "sae")
    save_model(m, rec, tmp_path / "sae")  # overwriting an existing folder works too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sae"]
    m2, meta = TopKSAE.load(tmp_path / "sae")
    assert meta["sae"] == {
        "d_model": 8,
        "n_latents": 32,
        "k": 3,
        "aux_k": 256,
        "dead_after": 100,
        "tied": False,
        "refine_steps": 0,
        "refine_step": 1.5,
        "refine_momentum": 0.0,
    }
    assert meta["train"]["k"] == 3 and meta["history"][-1]["epoch"] == 1
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k
    xt = torch.from_numpy(x)
    assert torch.equal(m.encode(xt), m2.encode(xt))
    (tmp_path / "sae" / "model.safetensors").unlink()
    with pytest.raises(IrlensError, match="model.safetensors: SAE model file not found"):
        TopKSAE.load(tmp_path / "sae")


# -------------------------------------------------------------------------------- latent retrieval
@pytest.mark.parametrize(
    "normalize,weighting,power",
    [(False, "none", 1.0), (True, "none", 1.0), (False, "idf", 1.0), (True, "idf", 1.0), (True, "none", 0.5)],
)
def test_latent_sparse_retrieval_equals_dense_computation(normalize, weighting, power):
    m = TopKSAE(SAEConfig(d_model=16, n_latents=80, k=6), seed=0)
    rng = np.random.default_rng(0)
    docs, qs = rng.standard_normal((200, 16)).astype(np.float32), rng.standard_normal((30, 16)).astype(np.float32)
    dv, di, _ = encode_array(m, docs)
    qv, qi, _ = encode_array(m, qs)
    zd = m.encode(torch.from_numpy(docs)).detach().numpy().astype(np.float64)
    zq = m.encode(torch.from_numpy(qs)).detach().numpy().astype(np.float64)
    if weighting == "idf":
        df = (zd > 0).sum(0)
        w = np.log1p(200 / np.maximum(df, 1))
    else:
        w = np.ones(80)
    zd, zq = zd**power, zq**power
    if normalize:
        zd /= np.maximum(np.linalg.norm(zd, axis=1, keepdims=True), 1e-12)
        zq /= np.maximum(np.linalg.norm(zq, axis=1, keepdims=True), 1e-12)
    want = (zq * w) @ zd.T
    index = LatentIndex(dv, di, 80, normalize=normalize, weighting=weighting, power=power)
    assert np.allclose(index.scores(qv, qi), want, atol=1e-5)
    s, i = index.search(qv, qi, 10, chunk=7)
    for r in range(30):
        assert np.allclose(s[r], np.sort(want[r])[::-1][:10], atol=1e-5)
        assert np.allclose(want[r, i[r]], s[r], atol=1e-5)


@pytest.mark.parametrize("normalize,power", [(False, 1.0), (True, 1.0), (True, 0.5)])
def test_training_latent_scores_rank_like_the_index(normalize, power):
    """The latent-score loss scores pairs as the index searches them (train and evaluate alike), and its
    √-code gradient stays finite for tiny codes."""
    m = TopKSAE(SAEConfig(d_model=16, n_latents=80, k=6), seed=0)
    rng = np.random.default_rng(1)
    docs, qs = rng.standard_normal((50, 16)).astype(np.float32), rng.standard_normal((7, 16)).astype(np.float32)
    dv, di, _ = encode_array(m, docs)
    qv, qi, _ = encode_array(m, qs)
    zq, zd = m.encode(torch.from_numpy(qs)).detach(), m.encode(torch.from_numpy(docs)).detach()
    got = L.latent_scores(zq, zd, normalize=normalize, power=power).numpy()
    want = LatentIndex(dv, di, 80, normalize=normalize, power=power).scores(qv, qi)
    assert np.allclose(got, want, atol=1e-5)
    z = torch.tensor([[0.0, 1e-9, 0.25, 4.0]], requires_grad=True)
    L.power_codes(z, 0.5).sum().backward()
    assert torch.isfinite(z.grad).all() and z.grad[0, 0] == 0
    assert torch.allclose(L.power_codes(z, 0.5).detach(), torch.tensor([[0.0, 1e-2, 0.5, 2.0]]))


def test_refinement_keeps_k_and_lowers_the_error_on_unseen_inputs():
    x, _ = sparse_dictionary_data(n=3000, d=24, atoms=48, active=4, seed=2)
    m, _ = train_sae(
        pool_only(x[:400]),
        TrainConfig(n_latents=96, k=4, epochs=6, batch=32, lr=3e-3, warmup_steps=1, refine_steps=0),
        progress=False,
    )
    unseen = torch.from_numpy(x[2000:])
    v0, i0 = m.encode_topk(unseen)
    v1, i1 = m.encode_topk(unseen, refine_steps=30)
    assert v1.shape == (1000, 4) and ((m.scatter(v1, i1) != 0).sum(1) <= 4).all()
    with torch.no_grad():
        e0 = (m.decode(m.scatter(v0, i0)) - unseen).pow(2).sum()
        e1 = (m.decode(m.scatter(v1, i1)) - unseen).pow(2).sum()
    assert float(e1) < 0.9 * float(e0)
    m.cfg.refine_steps = 30  # the config default applies to encode / encode_array too
    assert torch.equal(m.encode(unseen), m.scatter(v1, i1))
    assert np.array_equal(encode_array(m, x[2000:])[1], i1.numpy())


def _dense_iht(m: TopKSAE, x: torch.Tensor, steps: int, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference accelerated IHT written densely: y = z + β(z − z_prev), z ← ReLU(TopK(y + η Wᵀ(c − W y)))."""
    W = m.W_dec.detach().double()
    eta = m.cfg.refine_step / float(torch.linalg.matrix_norm(W, 2)) ** 2
    c = (x - m.b_pre.detach()).double()
    v, i = m.topk(m.pre_activations(x).detach())
    z = prev = m.scatter(v.double(), i)
    for _ in range(steps):
        y = z + beta * (z - prev)
        prev = z
        v, i = m.topk(y + eta * ((c - y @ W.T) @ W))
        z = m.scatter(v, i)
    return v, i


@pytest.mark.parametrize("beta", [0.0, 0.9])
def test_refinement_with_momentum_matches_the_dense_iteration(beta):
    x, _ = sparse_dictionary_data(n=600, d=24, atoms=48, active=4, seed=3)
    m, _ = train_sae(
        pool_only(x[:400]), TrainConfig(n_latents=96, k=4, epochs=3, batch=32, lr=3e-3, warmup_steps=1), progress=False
    )
    m.double()
    unseen = torch.from_numpy(x[400:]).double()
    m.cfg.refine_step, m.cfg.refine_momentum = 3.0, beta
    v, i = m.encode_topk(unseen, refine_steps=12)
    rv, ri = _dense_iht(m, unseen, 12, beta)
    assert torch.allclose(m.scatter(v, i), m.scatter(rv, ri), atol=1e-10)
    # momentum reaches a lower error than plain IHT in the same number of steps on this data
    if beta:
        m.cfg.refine_momentum = 0.0
        pv, pi = m.encode_topk(unseen, refine_steps=12)

        def err(v_, i_):
            return float((m.decode(m.scatter(v_, i_)) - unseen).pow(2).sum().detach())

        assert err(v, i) < err(pv, pi)


def test_sparse_forward_backward_equals_the_dense_maths():
    """TopKSAE.forward (CSR decode, gradients through the k chosen latents only) == dense autograd."""
    from irlens.sae.sparse import gather_linear, sparse_decode

    torch.manual_seed(0)
    for tied in (False, True):
        m = TopKSAE(SAEConfig(d_model=12, n_latents=40, k=5, tied=tied), seed=1).double()
        with torch.no_grad():
            m.b_pre.normal_(), m.b_enc.normal_(0, 0.1)
        x, target = torch.randn(17, 12, dtype=torch.float64), torch.randn(17, 12, dtype=torch.float64)
        z, xh, a = m(x)
        loss = (xh - target).pow(2).sum() + z[:, :7].sum() * 0.3
        grads = torch.autograd.grad(loss, list(m.parameters()))
        # the same function, differentiated densely
        w_enc_t = m.W_dec if tied else m.W_enc.T
        a_d = (x - m.b_pre) @ w_enc_t + m.b_enc
        vals, idx = torch.topk(a_d, 5, dim=-1)
        z_d = torch.zeros_like(a_d).scatter(1, idx, torch.relu(vals))
        xh_d = z_d @ m.W_dec.T + m.b_pre
        loss_d = (xh_d - target).pow(2).sum() + z_d[:, :7].sum() * 0.3
        grads_d = torch.autograd.grad(loss_d, list(m.parameters()))
        assert torch.allclose(z, z_d) and torch.allclose(xh, xh_d) and torch.allclose(a, a_d)
        for g, gd in zip(grads, grads_d):
            assert torch.allclose(g, gd, atol=1e-12), (tied, g.shape)
    # and torch's own finite-difference check of the two functions
    idx = torch.stack([torch.randperm(9)[:3] for _ in range(4)])
    vals = torch.rand(4, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v, w_: sparse_decode(v, idx, w_), (vals, w))
    xc = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    rows = torch.randn(9, 6, dtype=torch.float64, requires_grad=True)
    b = torch.randn(9, dtype=torch.float64, requires_grad=True)

    def fn(xc_, r_, b_):
        return gather_linear(xc_, r_, b_, idx, ((xc_ @ r_.T) + b_).gather(1, idx).detach())

    assert torch.autograd.gradcheck(fn, (xc, rows, b))


def test_projected_query_search_equals_query_dot_reconstructed_docs():
    from irlens.sae.retrieval import search_projected

    m = TopKSAE(SAEConfig(d_model=16, n_latents=80, k=6), seed=0)
    with torch.no_grad():
        m.b_pre.copy_(torch.randn(16))
    rng = np.random.default_rng(1)
    docs, qs = rng.standard_normal((150, 16)).astype(np.float32), rng.standard_normal((20, 16)).astype(np.float32)
    dv, di, dh = encode_array(m, docs)
    s, i = search_projected(m, qs, LatentIndex(dv, di, 80), 10, chunk=6)
    want = qs.astype(np.float64) @ (dh - m.b_pre.detach().numpy()).T
    for r in range(20):
        assert np.allclose(s[r], want[r, i[r]], atol=1e-4) and np.allclose(s[r], np.sort(want[r])[::-1][:10], atol=1e-4)
    # same order as q · x̂_d (the bias term is a per-query constant)
    assert np.array_equal(i[:, :3], np.argsort(-(qs @ dh.T), axis=1, kind="stable")[:, :3])
    with pytest.raises(ValueError):
        search_projected(m, qs, LatentIndex(dv, di, 80, normalize=True), 10)


def test_topk_rows_breaks_ties_by_lowest_column():
    scores = np.array([[1.0, 3.0, 3.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0]], np.float32)
    s, i = topk_rows(scores, 2)
    assert i.tolist() == [[1, 2], [0, 1]] and s.tolist() == [[3.0, 3.0], [0.0, 0.0]]


def test_evaluate_sae_reports_all_runs():
    x, _ = sparse_dictionary_data(n=260, d=16, atoms=32, active=3, seed=5)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    corpus, queries = x[:200], x[200:] + 0.01
    doc_ids, qids = [f"d{i}" for i in range(200)], [f"q{i}" for i in range(60)]
    from irlens.retrieval.search import dense_search

    _, top = dense_search(queries, corpus, 1)
    qrels = {q: {doc_ids[int(top[j, 0])]: 1} for j, q in enumerate(qids)}  # the dense top-1 is relevant
    m, _ = train_sae(
        pool_only(x), TrainConfig(n_latents=64, k=6, epochs=8, batch=32, lr=3e-3, warmup_steps=1), progress=False
    )
    out = evaluate_sae(m, corpus, doc_ids, queries, qids, qrels, depth=20)
    r = out["retrieval"]
    assert r["dense"]["ndcg@10"] == pytest.approx(1.0) and r["dense"]["mrr@10"] == pytest.approx(1.0)
    assert set(r) == {
        "dense",
        "reconstructed",
        "latent",
        "latent-cos",
        "latent-idf",
        "latent-cos-idf",
        "latent-sqrt-cos",
        "latent-projected-query",
    }
    assert 0 < r["reconstructed"]["ndcg@10"] <= 1 and 0 < r["latent"]["ndcg@10"] <= 1
    assert out["ratio_ndcg@10"]["reconstructed"] == pytest.approx(r["reconstructed"]["ndcg@10"])
    rec = out["reconstruction"]["all"]
    assert rec["rows"] == 260 and 0 < rec["l0"] <= 6 and 0 <= rec["dead_pct"] <= 100 and 0 <= rec["fvu"] < 1
    json.dumps(out)  # JSON-able


def test_reconstructed_run_scores_unit_norm_reconstructions_of_a_normalising_encoder():
    from irlens.retrieval.search import dense_search
    from irlens.sae.metrics import encode_array
    from irlens.sae.retrieval import as_embeddings, unit_norm

    x, _ = sparse_dictionary_data(n=260, d=16, atoms=32, active=3, seed=5)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert unit_norm(x) and not unit_norm(2 * x) and not unit_norm(x[:0])
    corpus, queries = x[:200], x[200:]
    doc_ids, qids = [f"d{i}" for i in range(200)], [f"q{i}" for i in range(60)]
    m, _ = train_sae(
        pool_only(x), TrainConfig(n_latents=64, k=3, epochs=3, batch=32, lr=3e-3, warmup_steps=1), progress=False
    )
    _, _, dh = encode_array(m, corpus)
    _, _, qh = encode_array(m, queries)
    assert np.allclose(np.linalg.norm(as_embeddings(dh, True), axis=1), 1, atol=1e-5) and as_embeddings(dh, False) is dh
    _, top = dense_search(as_embeddings(qh, True), as_embeddings(dh, True), 1)
    qrels = {q: {doc_ids[int(top[j, 0])]: 1} for j, q in enumerate(qids)}  # relevant: the top-1 over normalised x̂
    out = evaluate_sae(m, corpus, doc_ids, queries, qids, qrels, depth=20, latent_variants=(), projected=False)
    assert out["reconstruction_normalized"] is True
    assert out["retrieval"]["reconstructed"]["ndcg@10"] == pytest.approx(1.0)
    assert out["retrieval"]["reconstructed-raw"]["ndcg@10"] < 0.99  # x̂ norms vary: the raw dot product ranks otherwise
    # embeddings that are not unit-norm (a dot-product encoder): x̂ as decoded, no second run
    out = evaluate_sae(m, 2 * corpus, doc_ids, 2 * queries, qids, qrels, depth=20, latent_variants=(), projected=False)
    assert out["reconstruction_normalized"] is False and "reconstructed-raw" not in out["retrieval"]


def test_reconstruction_metrics_by_hand():
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    xh = np.array([[1.0, 0.0], [0.0, 0.0]])
    vals = np.array([[1.0, 0.0], [0.5, 0.0]])
    idx = np.array([[0, 1], [2, 3]])
    r = reconstruction_metrics(x, xh, vals, idx, n_latents=5)
    assert r["fvu"] == pytest.approx(1.0)  # error 1, centred variance 2·0.5
    assert r["cosine"] == pytest.approx(0.5)  # 1 and 0 (x̂ = 0 counts as cosine 0)
    assert r["l0"] == pytest.approx(1.0)
    assert r["dead_pct"] == pytest.approx(60.0)  # latents 1, 3, 4 never fire


# ----------------------------------------------------------------------------------------------- CLI
def _write_emb(folder: Path, name: str, x: np.ndarray, ids: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{name}.npy", x.astype(np.float32))
    (folder / f"{name}.json").write_text(json.dumps({"ids": ids, "dim": x.shape[1], "model": {"id": "toy"}}))


def test_cli_train_and_evaluate(tmp_path, capsys):
    from irlens.cli import main

    x, _ = sparse_dictionary_data(n=330, d=16, atoms=32, active=3, seed=7)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    emb = tmp_path / "emb" / "toy"
    _write_emb(emb, "corpus", x[:300], [f"d{i}" for i in range(300)])
    _write_emb(emb, "queries", x[300:], [f"q{i}" for i in range(30)])
    (tmp_path / "qrels.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(0, 30, 2))
    )
    model = tmp_path / "sae"
    rc = main(
        [
            "sae",
            "train",
            "--embeddings",
            str(emb),
            "--exclude-qrels",
            f"toy={tmp_path / 'qrels.tsv'}",
            "--out",
            str(model),
            "--n-latents",
            "64",
            "--k",
            "4",
            "--epochs",
            "2",
            "--batch",
            "32",
            "--lam",
            "0.5",
            "--n",
            "4",
            "--batch-queries",
            "8",
            "--threads",
            "1",
        ]
    )
    assert rc == 0
    meta = json.loads((model / "config.json").read_text())
    assert (
        meta["data"]["parts"][0]["queries"] == 15 and meta["data"]["parts"][0]["queries_excluded"] == 15
    )  # judged queries left out
    assert meta["train"]["lam"] == 0.5 and meta["sae"]["k"] == 4
    assert meta["train"]["lam_latent"] == 0.1 and meta["train"]["anchors"] == "queries+docs"  # preset values
    out = tmp_path / "metrics.json"
    rc = main(
        [
            "sae",
            "evaluate",
            "--model",
            str(model),
            "--embeddings",
            str(emb),
            "--qrels",
            str(tmp_path / "qrels.tsv"),
            "--out",
            str(out),
            "--threads",
            "1",
        ]
    )
    assert rc == 0
    m = json.loads(out.read_text())
    assert m["judged_queries"] == 15
    for run in ("dense", "reconstructed", "latent"):
        assert 0 <= m["retrieval"][run]["ndcg@10"] <= 1 and 0 <= m["retrieval"][run]["mrr@10"] <= 1
    assert {"fvu", "l0", "dead_pct"} <= set(m["reconstruction"]["all"])
    assert (
        m["refine_steps"] == 40 and m["refine_momentum"] == 0.9
    )  # the recommended preset (the CLI default), stored with the model
    assert (
        main(
            [
                "sae",
                "evaluate",
                "--model",
                str(model),
                "--embeddings",
                str(emb),
                "--qrels",
                str(tmp_path / "qrels.tsv"),
                "--out",
                str(out),
                "--refine-steps",
                "0",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    m0 = json.loads(out.read_text())
    assert (
        m0["refine_steps"] == 0
        and m["reconstruction"]["queries"]["fvu"] <= m0["reconstruction"]["queries"]["fvu"] + 1e-6
    )
    # missing inputs: one line, exit status 2
    capsys.readouterr()
    assert (
        main(
            [
                "sae",
                "evaluate",
                "--model",
                str(tmp_path / "nope"),
                "--embeddings",
                str(emb),
                "--qrels",
                str(tmp_path / "qrels.tsv"),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("irlens sae evaluate: error: ") and "nope" in err and "\n" not in err
    assert main(["sae", "train", "--embeddings", str(tmp_path / "missing"), "--out", str(model)]) == 2
    err = capsys.readouterr().err.strip()
    assert "corpus.npy: embeddings not found" in err and "\n" not in err
    (tmp_path / "bad.yaml").write_text("k: 4\nlamda: 1\n")
    assert (
        main(["sae", "train", "--embeddings", str(emb), "--config", str(tmp_path / "bad.yaml"), "--out", str(model)])
        == 2
    )
    assert "unknown SAE config key(s) lamda" in capsys.readouterr().err


# --------------------------------------------------------------------------- interpretation / control
def test_top_activating_sorted_and_complete():
    from irlens.sae.interpret import top_activating

    vals = np.array([[0.5, 0.1], [0.9, 0.0], [0.5, 0.3], [0.2, 0.1]], np.float32)
    idx = np.array([[3, 1], [3, 1], [3, 0], [0, 3]])
    top = top_activating(vals, idx, n_latents=4, latents=[3, 1, 2], n=3)
    assert top[3] == [(1, pytest.approx(0.9)), (0, 0.5), (2, 0.5)]  # ties by row
    assert top[1] == [(0, pytest.approx(0.1))]  # row 1's zero value did not fire
    assert top[2] == []


def test_token_log_odds_ranks_the_topic_word_first():
    from collections import Counter

    from irlens.sae.interpret import token_log_odds, tokenize

    corpus = [f"protein folding structure sample {i}" for i in range(5)] + [
        f"market price economy sample {i}" for i in range(45)
    ]
    counts = Counter(w for t in corpus for w in tokenize(t))
    words = token_log_odds(corpus[:5], counts, min_count=2)
    assert {w for w, _, _ in words[:3]} == {"protein", "folding", "structure"}
    assert "sample" not in [w for w, _, _ in words[:3]] and all(w != "the" for w, _, _ in words)
    flipped = token_log_odds(corpus[5:15], counts, min_count=2)
    assert flipped[0][0] in {"market", "price", "economy"}


def test_amplifying_a_latent_promotes_its_documents():
    from irlens.sae.control import amplification_curve, amplify, latent_target_set

    x, _ = sparse_dictionary_data(n=900, d=16, atoms=32, active=3, seed=11)
    m, _ = train_sae(
        pool_only(x), TrainConfig(n_latents=64, k=3, epochs=10, batch=64, lr=4e-3, warmup_steps=1), progress=False
    )
    corpus, queries = x[:800], x[800:]
    dv, di, dh = encode_array(m, corpus)
    df = np.bincount(di[dv > 0], minlength=64)
    lat = int(np.argsort(-df)[5])  # a latent that fires on a fair number of documents
    targets = latent_target_set(dv, di, lat, 20)
    assert len(targets) == 20 and all(lat in di[t][dv[t] > 0] for t in targets)
    q0 = amplify(m, queries, lat)  # δ = 0 is the plain reconstruction
    assert np.allclose(q0, encode_array(m, queries)[2], atol=1e-5)
    curve = amplification_curve(m, queries, corpus, lat, targets, deltas=(0.0, 1.0, 4.0))
    p = [r["p@10"] for r in curve]
    assert p[0] < 0.3 and p[2] > 0.6 and p[0] < p[1] < p[2]
    assert curve[2]["mrr@10"] > curve[0]["mrr@10"]
    sc = amplification_curve(m, queries, corpus, lat, targets, deltas=(1.0,), mode="scale")
    assert sc[0]["p@10"] == pytest.approx(p[0])  # α = 1 changes nothing


def test_sparse_code_losses_equal_the_dense_code_losses():
    """The training loss from sparse codes (dense rows formed only where needed) == the loss written on dense z."""
    from irlens.sae.train import batch_losses

    torch.manual_seed(0)
    cfg = TrainConfig(
        n_latents=40, k=5, n=3, lam=0.5, lam_latent=0.7, latent_norm=True, lam_gram=0.2, aux_k=8, dead_after=1
    )
    m = TopKSAE(cfg.sae_config(12), seed=1).double()
    m.since_fired[:10] = 5  # some dead latents: AuxK active
    nr, nq = 6, 4
    xb = torch.randn(nr + nq * (1 + cfg.n), 12, dtype=torch.float64)
    vals, idx, xh, a = m.forward_codes(xb)
    sparse = batch_losses(m, cfg, xb, xh, (vals, idx), a, nr, nq, 1.3)
    z = m.scatter(vals, idx)
    zq, zd = z[nr : nr + nq], z[nr + nq :]
    s = L.candidate_scores(xb[nr : nr + nq], xb[nr + nq :].reshape(nq, cfg.n, -1), True)
    lat = cfg.lam_latent * L.retrieval_kl(s, L.latent_scores(zq, zd, normalize=True), cfg.tau, cfg.tau_latent)
    assert set(sparse) == {"auxk", "fvu", "gram", "kl", "lat"}
    assert torch.allclose(sparse["lat"], lat) and torch.allclose(
        sparse["gram"], cfg.lam_gram * L.gram_fvu(z, xb, m.b_pre)
    )
    # dead-latent counters: sparse and dense bookkeeping agree
    m2 = TopKSAE(cfg.sae_config(12), seed=1).double()
    m.since_fired.zero_(), m2.since_fired.zero_()
    m.update_fired_codes(vals.detach(), idx)
    m2.update_fired(z.detach())
    assert torch.equal(m.since_fired, m2.since_fired) and int((m.since_fired == 0).sum()) < 40
