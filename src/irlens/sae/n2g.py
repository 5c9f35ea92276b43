"""N2G-style explanations of SAE latents over *pooled* text embeddings (Foote et al. 2023, adapted).

N2G explains a neuron of a language model by the token patterns that make it fire. For a latent of an
SAE over a retriever's pooled embedding there is no "activating token": a text has one activation per
latent. So every step works on whole texts, re-encoded through the retriever and the SAE,
with words (not word pieces) as units:

1. **Examples**: the ``n`` documents on which the latent fires most (its top-activating documents).
2. **Prune**: split an example into sentences and keep the single sentence with the largest activation
   when it keeps at least ``prune_keep`` (50 %, as N2G) of the full text's activation; else the text
   cut to ``max_words`` words.
3. **Saliency**: drop each word of the pruned text in turn and re-encode;
   ``saliency(w) = 1 − act(text without w) / act(text)``. The ``top_words`` most salient words with
   saliency ≥ ``min_saliency`` form the example's *pattern* (a set of words).
4. **Explanation**: the patterns of all examples (N2G's trie, flattened: a pooled embedding has no word
   order to branch on). A text is predicted to fire when it contains every word of some pattern.
5. **Score** at the latent's real base rate (:func:`score_base_rate`): over every document except the
   ``n`` examples, precision = P(latent fires | the explanation fires), recall = P(explanation fires |
   latent fires), with the base rate (share of documents on which the latent fires) beside them. A latent
   fires on ~1–2 % of documents, so this precision is far below the balanced estimate N2G reports:
   positives = the next ``n_eval`` firing documents (ranks ``n+1 …``), negatives = as many random
   non-firing ones (seeded), kept as ``precision_balanced`` / ``recall_balanced`` / ``f1_balanced``.

The activation used for pruning and saliency is ``ReLU(a_i)`` with ``a = W_enc (x − b_pre) + b_enc`` (the
latent's pre-activation, smooth in the input); "fires" for the held-out truth means the latent is
among the document's top-k codes, as in latent retrieval.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import torch

from irlens.sae.model import TopKSAE

_SENT = re.compile(r"(?<=[.!?;])\s+")


def activation_fn(encoder, sae: TopKSAE, batch: int = 64) -> Callable[[list[str]], np.ndarray]:
    """``texts → ReLU(pre-activations) [n, L]`` through a loaded sentence-transformers ``encoder`` and ``sae``."""
    from irlens.retrieval.encode import encode_texts

    def fn(texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, sae.cfg.n_latents), np.float32)
        x = encode_texts(encoder, texts, max_batch=batch, progress=False)
        with torch.no_grad():
            return torch.relu(sae.pre_activations(torch.from_numpy(x))).numpy()

    return fn


def split_words(text: str) -> list[str]:
    """The words of ``text`` (whitespace-separated, as N2G deletes them)."""
    return text.split()


def word_key(word: str) -> str:
    """A word as patterns match it: lower case, punctuation other than ``-`` removed."""
    return re.sub(r"[^\w\-]", "", word.lower())


def explain_latent(
    latent: int,
    texts: list[str],
    act: Callable[[list[str]], np.ndarray],
    max_words: int = 64,
    prune_keep: float = 0.5,
    top_words: int = 2,
    min_saliency: float = 0.05,
) -> dict:
    """The explanation of ``latent`` from its top-activating ``texts`` (steps 1–4 of the module docstring).

    Returns ``{"patterns": [[word, ...], ...],
    "examples": [{"text", "pruned", "activation", "saliency": [[word, s], ...]}]}``.
    """
    examples, patterns = [], []
    for text in texts:
        words = split_words(text)[:max_words]
        full = " ".join(words)
        sents = [s for s in _SENT.split(full) if s.strip()]
        a = act([full] + (sents if len(sents) > 1 else []))[:, latent]
        base = float(a[0])
        pruned = full
        if len(sents) > 1 and base > 0:
            j = int(np.argmax(a[1:]))
            if a[1 + j] >= prune_keep * base:
                pruned, base = sents[j], float(a[1 + j])
        pw = split_words(pruned)
        if base <= 0 or not pw:
            examples.append({"text": text[:300], "pruned": pruned, "activation": base, "saliency": []})
            continue
        drop = (
            act([" ".join(pw[:i] + pw[i + 1 :]) for i in range(len(pw))])[:, latent]
            if len(pw) > 1
            else np.zeros(1, np.float32)
        )
        sal = 1.0 - drop / base
        order = np.argsort(-sal, kind="stable")
        pat, seen = [], set()
        for i in order:
            k = word_key(pw[i])
            if sal[i] < min_saliency or len(pat) >= top_words:
                break
            if k and k not in seen:
                pat.append(k)
                seen.add(k)
        if pat:
            patterns.append(sorted(pat))
        examples.append(
            {
                "text": text[:300],
                "pruned": pruned,
                "activation": base,
                "saliency": [[pw[i], round(float(sal[i]), 4)] for i in order[:8]],
            }
        )
    uniq = sorted({tuple(p) for p in patterns})
    return {"patterns": [list(p) for p in uniq], "examples": examples}


def word_sets(texts: list[str]) -> list[set[str]]:
    """The normalised words of each text (what :func:`predict` matches patterns against)."""
    return [{word_key(w) for w in t.split()} for t in texts]


def predict(patterns: list[list[str]], texts: list[str] | list[set[str]]) -> np.ndarray:
    """``bool [n]``: the text (or its :func:`word_sets`) contains every word of at least one pattern."""
    out = np.zeros(len(texts), bool)
    for j, t in enumerate(texts):
        words = t if isinstance(t, set) else {word_key(w) for w in t.split()}
        out[j] = any(all(w in words for w in p) for p in patterns)
    return out


def score_base_rate(patterns: list[list[str]], words: list[set[str]], fires: np.ndarray, exclude=()) -> dict:
    """Precision / recall / F1 of :func:`predict` over every document (``words``: their :func:`word_sets`,
    ``fires``: ``bool [n]`` the latent fires on each) but the rows ``exclude`` (the examples the patterns
    came from): precision at the real base rate, which is returned beside it (``base_rate``: share of
    those documents on which the latent fires; ``pattern_rate``: share on which the explanation fires)."""
    keep = np.ones(len(words), bool)
    keep[np.asarray(list(exclude), dtype=np.int64)] = False
    pred = predict(patterns, [w for w, k in zip(words, keep) if k])
    truth = np.asarray(fires, bool)[keep]
    tp = int((pred & truth).sum())
    prec = tp / int(pred.sum()) if pred.any() else 0.0
    rec = tp / int(truth.sum()) if truth.any() else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    n = int(keep.sum())
    return {
        "precision": prec,
        "recall": rec,
        "f1": f1,
        "base_rate": float(truth.mean()) if n else 0.0,
        "pattern_rate": float(pred.mean()) if n else 0.0,
        "documents": n,
    }


def score_explanation(patterns: list[list[str]], pos_texts: list[str], neg_texts: list[str]) -> dict:
    """Precision / recall / F1 of :func:`predict` with ``pos_texts`` firing and ``neg_texts`` not."""
    p = predict(patterns, pos_texts)
    n = predict(patterns, neg_texts)
    tp, fp = int(p.sum()), int(n.sum())
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / len(pos_texts) if pos_texts else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f1": f1, "positives": len(pos_texts), "negatives": len(neg_texts)}


def held_out_rows(
    doc_vals: np.ndarray, doc_idx: np.ndarray, latent: int, skip: int, n_eval: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``(positive rows, negative rows)``: documents ranked ``skip+1 … skip+n_eval`` by the latent's activation,
    and as many random documents on which it does not fire."""
    rows, cols = np.nonzero((doc_idx == latent) & (doc_vals > 0))
    v = doc_vals[rows, cols]
    ranked = rows[np.lexsort((rows, -v))]
    pos = ranked[skip : skip + n_eval]
    never = np.setdiff1d(np.arange(len(doc_vals)), rows)
    neg = (
        rng.choice(never, size=min(len(pos), len(never)), replace=False)
        if len(pos) and len(never)
        else np.zeros(0, np.int64)
    )
    return pos, np.sort(neg)


def add_explanations(
    records: list[dict],
    act: Callable[[list[str]], np.ndarray],
    texts: list[str],
    doc_ids: list[str],
    doc_vals: np.ndarray,
    doc_idx: np.ndarray,
    n_examples: int = 5,
    n_eval: int = 20,
    seed: int = 0,
) -> None:
    """Add ``record["n2g"]`` (:func:`explain_latent` on its first ``n_examples`` top documents) to each latent
    record of :func:`irlens.sae.interpret.describe_latents`. Its ``score`` is :func:`score_base_rate` over
    every other document (precision at the real base rate, ``base_rate`` beside it) plus the balanced
    estimate (:func:`score_explanation` on :func:`held_out_rows`) as ``*_balanced``; ``texts`` are the
    documents of ``doc_ids``, ``act`` comes from :func:`activation_fn`, ``seed`` draws the negatives."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    words = word_sets(texts)
    row_of = {d: i for i, d in enumerate(doc_ids)}
    for r in tqdm(records, desc="N2G", unit="latent", mininterval=10):
        rows = [row_of[d["id"]] for d in r["top_documents"][:n_examples]]
        ex = explain_latent(r["latent"], [texts[i] for i in rows], act)
        fires = ((doc_idx == r["latent"]) & (doc_vals > 0)).any(1)
        score = score_base_rate(ex["patterns"], words, fires, exclude=rows)
        pos, neg = held_out_rows(doc_vals, doc_idx, r["latent"], n_examples, n_eval, rng)
        bal = score_explanation(ex["patterns"], [texts[i] for i in pos], [texts[i] for i in neg])
        score.update({f"{k}_balanced": bal[k] for k in ("precision", "recall", "f1")})
        score.update(positives=bal["positives"], negatives=bal["negatives"])
        ex["score"] = score
        r["n2g"] = ex


def mean_scores(records: list[dict]) -> dict | None:
    """Mean precision, recall and F1 of the records' N2G scores (:func:`add_explanations`; at the real base
    rate), the mean base rate and the balanced estimates; ``None`` when no record has one."""
    scores = [r["n2g"]["score"] for r in records if "n2g" in r]
    if not scores:
        return None
    keys = ("precision", "recall", "f1", "base_rate", "precision_balanced", "recall_balanced", "f1_balanced")
    return {k: float(np.mean([s[k] for s in scores])) for k in keys if all(k in s for s in scores)}
