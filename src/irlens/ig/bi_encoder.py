"""Integrated Gradients for sentence-transformers bi-encoders, one side at a time.

For a pair (q, d) and a score s(q, d) = f(q)·f(d) (``dot``) or cos(f(q), f(d)) (``cos``), the **document
side** holds v = f(q) fixed and attributes s to the document's tokens; the **query side** does the same
with v = f(d) fixed. Like DenseIG and Captum's
LayerIntegratedGradients on ``embeddings``, the path runs in the space of the encoder's embedding-layer
**output** e (word + position + token-type embeddings after LayerNorm), with the attention mask of the
real input:

    e(α) = e′ + α (e − e′),     IG_{t,h} = (e − e′)_{t,h} · ∫₀¹ ∂s(e(α))/∂e_{t,h} dα,

and a token's score is Σ_h IG_{t,h}. Completeness: Σ_{t,h} IG_{t,h} = s(e) − s(e′) up to quadrature
error; that error is measured for every pair and returned (``delta``, ``rel_error``). Interpolating the
embedding output rather than one-hot ids keeps the path inside the space the encoder layers see and is
what the paper's code does.

Baselines e′ (same length and mask as the input):
- ``pad``: ``[CLS] [PAD] … [PAD] [SEP]`` through the embedding layer — the paper's baseline, the default
  (every content token replaced, [UNK] included: it stands for input characters);
- ``pad-all``: every position ``[PAD]``;
- ``mask``: ``[CLS] [MASK] … [MASK] [SEP]``;
- ``zero``: the zero vector at every position of the embedding output.

All interpolation points of one or several pairs go through one batched forward and backward, cut into
chunks of at most ``max_tokens`` padded tokens. Parameters get no gradient; the fixed side is encoded
once under ``inference_mode`` and cached by text.

Quadrature: a fixed rule of ``steps`` nodes (``method``), or, with ``tol`` set, an adaptive composite rule of
3-point Gauss–Lobatto (Simpson) panels: since ∫_a^b ds/dα dα = s(b) − s(a) and a gradient pass at α also
gives s(α), each panel's error is measured at no extra pass, the errors add up to the completeness error,
and the panels with the largest errors are bisected until Σ|panel errors| (``stop="panels"``, the default;
or the completeness error itself, ``stop="completeness"``) meets ``tol · |s(x) − s(x′)|`` (see
:meth:`BiEncoderIG._adaptive`).

Precision: ``precision="bf16"`` runs the gradient passes under bf16 autocast (GPUs); s(x) and s(x′) stay
fp32, so completeness is measured against fp32 scores, and with ``tol`` set a pair that misses it is
integrated again in fp32 (``meta["precision"]`` says which precision a pair's scores come from).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from irlens.attribution.baselines import IG_BASELINES
from irlens.attribution.quadrature import centre_warp, gauss_lobatto, quadrature
from irlens.errors import IrlensError

log = logging.getLogger(__name__)

BASELINES = IG_BASELINES
SIDES = ("query", "document")
SCORES = ("dot", "cos")
PRECISIONS = ("fp32", "bf16")
STOPS = ("completeness", "panels")


@dataclass
class TokenAttribution:
    """IG of one side of one pair. Arrays are over the word pieces the model saw (specials included)."""

    side: str
    text: str
    input_ids: np.ndarray  # int64 [L]
    tokens: list[str]  # [L]
    offsets: np.ndarray  # int64 [L, 2] character spans in ``text``; (0, 0) for special tokens
    special: np.ndarray  # bool [L]  [CLS]/[SEP]/[PAD]…, not [UNK] (:func:`special_token_mask`)
    scores: np.ndarray  # float64 [L]  Σ_h IG_{t,h}
    score: float  # s(x)
    baseline_score: float  # s(x′)
    steps: int
    method: str
    baseline: str
    meta: dict = field(default_factory=dict)

    @property
    def delta(self) -> float:
        """Completeness error Σ attributions − (s(x) − s(x′))."""
        return float(self.scores.sum() - (self.score - self.baseline_score))

    @property
    def rel_error(self) -> float:
        """|delta| / |s(x) − s(x′)| (inf when the baseline leaves the score unchanged)."""
        gap = abs(self.score - self.baseline_score)
        return abs(self.delta) / gap if gap > 0 else float("inf")


class _Stop(Exception):
    pass


def embedding_module(model):
    """The embedding-layer module of a sentence-transformers model's HF backbone (BERT, DistilBERT, MPNet, …)."""
    backbone = getattr(model[0], "auto_model", None)
    emb = getattr(backbone, "embeddings", None)
    if emb is None:
        raise IrlensError(
            f"model {type(backbone).__name__}: no '.embeddings' module to attribute to (IG supports BERT-like encoders)"
        )
    return emb


def special_token_mask(tokenizer, ids: list[int]) -> np.ndarray:
    """bool [L]: the tokenizer's special tokens ([CLS], [SEP], [PAD], …) among ``ids``, **except** [UNK]:
    an [UNK] stands for real input characters (a word the vocabulary cannot spell), so the baselines
    replace it like any content token and :func:`irlens.ig.words.merge_words` keeps it as (part of) a word."""
    mask = np.asarray(tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True), dtype=bool)
    if tokenizer.unk_token_id is not None:
        mask &= np.asarray(ids) != tokenizer.unk_token_id
    return mask


class BiEncoderIG:
    """Integrated Gradients on a loaded sentence-transformers ``model``.

    >>> ig = BiEncoderIG(model, score="cos")
    >>> a = ig.attribute_pair("what causes scurvy", "Vitamin C deficiency ...", side="document")
    >>> a.tokens, a.scores, a.rel_error
    """

    def __init__(
        self,
        model,
        score: str = "dot",
        baseline: str = "pad",
        method: str = "gauss-legendre",
        steps: int = 32,
        tol: float | None = None,
        max_steps: int = 512,
        max_tokens: int = 8192,
        panel_steps: int = 3,
        warp_panels: bool = False,
        progress: bool = False,
        precision: str = "fp32",
        stop: str = "panels",
    ):
        if score not in SCORES:
            raise IrlensError(f"IG score '{score}': choose one of {', '.join(SCORES)}")
        if baseline not in BASELINES:
            raise IrlensError(f"IG baseline '{baseline}': choose one of {', '.join(BASELINES)}")
        quadrature(method, steps)  # validates method and steps
        self.model, self.score_fn, self.baseline, self.method = model, score, baseline, method
        self.steps, self.tol, self.max_steps, self.max_tokens = int(steps), tol, int(max_steps), int(max_tokens)
        self.panel_steps, self.warp_panels = int(panel_steps), bool(warp_panels)
        if tol is not None and self.panel_steps < 2:
            raise IrlensError(f"IG panel_steps {panel_steps}: a Gauss–Lobatto panel needs at least 2 points")
        self.progress = progress
        if precision not in PRECISIONS:
            raise IrlensError(f"IG precision '{precision}': choose one of {', '.join(PRECISIONS)}")
        self.precision = precision
        self._precision_now = "fp32"
        if stop not in STOPS:
            raise IrlensError(f"IG stop '{stop}': choose one of {', '.join(STOPS)}")
        self.stop = stop
        self.tokenizer = model.tokenizer
        self.emb = embedding_module(model)
        self._fixed_cache: dict[str, object] = {}
        self._replace = None
        self._capture = None
        if baseline in ("pad", "pad-all") and self.tokenizer.pad_token_id is None:
            raise IrlensError(
                "tokenizer has no pad token: the 'pad' baselines are undefined for this model; "
                "use --baseline zero or mask"
            )
        if baseline == "mask" and self.tokenizer.mask_token_id is None:
            raise IrlensError(
                "tokenizer has no mask token: the 'mask' baseline is undefined for this model; "
                "use --baseline pad or zero"
            )

    # ---- model plumbing -------------------------------------------------------------------------
    def _hook(self, module, inputs, output):
        if self._capture is not None:
            self._capture.append(output.detach())
            raise _Stop
        if self._replace is not None:
            return self._replace
        return output

    def _device(self):
        return self.model.device

    def _features(self, text: str) -> dict:
        if not isinstance(text, str) or not text.strip():
            raise IrlensError("IG: empty text; every query and document must contain words")
        feats = self.model.preprocess([text])
        return {k: (v.to(self._device()) if hasattr(v, "to") else v) for k, v in feats.items()}

    def _encode_fixed(self, text: str):
        import torch

        if text not in self._fixed_cache:
            feats = self._features(text)
            with torch.inference_mode():
                v = self.model(feats)["sentence_embedding"][0]
            self._fixed_cache[text] = v.clone()
        return self._fixed_cache[text]

    def _embed(self, feats: dict):
        """Embedding-layer output [1, L, H] for ``feats`` (the encoder layers are not run)."""
        import torch

        self._capture = []
        try:
            with torch.inference_mode():
                self.model(feats)
        except _Stop:
            pass
        finally:
            out, self._capture = self._capture, None
        return out[0].clone()

    def _baseline_ids(self, ids, special: np.ndarray):
        """Baseline ids: special tokens kept for ``pad``/``mask`` ([UNK] is content, see
        :func:`special_token_mask`), everything replaced for ``pad-all``."""
        import torch

        tok = self.tokenizer
        b = ids.clone()
        if self.baseline == "pad-all":
            b[:] = tok.pad_token_id
        else:
            fill = tok.pad_token_id if self.baseline == "pad" else tok.mask_token_id
            b[~torch.from_numpy(special).to(b.device)] = fill
        return b

    def _score_rows(self, emb, fixed):
        import torch

        if self.score_fn == "cos":
            return torch.nn.functional.cosine_similarity(emb, fixed, dim=-1)
        return (emb * fixed).sum(-1)

    def _forward_rows(self, feats: dict, e_rows, fixed_rows):
        self._replace = e_rows
        try:
            out = self.model(feats)["sentence_embedding"]
        finally:
            self._replace = None
        return self._score_rows(out, fixed_rows)

    # ---- public API -----------------------------------------------------------------------------
    def attribute_pair(self, query: str, document: str, side: str = "document", **meta) -> TokenAttribution:
        """IG of one side of one (query, document) pair."""
        return self.attribute([(query, document)], side=side, meta=[meta])[0]

    def attribute(
        self, pairs: list[tuple[str, str]], side: str = "document", meta: list[dict] | None = None
    ) -> list[TokenAttribution]:
        """IG of ``side`` for every (query, document) pair; all pairs share batched forward/backward passes."""
        if side not in SIDES:
            raise IrlensError(f"IG side '{side}': choose one of {', '.join(SIDES)}")
        meta = meta or [{} for _ in pairs]
        with self._hooked():
            items = [self._prepare(q, d, side) for q, d in pairs]
            token_scores, steps, converged = self._paths(items, self.precision)
            used = [self.precision] * len(items)
            if self.precision != "fp32" and self.tol is not None:
                # bf16 passes, fp32 ends: a pair that misses tol is integrated again in fp32
                redo = [i for i, it in enumerate(items) if not self._complete(it, token_scores[i])]
                if redo:
                    log.info("IG %s: %d of %d pairs miss tol, redone in fp32", self.precision, len(redo), len(items))
                    again = self._paths([items[i] for i in redo], "fp32")
                    for k, i in enumerate(redo):
                        token_scores[i], steps[i], converged[i] = again[0][k], steps[i] + again[1][k], again[2][k]
                        used[i] = "fp32"
            out = []
            for i, it in enumerate(items):
                scores = token_scores[i]
                a = TokenAttribution(
                    side=side,
                    text=it["text"],
                    input_ids=it["ids"].cpu().numpy(),
                    tokens=it["tokens"],
                    offsets=it["offsets"],
                    special=it["special"],
                    scores=scores,
                    score=it["s"],
                    baseline_score=it["s0"],
                    steps=int(steps[i]),
                    method=self.method if self.tol is None else f"gauss-lobatto-{self.panel_steps}-adaptive",
                    baseline=self.baseline,
                    meta=dict(meta[i]),
                )
                a.meta["converged"] = bool(converged[i] and (self.tol is None or a.rel_error <= self.tol))
                a.meta["precision"] = used[i]
                out.append(a)
            return out

    def _paths(self, items: list[dict], precision: str):
        """Token scores, steps and convergence of every item, with passes in ``precision``."""
        self._precision_now = precision
        try:
            if self.tol is not None:
                return self._adaptive(items)
            grads = self._integrate([(i, 0.0, 1.0) for i in range(len(items))], items, self.steps)
            scores = [((it["e"] - it["e0"]) * g).sum(-1)[0].double().cpu().numpy() for it, g in zip(items, grads)]
            return scores, [self.steps] * len(items), [True] * len(items)
        finally:
            self._precision_now = "fp32"

    def _complete(self, it: dict, scores: np.ndarray) -> bool:
        gap = abs(it["s"] - it["s0"])
        return gap > 0 and abs(scores.sum() - (it["s"] - it["s0"])) <= self.tol * gap

    def _autocast(self):
        """bf16 autocast for the gradient passes when asked; the end scores s(x), s(x′) stay fp32."""
        import torch

        if self._precision_now == "bf16":
            return torch.autocast(device_type=self._device().type, dtype=torch.bfloat16)
        from contextlib import nullcontext

        return nullcontext()

    def attribute_query_ranking(self, query: str, documents: list[str], **meta) -> TokenAttribution:
        """Σ over ``documents`` of the query-side IG of (query, d), computed with **one** IG instead of one per
        document.

        The query side holds each document's embedding fixed, and the score is linear in it: s = f(q)·f(d)
        (``dot``) or f(q)/‖f(q)‖ · f(d)/‖f(d)‖ (``cos``). IG is linear in the fixed vector too (its gradients
        are), so Σ_d IG(q; f(d)) = IG(q; Σ_d f(d)) for ``dot`` and ‖S‖ · IG_cos(q; S) with S = Σ_d f(d)/‖f(d)‖
        for ``cos`` — exact for a fixed rule (the same nodes serve every document); with ``tol`` the summed
        score meets ``tol``. ``score`` / ``baseline_score`` are the summed s(x) and s(x′)."""
        import torch

        if not documents:
            raise IrlensError("attribute_query_ranking: give at least one document")
        with self._hooked():
            vecs = torch.stack([self._encode_fixed(d) for d in documents])
            if self.score_fn == "cos":
                vecs = vecs / torch.linalg.vector_norm(vecs, dim=-1, keepdim=True)
            total = vecs.sum(0)
            scale = float(torch.linalg.vector_norm(total)) if self.score_fn == "cos" else 1.0
            key = f"\x00ranking:{len(self._fixed_cache)}"  # a cache slot no text can hit
            self._fixed_cache[key] = total
            try:
                (a,) = self.attribute([(query, key)], side="query", meta=[meta])
            finally:
                self._fixed_cache.pop(key, None)
        a.scores = a.scores * scale
        a.score, a.baseline_score = a.score * scale, a.baseline_score * scale
        a.meta["documents"] = len(documents)
        return a

    def endpoint_scores(self, pairs: list[tuple[str, str]], side: str = "document") -> list[tuple[float, float]]:
        """(s(x), s(x′)) for each pair: how far the baseline moves the score (forward passes only)."""
        if side not in SIDES:
            raise IrlensError(f"IG side '{side}': choose one of {', '.join(SIDES)}")
        with self._hooked():
            return [(it["s"], it["s0"]) for it in (self._prepare(q, d, side) for q, d in pairs)]

    # ---- internals ------------------------------------------------------------------------------
    @contextmanager
    def _hooked(self):
        """Embedding hook installed and parameter gradients off for the duration; both restored after."""
        handle = self.emb.register_forward_hook(self._hook)
        flags = [p.requires_grad for p in self.model.parameters()]
        for p in self.model.parameters():
            p.requires_grad_(False)
        try:
            yield
        finally:
            handle.remove()
            for p, f in zip(self.model.parameters(), flags):
                p.requires_grad_(f)

    def _prepare(self, query: str, document: str, side: str) -> dict:
        import torch

        text, other = (query, document) if side == "query" else (document, query)
        fixed = self._encode_fixed(other)
        feats = self._features(text)
        ids = feats["input_ids"][0]
        enc = self.tokenizer(
            text, truncation=True, max_length=ids.shape[0], return_offsets_mapping=True, add_special_tokens=True
        )
        if list(enc["input_ids"]) != ids.tolist():
            raise IrlensError(
                "IG: the tokenizer's offsets do not match the model's input ids "
                "(models with prompts or custom preprocessing are not supported)"
            )
        offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
        special = special_token_mask(self.tokenizer, ids.tolist())
        e = self._embed(feats)
        if self.baseline == "zero":
            e0 = torch.zeros_like(e)
        else:
            bfeats = dict(feats)
            bfeats["input_ids"] = self._baseline_ids(ids, special)[None]
            e0 = self._embed(bfeats)
        with torch.inference_mode():
            self._replace = torch.cat([e, e0])
            try:
                two = {k: (v.expand(2, *v.shape[1:]) if torch.is_tensor(v) else v) for k, v in feats.items()}
                s = self._score_rows(self.model(two)["sentence_embedding"], fixed[None])
            finally:
                self._replace = None
        return {
            "text": text,
            "feats": feats,
            "ids": ids,
            "e": e,
            "e0": e0,
            "fixed": fixed,
            "s": float(s[0]),
            "s0": float(s[1]),
            "tokens": self.tokenizer.convert_ids_to_tokens(ids.tolist()),
            "offsets": offsets,
            "special": special,
        }

    def _adaptive(self, items: list[dict]):
        """Composite Gauss–Lobatto quadrature refined where it is wrong; returns per-token IG scores.

        Panels carry ``panel_steps`` Gauss–Lobatto nodes with both ends among them, so neighbouring panels
        share their end points, and the forward half of each gradient pass at α also gives s(e(α)). Since
        ∫_a^b ds/dα dα = s(b) − s(a), every panel's error e_p = Q_p − (s(b) − s(a)) is *measured*, at no
        extra pass; and Σ_p e_p = Σ IG − (s(x) − s(x′)) is the completeness error itself. Start from
        ``steps`` points (``(steps − 1) / (panel_steps − 1)`` equal panels, at least one); while the
        error measure exceeds tol · |s(x) − s(x′)| — ``stop="panels"`` (default): Σ_p |e_p|, a bound on the
        completeness error that every panel must help meet; ``stop="completeness"``: |Σ_p e_p| itself,
        cheaper but panel errors may cancel — bisect the panels with the largest |e_p| (greedily, until the
        panels left alone hold at most half of the budget) — a bisected panel keeps its end points (and, for
        odd ``panel_steps``, its middle one: with the default 3 nothing is ever thrown away). A converged pair
        meets ``tol`` by construction. Pairs stop at ``max_steps`` gradient evaluations (flagged not
        converged). Only the token scores Σ_h (e − e′)·∂s/∂e at each point are kept, not the gradients.
        With ``warp_panels`` the initial panel edges are mapped by
        :func:`irlens.attribution.quadrature.centre_warp` (narrower panels mid-path).
        """
        import torch

        m = self.panel_steps
        unit, wts = gauss_lobatto(m)
        n0 = max(1, round((self.steps - 1) / (m - 1)))
        edges = np.linspace(0.0, 1.0, n0 + 1)
        if self.warp_panels:
            edges = centre_warp(edges)
        edges[0], edges[-1] = 0.0, 1.0

        def nodes(a: float, b: float) -> list[float]:
            xs = [a + (b - a) * float(t) for t in unit]
            xs[0], xs[-1] = a, b
            if m % 2:
                xs[m // 2] = 0.5 * (a + b)  # the middle node is the children's shared end point
            return xs

        r_at = [{} for _ in items]  # α -> token scores Σ_h (e − e′)·∂s/∂e at e(α), float64 [L]
        s_at = [{0.0: it["s0"], 1.0: it["s"]} for it in items]  # α -> s(e(α)); the reported ends define completeness
        panels: list[dict] = [{} for _ in items]  # (a, b) -> signed error e_p
        converged = [False] * len(items)
        todo = [(i, float(a), float(b)) for i in range(len(items)) for a, b in zip(edges[:-1], edges[1:])]
        bar = self._bar("IG points")
        while todo:
            need = sorted({(i, x) for i, a, b in todo for x in nodes(a, b) if x not in r_at[i]})
            for chunk in self._chunks([(i, x, None) for i, x in need], items):
                feats, e_rows, fixed = self._rows(chunk, items)
                e_rows.requires_grad_(True)
                with torch.enable_grad(), self._autocast():
                    s = self._forward_rows(feats, e_rows, fixed)
                    (g,) = torch.autograd.grad(s.sum(), e_rows)
                s = s.detach().double().cpu()
                for j, (i, x, _) in enumerate(chunk):
                    it = items[i]
                    L = it["ids"].shape[0]
                    r_at[i][x] = ((it["e"][0] - it["e0"][0]) * g[j, :L]).sum(-1).double().cpu().numpy()
                    if x not in (0.0, 1.0):
                        s_at[i][x] = float(s[j])
                bar.update(len(chunk))
            for i, a, b in todo:
                q = (b - a) * sum(w * r_at[i][x].sum() for w, x in zip(wts, nodes(a, b)))
                panels[i][(a, b)] = float(q - (s_at[i][b] - s_at[i][a]))
            pending = sorted({i for i, _, _ in todo})
            todo = []
            for i in pending:
                it = items[i]
                budget = self.tol * abs(it["s"] - it["s0"])
                err = (
                    abs(sum(panels[i].values()))
                    if self.stop == "completeness"
                    else sum(abs(e) for e in panels[i].values())
                )
                if err <= budget:
                    converged[i] = True
                    continue
                errs = sorted(panels[i].items(), key=lambda kv: -abs(kv[1]))
                left, split, fresh = sum(abs(e) for _, e in errs), [], 0
                for (a, b), e in errs:
                    new = sum(x not in r_at[i] for x in nodes(a, 0.5 * (a + b)) + nodes(0.5 * (a + b), b))
                    if split and left <= 0.5 * budget or len(r_at[i]) + fresh + new > self.max_steps:
                        break
                    split.append((a, b))
                    left -= abs(e)
                    fresh += new
                for a, b in split:
                    del panels[i][(a, b)]
                    mid = 0.5 * (a + b)
                    todo += [(i, a, mid), (i, mid, b)]
        bar.close()
        scores = []
        for i in range(len(items)):
            acc = np.zeros(items[i]["ids"].shape[0])
            for a, b in panels[i]:
                for w, x in zip(wts, nodes(a, b)):
                    acc += (b - a) * w * r_at[i][x]
            scores.append(acc)
        return scores, [len(r) for r in r_at], converged

    def _bar(self, desc: str):
        from tqdm import tqdm

        return tqdm(desc=desc, disable=not self.progress, leave=False)

    def _chunks(self, rows, items):
        """Consecutive slices of ``rows`` whose rows × longest sequence stays within ``max_tokens``."""
        pos = 0
        while pos < len(rows):
            end, longest = pos, 0
            while end < len(rows):
                L = items[rows[end][0]]["ids"].shape[0]
                if end > pos and max(longest, L) * (end - pos + 1) > self.max_tokens:
                    break
                longest = max(longest, L)
                end += 1
            yield rows[pos:end]
            pos = end

    def _rows(self, chunk, items):
        """Batch tensors for rows (item, α, ·): padded features, interpolated embeddings, fixed vectors."""
        import torch

        longest = max(items[i]["ids"].shape[0] for i, _, _ in chunk)
        ref = items[chunk[0][0]]
        r, H, dtype = len(chunk), ref["e"].shape[-1], ref["e"].dtype
        e_rows = torch.zeros(r, longest, H, dtype=dtype, device=self._device())
        feats = {
            k: (torch.zeros(r, longest, dtype=v.dtype, device=v.device) if torch.is_tensor(v) else v)
            for k, v in ref["feats"].items()
        }
        for j, (i, alpha, _) in enumerate(chunk):
            it = items[i]
            L = it["ids"].shape[0]
            e_rows[j, :L] = it["e0"][0] + alpha * (it["e"][0] - it["e0"][0])
            for k, v in it["feats"].items():
                if torch.is_tensor(v):
                    feats[k][j, :L] = v[0]
        fixed = torch.stack([items[i]["fixed"] for i, _, _ in chunk]).to(dtype)
        return feats, e_rows, fixed

    def _integrate(self, panels: list[tuple[int, float, float]], items: list[dict], n: int) -> list:
        """For each panel (item, a, b): Σ_k w_k ∂s/∂e(α_k) over ``n`` nodes of the rule mapped to [a, b]
        (``[1, L, H]``)."""
        import torch
        from tqdm import tqdm

        nodes, weights = quadrature(self.method, n)
        rows = [(p, a + (b - a) * x, (b - a) * w) for p, (_, a, b) in enumerate(panels) for x, w in zip(nodes, weights)]
        acc = [torch.zeros_like(items[i]["e"]) for i, _, _ in panels]
        bar = tqdm(total=len(rows), desc="IG points", disable=not self.progress, leave=False)
        for chunk in self._chunks([(panels[p][0], x, (p, w)) for p, x, w in rows], items):
            feats, e_rows, fixed = self._rows(chunk, items)
            e_rows.requires_grad_(True)
            with torch.enable_grad(), self._autocast():
                s = self._forward_rows(feats, e_rows, fixed)
                (g,) = torch.autograd.grad(s.sum(), e_rows)
            for j, (i, _, (p, w)) in enumerate(chunk):
                L = items[i]["ids"].shape[0]
                acc[p][0] += w * g[j, :L]
            bar.update(len(chunk))
        bar.close()
        return acc
