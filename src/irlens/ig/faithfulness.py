"""Are IG's word attributions faithful? Deletion and insertion curves on a bi-encoder.

For one side of a (query, document) pair, with IG's baseline x′ (embedding-layer output e′ of
:class:`~irlens.ig.bi_encoder.BiEncoderIG`), the side's **units** are its words
(:func:`irlens.ig.words.word_pieces`) and — only when the baseline changes them (``pad-all``, ``zero``) — the
special tokens as one last unit. An **order** ranks the words:

- ``ig``: the IG word scores, largest first (what an explanation says matters most);
- ``grad_input``: gradient × (input − baseline) at x, summed over a word's pieces, largest first (the cheap
  one-step explainer a reader would try instead);
- ``attention``: **attention rollout** (Abnar & Zuidema 2020) at x, read out the way the model pools, largest
  first (the other cheap explainer a reader would try: no gradients, one forward per text). Per layer ℓ the
  heads' attention matrices are averaged, the identity added (the residual stream) and the rows renormalised,
  Ã_ℓ = row-normalise(mean_h A_ℓ,h + I); the rollout is R = Ã_N ⋯ Ã_1 (row i: how much of the top-layer token
  i comes from each input token). The readout follows the sentence-transformers pooling: ``mean`` (all-MiniLM
  and the other bi-encoders here; also ``mean_sqrt_len_tokens``, the same direction) takes the mean of R's rows
  over the real (attention-mask) tokens — every token's output vector enters the embedding with weight 1/L,
  special tokens included, as the pooling does; ``cls`` takes the first real token's row ([CLS]); ``lasttoken``
  the last real token's; other pooling modes (max, weighted mean, several modes) are an error. A word's score
  is the sum of the readout over its word pieces (the same groups as the other orders). Attention matrices
  are taken from the HF backbone under the ``eager`` attention implementation (SDPA returns none), switched
  for that forward only and restored, so the forwards that score the states are untouched. Rollout ignores
  the value vectors and everything after the attention (MLPs, pooling weights of the token vectors): it says
  where information flows, not what the score depends on — which is what the curves test;
- ``random``: a seeded permutation; ``repeats`` of them, averaged.

At each of ``fractions`` (default 0, 0.1, …, 1) of the words, **deletion** puts the first words of the order
to the baseline's rows, **insertion** starts from the baseline and restores them; at fraction 1 the special
unit follows, so deletion ends at s(x′) and insertion at s(x) exactly. The other side is fixed (the query's
or document's embedding, as IG holds it). Per state the score s is recorded, normalised as
(s − s(x′)) / (s(x) − s(x′)) (1 at x, 0 at x′), and, given the query's candidate documents, the document's
rank among them (1 = top; ties count in its favour): a perturbed document against the other candidates'
unchanged scores, a perturbed query against every candidate re-scored with it.

**AOPC** (after Samek et al. 2017, normalised, as an area over the fraction of words changed, trapezoidal):
deletion = area of (s(x) − s_k) / (s(x) − s(x′)), insertion = area of (s_k − s(x′)) / (s(x) − s(x′)); larger
is more faithful for both (a perfect explainer removes the score first and restores it first). The random
order's AOPC is the mean over its repeats. Pairs whose |s(x) − s(x′)| is below ``min_delta`` are skipped
(the normalisation is undefined).

All states of many pairs go through the model together, in forward-only chunks under ``max_tokens``
(padded tokens per forward), and states shared by several orders (the unperturbed and fully perturbed
input) are scored once.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

import numpy as np
import pandas as pd

from irlens.errors import IrlensError
from irlens.ig.bi_encoder import BiEncoderIG
from irlens.ig.words import word_groups

log = logging.getLogger(__name__)

FRACTIONS = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))
ORDERS = ("ig", "grad_input", "attention", "random")
ROLLOUT_POOLING = ("mean", "mean_sqrt_len_tokens", "cls", "lasttoken")
MODES = ("deletion", "insertion")
CURVE_COLUMNS = ["pair", "order", "mode", "repeat", "step", "fraction", "units", "score", "norm", "rank"]


def word_order(word_scores: np.ndarray) -> np.ndarray:
    """Word indices by decreasing score; ties by position (stable)."""
    return np.argsort(-np.asarray(word_scores, dtype=np.float64), kind="stable")


def random_orders(n_words: int, repeats: int, seed: int) -> list[np.ndarray]:
    """``repeats`` seeded permutations of ``n_words`` words (the same seed gives the same orders)."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n_words) for _ in range(repeats)]


def aopc(norm: np.ndarray, mode: str, fractions=None) -> float:
    """Normalised AOPC of one curve of normalised scores (1 at x, 0 at x′) over the fraction of words changed:
    deletion = area of 1 − norm, insertion = area of norm, trapezoidal over ``fractions`` (default: equally
    spaced from 0 to 1), so uneven steps weigh by their width; in [0, 1] for curves within [0, 1]."""
    norm = np.asarray(norm, dtype=np.float64)
    x = np.linspace(0.0, 1.0, len(norm)) if fractions is None else np.asarray(fractions, dtype=np.float64)
    if mode == "deletion":
        y = 1.0 - norm
    elif mode == "insertion":
        y = norm
    else:
        raise IrlensError(f"faithfulness mode '{mode}': choose deletion or insertion")
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)


def _steps(n_words: int, fractions) -> list[int]:
    """Words changed at each fraction (rounded, monotone, 0 … n_words)."""
    ks = [int(round(f * n_words)) for f in fractions]
    return [min(max(k, 0), n_words) for k in ks]


def _candidate_matrix(ig: BiEncoderIG, candidates: list[str]):
    import torch

    return torch.stack([ig._encode_fixed(c) for c in candidates])


def _scores_against(ig: BiEncoderIG, emb, others):
    """score(emb_i, others_j) for rows emb [R, H] and others [C, H] -> [R, C], the model's score function."""
    import torch

    if ig.score_fn == "cos":
        emb = torch.nn.functional.normalize(emb, dim=-1)
        others = torch.nn.functional.normalize(others, dim=-1)
    return emb @ others.T


def _grad_at_input(ig: BiEncoderIG, items: list[dict]) -> list[np.ndarray]:
    """Per item, gradient × (e − e′) at x summed over the hidden size (one backward per chunk)."""
    import torch

    out: list = [None] * len(items)
    for chunk in ig._chunks([(i, 1.0, None) for i in range(len(items))], items):
        feats, e_rows, fixed = ig._rows(chunk, items)
        e_rows.requires_grad_(True)
        with torch.enable_grad():
            s = ig._forward_rows(feats, e_rows, fixed)
            (g,) = torch.autograd.grad(s.sum(), e_rows)
        for j, (i, _, _) in enumerate(chunk):
            it = items[i]
            L = it["ids"].shape[0]
            out[i] = ((it["e"][0] - it["e0"][0]) * g[j, :L]).sum(-1).double().cpu().numpy()
    return out


def attention_rollout(attentions) -> np.ndarray:
    """Attention rollout R [L, L] of one text from its attention matrices ``[layers, heads, L, L]`` (rows =
    queries, each summing to 1 over the keys): per layer the mean over heads plus the identity, rows
    renormalised, multiplied through the layers (R = Ã_N ⋯ Ã_1); no layers give the identity."""
    a = np.asarray(attentions, dtype=np.float64)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise IrlensError(f"attention rollout: expected [layers, heads, L, L] attention matrices, got {a.shape}")
    L = a.shape[-1]
    eye = np.eye(L)
    R = eye.copy()
    for layer in a:
        m = layer.mean(0) + eye
        R = (m / m.sum(-1, keepdims=True)) @ R
    return R


def pooling_weights(pooling: str, mask) -> np.ndarray:
    """Weights [L] of the rows a pooled readout takes: ``mean`` (and ``mean_sqrt_len_tokens``, the same
    direction) 1/n on each of the n real tokens (``mask`` True / 1), ``cls`` 1 on the first real token,
    ``lasttoken`` 1 on the last."""
    real = np.asarray(mask).astype(bool)
    if not real.any():
        raise IrlensError("attention rollout: no real token in the attention mask")
    rows = np.flatnonzero(real)
    w = np.zeros(real.shape[0], dtype=np.float64)
    if pooling in ("mean", "mean_sqrt_len_tokens"):
        w[rows] = 1.0 / len(rows)
    elif pooling == "cls":
        w[rows[0]] = 1.0
    elif pooling == "lasttoken":
        w[rows[-1]] = 1.0
    else:
        raise IrlensError(
            f"attention order: pooling '{pooling}' has no rollout readout; supported: {', '.join(ROLLOUT_POOLING)}"
        )
    return w


def rollout_readout(rollout, pooling: str = "mean", mask=None) -> np.ndarray:
    """Per input token [L]: the rollout read out as the model pools its token vectors. ``mean`` (and
    ``mean_sqrt_len_tokens``): mean of the rows of the real tokens (``mask`` True / 1; default all); ``cls``:
    the first real token's row; ``lasttoken``: the last real token's row (:func:`pooling_weights` · R)."""
    R = np.asarray(rollout, dtype=np.float64)
    return pooling_weights(pooling, np.ones(R.shape[0], dtype=bool) if mask is None else mask) @ R


def attention_rollout_readout(attentions, pooling: str = "mean", mask=None) -> np.ndarray:
    """``rollout_readout(attention_rollout(attentions), pooling, mask)`` without forming R: the pooling
    weights w go down the layers by vector–matrix products, w Ã_N ⋯ Ã_1 (O(layers · L²), not L³)."""
    a = np.asarray(attentions, dtype=np.float64)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise IrlensError(f"attention rollout: expected [layers, heads, L, L] attention matrices, got {a.shape}")
    L = a.shape[-1]
    eye = np.eye(L)
    w = pooling_weights(pooling, np.ones(L, dtype=bool) if mask is None else mask)
    for layer in a[::-1]:
        m = layer.mean(0) + eye
        w = w @ (m / m.sum(-1, keepdims=True))
    return w


def pooling_mode(model) -> str:
    """The pooling mode of a sentence-transformers ``model`` (its module with ``pooling_mode``)."""
    for module in model:
        mode = getattr(module, "pooling_mode", None)
        if mode is not None:
            if not isinstance(mode, str):
                modes = list(mode)
                if len(modes) != 1:
                    raise IrlensError(
                        f"attention order: pooling {'+'.join(map(str, modes))} (several modes) has no rollout readout"
                    )
                mode = modes[0]
            return str(mode)
    raise IrlensError("attention order: the model has no pooling module (pooling_mode) to read the rollout out by")


@contextmanager
def eager_attention(hf_model):
    """``hf_model`` under the ``eager`` attention implementation (the one that returns attention matrices) for
    the duration, the previous implementation (e.g. ``sdpa``) restored afterwards."""
    prev = getattr(getattr(hf_model, "config", None), "_attn_implementation", None)
    if prev is None or not hasattr(hf_model, "set_attn_implementation"):
        raise IrlensError(
            f"attention order: {type(hf_model).__name__} cannot switch to eager attention to return attention matrices"
        )
    if prev != "eager":
        hf_model.set_attn_implementation("eager")
    try:
        yield hf_model
    finally:
        if prev != "eager":
            hf_model.set_attn_implementation(prev)


def attention_at_input(ig: BiEncoderIG, items: list[dict]) -> list[np.ndarray]:
    """Per item, the attention-rollout readout [L] at x (:func:`attention_rollout`, :func:`rollout_readout`):
    one forward of the HF backbone per distinct text, batched under ``ig.max_tokens``, no gradients."""
    import torch

    hf = getattr(ig.model[0], "auto_model", None)
    if hf is None:
        raise IrlensError("attention order: the model's first module has no HF backbone (auto_model)")
    pool = pooling_mode(ig.model)
    if pool not in ROLLOUT_POOLING:
        raise IrlensError(
            f"attention order: pooling '{pool}' has no rollout readout; supported: {', '.join(ROLLOUT_POOLING)}"
        )
    first: dict[str, int] = {}
    for i, it in enumerate(items):
        first.setdefault(it["text"], i)
    todo = list(first.values())
    done: dict[int, np.ndarray] = {}
    keys = ("input_ids", "attention_mask", "token_type_ids")
    with eager_attention(hf), torch.inference_mode():
        for chunk in ig._chunks([(i, 1.0, None) for i in todo], items):
            longest = max(items[i]["ids"].shape[0] for i, _, _ in chunk)
            ref = items[chunk[0][0]]["feats"]
            batch = {
                k: torch.zeros(len(chunk), longest, dtype=ref[k].dtype, device=ref[k].device)
                for k in keys
                if torch.is_tensor(ref.get(k))
            }
            for j, (i, _, _) in enumerate(chunk):
                L = items[i]["ids"].shape[0]
                for k in batch:
                    batch[k][j, :L] = items[i]["feats"][k][0]
            out = hf(**batch, output_attentions=True)
            atts = out.attentions
            n_layers = getattr(hf.config, "num_hidden_layers", None)
            if atts is None or (n_layers and len(atts) != n_layers) or any(a is None for a in atts):
                raise IrlensError("attention order: the backbone returned no attention matrices under eager attention")
            # heads averaged on the device: [B, layers, 1, T, T]
            att = torch.stack([x.mean(1, keepdim=True).double() for x in atts], 1).cpu().numpy() if atts else None
            for j, (i, _, _) in enumerate(chunk):
                L = items[i]["ids"].shape[0]
                mask = batch["attention_mask"][j, :L].cpu().numpy() if "attention_mask" in batch else None
                a = att[j, :, :, :L, :L] if att is not None else np.zeros((0, 1, L, L))
                done[i] = attention_rollout_readout(a, pool, mask)
    return [done[first[it["text"]]] for it in items]


def _embeddings_of_states(ig: BiEncoderIG, items: list[dict], states: list[tuple[int, np.ndarray]]):
    """Sentence embeddings [S, H] of the states (item, token mask: True = baseline row), forward only,
    chunked under ``ig.max_tokens``."""
    import torch

    rows = [(i, 1.0, m) for i, m in states]
    out = []
    with torch.inference_mode():
        for chunk in ig._chunks(rows, items):
            feats, e_rows, _ = ig._rows(chunk, items)
            for j, (i, _, mask) in enumerate(chunk):
                it = items[i]
                L = it["ids"].shape[0]
                m = torch.from_numpy(mask).to(e_rows.device)[:, None]
                e_rows[j, :L] = torch.where(m, it["e0"][0], it["e"][0])
            ig._replace = e_rows
            try:
                out.append(ig.model(feats)["sentence_embedding"])
            finally:
                ig._replace = None
    return torch.cat(out) if out else None


def faithfulness_curves(
    ig: BiEncoderIG,
    pairs: list[dict],
    side: str = "document",
    orders=ORDERS,
    repeats: int = 5,
    seed: int = 0,
    fractions=FRACTIONS,
    min_delta: float = 1e-6,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deletion and insertion curves for ``side`` of each pair.

    ``pairs``: dicts with ``query``, ``document``, ``word_scores`` (IG score of each word in text order, as
    :func:`irlens.ig.words.merge_words` numbers them; needed for the ``ig`` order) and optionally
    ``candidates`` (the query's candidate document texts, the pair's document among them, for ranks) and
    ``meta`` (copied into the summary); ``orders``: any of :data:`ORDERS`. Returns (curves, summary):
    ``curves`` has :data:`CURVE_COLUMNS` (``repeat`` 0 except for ``random``); ``summary`` one row per (pair,
    order, mode) with the AOPC (random: mean over repeats), s(x), s(x′), words, and the rank at x and after
    deleting/inserting the first 10 % of the words."""
    if side not in ("document", "query"):
        raise IrlensError(f"faithfulness side '{side}': choose document or query")
    bad = [o for o in orders if o not in ORDERS]
    if bad:
        raise IrlensError(f"faithfulness order(s) {', '.join(bad)}: choose from {', '.join(ORDERS)}")
    if "random" in orders and repeats < 1:
        raise IrlensError("faithfulness: the random order needs repeats >= 1")
    fractions = [float(f) for f in fractions]
    if not fractions or fractions[0] != 0.0 or fractions[-1] != 1.0 or any(np.diff(fractions) <= 0):
        raise IrlensError("faithfulness fractions must rise strictly from 0 to 1")
    if not pairs:
        return pd.DataFrame(columns=CURVE_COLUMNS), pd.DataFrame()
    import torch

    with ig._hooked():
        items = [ig._prepare(p["query"], p["document"], side) for p in pairs]
        gi = _grad_at_input(ig, items) if "grad_input" in orders else None
        if "attention" in orders:
            t0 = time.perf_counter()
            att = attention_at_input(ig, items)
            log.info(
                "faithfulness: attention rollout of %d texts in %.2f s",
                len({it["text"] for it in items}), time.perf_counter() - t0,
            )  # fmt: skip
        else:
            att = None
        plans = []  # per pair: list of (order, mode, repeat, step, fraction, units, state index)
        states: list[tuple[int, np.ndarray]] = []
        index: dict[tuple[int, bytes], int] = {}
        kept = []
        for i, (p, it) in enumerate(zip(pairs, items)):
            if abs(it["s"] - it["s0"]) < min_delta:
                log.warning(
                    "faithfulness: pair %d skipped: |s(x) - s(x')| = %.2e < %g", i, abs(it["s"] - it["s0"]), min_delta
                )
                plans.append(None)
                continue
            groups = word_groups(it["offsets"], it["special"])
            n = len(groups)
            L = it["ids"].shape[0]
            special_rows = np.asarray(it["special"], dtype=bool)
            same = torch.equal(it["e"][0][torch.from_numpy(special_rows)], it["e0"][0][torch.from_numpy(special_rows)])
            by_order: dict[str, list[np.ndarray]] = {}
            if "ig" in orders:
                ws = p.get("word_scores")
                if ws is None or len(ws) != n:
                    raise IrlensError(
                        f"faithfulness pair {i}: {0 if ws is None else len(ws)} IG word scores for {n} words "
                        "(the words table does not belong to this model, side or text)"
                    )
                by_order["ig"] = [word_order(ws)]
            if gi is not None:
                by_order["grad_input"] = [word_order([gi[i][g].sum() for g in groups])]
            if att is not None:
                by_order["attention"] = [word_order([att[i][g].sum() for g in groups])]
            if "random" in orders:
                by_order["random"] = random_orders(n, repeats, seed + i)
            steps = _steps(n, fractions)
            plan = []
            for order, perms in by_order.items():
                for r, perm in enumerate(perms):
                    for mode in MODES:
                        for step, (f, k) in enumerate(zip(fractions, steps)):
                            changed = np.zeros(L, dtype=bool)
                            for w in perm[:k]:
                                changed[groups[w]] = True
                            if f == 1.0 and not same:
                                changed |= special_rows
                            mask = changed if mode == "deletion" else ~changed
                            key = (i, mask.tobytes())
                            if key not in index:
                                index[key] = len(states)
                                states.append((i, mask))
                            plan.append((order, mode, r, step, f, int(k), index[key]))
            plans.append((plan, n))
            kept.append(i)
        emb = _embeddings_of_states(ig, items, states)
        cand = {}
        for i in kept:
            c = pairs[i].get("candidates")
            if c:
                if pairs[i]["document"] not in c:
                    raise IrlensError(f"faithfulness pair {i}: the document is not among its candidates")
                cand[i] = (_candidate_matrix(ig, c), c.index(pairs[i]["document"]))
        query_emb = {i: ig._encode_fixed(pairs[i]["query"]) for i in cand} if side == "document" else {}
    rows, summary = [], []
    for i in kept:
        plan, n = plans[i]
        it = items[i]
        s, s0 = it["s"], it["s0"]
        idx = np.array([st for *_, st in plan])
        e_i = emb[torch.as_tensor(idx)]
        fixed = it["fixed"][None].to(e_i.dtype)
        sc = ig._score_rows(e_i, fixed).double().cpu().numpy()
        ranks = np.full(len(plan), np.nan)
        if i in cand:
            C, pos = cand[i]
            if side == "document":
                others = np.delete(_scores_against(ig, query_emb[i][None], C)[0].double().cpu().numpy(), pos)
                ranks = 1 + (others[None, :] > sc[:, None]).sum(1)
            else:
                allsc = _scores_against(ig, e_i, C.to(e_i.dtype)).double().cpu().numpy()
                ranks = 1 + (np.delete(allsc, pos, axis=1) > allsc[:, pos : pos + 1]).sum(1)
        for (order, mode, r, step, f, k, _), v, rk in zip(plan, sc, ranks):
            rows.append((i, order, mode, r, step, f, k, float(v), (float(v) - s0) / (s - s0), float(rk)))
    curves = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    for (i, order, mode), g in curves.groupby(["pair", "order", "mode"], sort=False):
        per_rep = [aopc(h["norm"].to_numpy(), mode, h["fraction"].to_numpy()) for _, h in g.groupby("repeat")]
        r0 = g[g["repeat"] == 0]
        at10 = g[np.isclose(g["fraction"], min((f for f in fractions if f > 0), default=1.0))]
        summary.append(
            {
                "pair": i,
                **(pairs[i].get("meta") or {}),
                "side": side,
                "order": order,
                "mode": mode,
                "aopc": float(np.mean(per_rep)),
                "aopc_sd": float(np.std(per_rep, ddof=1)) if len(per_rep) > 1 else 0.0,
                "repeats": len(per_rep),
                "words": plans[i][1],
                "s": items[i]["s"],
                "s0": items[i]["s0"],
                "rank": float(r0["rank"].iloc[0]) if mode == "deletion" else float(r0["rank"].iloc[-1]),
                "rank_first_step": float(at10["rank"].mean()),
            }
        )
    return curves, pd.DataFrame(summary)


def faithfulness_rankings(
    ig: BiEncoderIG,
    ds,
    pairs_table: pd.DataFrame,
    words: pd.DataFrame,
    sides=("document", "query"),
    per_query: int = 5,
    labels: dict | None = None,
    **kw,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`faithfulness_curves` for the IG pairs of a model: per query of ``pairs_table`` (``irlens ig
    pairs``) its first ``per_query`` pairs (best rank over the compared models first; 0 = all), each side's
    ``ig`` order from the model's ``words`` table (``irlens ig attribute``), ranks among the query's pairs
    (the candidates every model attributes). ``labels`` (model, dataset) lead the summary's columns;
    ``kw`` goes to :func:`faithfulness_curves`. Returns (curves, summary) with qid, docid and side."""
    from irlens.data.beir import doc_text

    labels = dict(labels or {})
    need = {"qid", "docid", "side", "word_index", "score"}
    if not need <= set(words.columns):
        raise IrlensError(f"faithfulness: the words table lacks {', '.join(sorted(need - set(words.columns)))}")
    by_key = {k: g.sort_values("word_index")["score"].to_numpy() for k, g in words.groupby(["qid", "docid", "side"])}
    curves, summary = [], []
    for side in sides:
        batch = []
        for qid, sel in pairs_table.sort_values(["qid", "pair"]).groupby("qid", sort=True):
            if qid not in ds.queries:
                raise IrlensError(f"pairs table names query '{qid}', not in queries.jsonl")
            texts = {d: doc_text(ds.corpus[d]) for d in sel["docid"]}
            chosen = sel if per_query <= 0 else sel.head(per_query)
            for _, r in chosen.iterrows():
                ws = by_key.get((qid, r["docid"], side))
                if ws is None:
                    raise IrlensError(
                        f"faithfulness: no IG words for ({qid}, {r['docid']}, {side}); attribute this side first"
                    )
                batch.append(
                    {
                        "query": ds.queries[qid],
                        "document": texts[r["docid"]],
                        "word_scores": ws,
                        "candidates": list(dict.fromkeys(texts.values())),
                        "meta": {**labels, "qid": qid, "docid": r["docid"], "relevant": bool(r["relevant"])},
                    }
                )
        c, s = faithfulness_curves(ig, batch, side=side, **kw)
        if len(c):
            meta = pd.DataFrame([b["meta"] for b in batch])
            c = c.join(meta, on="pair")
            c["side"] = side
            curves.append(c)
            summary.append(s)
    cols = list(labels) + ["qid", "docid", "side"]
    curves_df = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS + cols)
    summary_df = pd.concat(summary, ignore_index=True) if summary else pd.DataFrame()
    if len(curves_df):
        curves_df = curves_df[cols + [c for c in curves_df.columns if c not in cols]]
    return curves_df, summary_df


def faithfulness_table(summary: pd.DataFrame, n_boot: int = 2000, seed: int = 42) -> pd.DataFrame:
    """Per (model, dataset, side, mode): AOPC of each order (per query the mean over its pairs, then the mean
    over queries, percentile bootstrap 95 % CI over queries) and the paired differences ``ig − random``,
    ``ig − grad_input`` and ``ig − attention`` on the same pairs, with their CIs. Columns: model, dataset, side,
    mode, queries, pairs, order / comparison, mean, ci_low, ci_high."""
    from irlens.stats import bootstrap_mean_ci

    rows = []
    keys = [k for k in ("model", "dataset") if k in summary.columns] + ["side", "mode"]
    for key, g in summary.groupby(keys, sort=True):
        wide = g.pivot_table(index=["qid", "docid"], columns="order", values="aopc").reset_index()
        per_q = wide.drop(columns="docid").groupby("qid").mean()
        base = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        base.update(queries=len(per_q), pairs=len(wide))
        for order in [o for o in ORDERS if o in per_q]:
            x = per_q[order].dropna().to_numpy()
            lo, hi = bootstrap_mean_ci(x, n_boot, seed)
            rows.append({**base, "what": order, "mean": float(np.mean(x)), "ci_low": lo, "ci_high": hi})
        for other in ("random", "grad_input", "attention"):
            if "ig" in per_q and other in per_q:
                x = (per_q["ig"] - per_q[other]).dropna().to_numpy()
                lo, hi = bootstrap_mean_ci(x, n_boot, seed)
                rows.append({**base, "what": f"ig − {other}", "mean": float(np.mean(x)), "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def figure_faithfulness(curves: pd.DataFrame, out, title: str = "") -> None:
    """Mean normalised score vs fraction of words deleted / inserted, per order (random: mean over repeats),
    one panel per (model, side, mode)."""
    from irlens.report.figures import pyplot, save_figure

    plt = pyplot()
    keys = [k for k in ("model", "side") if k in curves.columns]
    groups = list(curves.groupby(keys, sort=True)) if len(curves) else []
    n = max(1, len(groups))
    fig, axes = plt.subplots(n, 2, figsize=(8, 2.8 * n), squeeze=False)
    for row, (key, g) in enumerate(groups):
        for col, mode in enumerate(MODES):
            ax = axes[row][col]
            for order, style in (("ig", "o-"), ("grad_input", "s--"), ("attention", "d-."), ("random", "^:")):
                h = g[(g["order"] == order) & (g["mode"] == mode)]
                if len(h):
                    m = h.groupby("fraction")["norm"].mean()
                    ax.plot(m.index, m.values, style, ms=3, label=order)
            ax.set_title(f"{' / '.join(map(str, key if isinstance(key, tuple) else (key,)))}: {mode}", fontsize=9)
            ax.set_xlabel(f"fraction of words {'deleted' if mode == 'deletion' else 'inserted'}")
            ax.set_ylabel("(s − s(x′)) / (s(x) − s(x′))")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, out)
