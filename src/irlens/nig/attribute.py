"""Neuron Integrated Gradients (total conductance) of every Linear output of a cross-encoder, in one pass.

Notation: x = the input's word embeddings, x′ = a baseline, x(α) = x′ + α(x − x′),
F = the probability of the target label, y = one output unit of a hooked Linear at one token. The
conductance of y (Dhamdhere et al. 2018) is a path integral of ∂F/∂y along the curve y(x(α)) traces:

    NIG^y = ∫₀¹ ∂F/∂y(x(α)) · dy(x(α))/dα dα,

and a *neuron* (the paper's §3.2) is a unit summed over the non-padding tokens of the pair. Shrikumar et
al. (1807.09946) discretise it as a Stieltjes sum, so no per-neuron ∂y/∂x is needed: one batched forward
over the interpolation points with forward hooks on every Linear, and **one** ``autograd.grad`` of ΣF
with respect to all hooked outputs, give ∂F/∂y and y at every point for every layer at once. The cost
does not grow with the number of hooked modules.

On the uniform grid α_k = k/N (k = 0…N, both ends included, N + 1 forward/backward points):

- ``left``   Σ_k g_k · (y_{k+1} − y_k)                  first order; Captum LayerConductance with
                                                         ``riemann_trapezoid`` computes exactly this;
- ``right``  Σ_k g_{k+1} · (y_{k+1} − y_k)              first order (the research group's code);
- ``trapezoid`` Σ_k ½(g_k + g_{k+1}) · (y_{k+1} − y_k)  second order, same points, no extra cost;
- ``richardson`` (4·T_N − T_{N/2}) / 3 where T is the trapezoid sum on the grid and on every second
  point of it. The trapezoid Stieltjes error expands in even powers of 1/N (each segment's error is
  odd in h), so this removes the h² term: fourth order, still on the same N + 1 points (N even).

Completeness is checked on cuts: every path from the embeddings to F passes through each encoder
layer's output h_ℓ, so Σ_{t,u} NIG^{h_ℓ} = F(x) − F(x′) up to quadrature error. The error is returned for
every pair and layer (``cut_delta``). Single q/k/v/FFN Linears are not cuts (residual connections bypass
them), so their sums are not expected to match.

Interpolation happens in word-embedding space (the HF model's ``get_input_embeddings()`` output);
position and token-type embeddings are added afterwards by the embedding module, as in the paper's code.
Baselines (the paper's Table 1):

- ``pad-all``   every token → the [PAD] embedding (the paper's choice, the default);
- ``pad-query`` query tokens → [PAD], [CLS]/[SEP] and the document kept;
- ``pad``       every token but [CLS]/[SEP] → [PAD];
- ``zero-all`` / ``zero-query``  the same with zero vectors.

Long paths are streamed: the N + 1 points are cut into chunks of at most ``max_tokens`` padded tokens
and the last point of a chunk (y and ∂F/∂y) is carried into the next, so memory stays at one chunk.
Parameters get no gradient.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from irlens.attribution.baselines import NIG_BASELINES
from irlens.attribution.neurons import COMPONENTS, encoder_layers, neuron_layout
from irlens.attribution.quadrature import STIELTJES_RULES, stieltjes_window_matrix
from irlens.errors import IrlensError

log = logging.getLogger(__name__)

BASELINES = NIG_BASELINES
RULES = STIELTJES_RULES
LABELS = ("relevant", "non-relevant")


@dataclass
class NIGResult:
    """NIG of a batch of pairs. ``values[b]`` is the neuron vector of pair b (see :func:`neuron_table`)."""

    values: np.ndarray  # float64 [B, n_neurons]  conductance summed over non-padding tokens
    f_input: np.ndarray  # float64 [B]  F(x)
    f_baseline: np.ndarray  # float64 [B]  F(x′)
    cut_sum: np.ndarray  # float64 [B, L]  Σ_{t,u} conductance of each encoder layer's output
    steps: int
    rule: str
    baseline: str
    targets: np.ndarray  # int64 [B]  1 = relevant, 0 = non-relevant
    meta: dict = field(default_factory=dict)

    @property
    def cut_delta(self) -> np.ndarray:
        """Completeness error per pair and layer: Σ conductance(h_ℓ) − (F(x) − F(x′))."""
        return self.cut_sum - (self.f_input - self.f_baseline)[:, None]

    @property
    def rel_error(self) -> np.ndarray:
        """max_ℓ |cut_delta| / |F(x) − F(x′)| per pair."""
        gap = np.abs(self.f_input - self.f_baseline)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(gap > 0, np.abs(self.cut_delta).max(axis=1) / gap, np.inf)


def target_probability(logits, targets, relevant_label: int = 1):
    """F per row: probability of the row's target label (1 = relevant, 0 = non-relevant).

    2-logit heads: softmax over the logits, ``relevant_label`` is "relevant" and the other index
    "non-relevant". 1-logit heads: σ(z) is the probability of "relevant" and 1 − σ(z) of "non-relevant".
    """
    import torch

    if logits.shape[-1] == 1:
        p_rel = torch.sigmoid(logits[:, 0])
        return torch.where(targets == 1, p_rel, 1.0 - p_rel)
    if logits.shape[-1] != 2:
        raise IrlensError(
            f"cross-encoder head with {logits.shape[-1]} logits: NIG needs 1 (relevance logit) or 2 (non-relevant, "
            "relevant)"
        )
    p = torch.softmax(logits, dim=-1)
    return torch.where(targets == 1, p[:, relevant_label], p[:, 1 - relevant_label])


def query_positions(input_ids, sep_token_id: int):
    """bool [B, T]: positions of query tokens in ``[CLS] q [SEP] d [SEP]`` (between the first two specials)."""
    import torch

    is_sep = input_ids == sep_token_id
    first_sep = torch.where(is_sep.any(1), is_sep.float().argmax(1), torch.zeros_like(input_ids[:, 0]))
    pos = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]
    return (pos >= 1) & (pos < first_sep[:, None])  # [CLS] sits at position 0


def baseline_embeddings(
    kind: str, input_ids, embeddings, word_embedding, pad_token_id: int, sep_token_id: int, special_ids=()
):
    """Baseline word embeddings x′ [B, T, H] for ``kind`` (see module docstring), same shape as ``embeddings``."""
    import torch

    if kind not in BASELINES:
        raise IrlensError(f"NIG baseline '{kind}': choose one of {', '.join(BASELINES)}")
    if kind.startswith("pad"):
        filler = word_embedding(torch.full_like(input_ids[:, :1], pad_token_id)).expand_as(embeddings)
    else:
        filler = torch.zeros_like(embeddings)
    if kind.endswith("-all"):
        replace = torch.ones_like(input_ids, dtype=torch.bool)
    elif kind.endswith("-query"):
        replace = query_positions(input_ids, sep_token_id)
    else:  # pad: everything except special tokens
        replace = torch.ones_like(input_ids, dtype=torch.bool)
        for sid in special_ids:
            replace &= input_ids != sid
    return torch.where(replace[..., None], filler, embeddings)


def check_settings(baseline: str, rule: str, steps: int) -> None:
    """One clear error for an unknown baseline or rule, or a step count the rule cannot use."""
    if baseline not in BASELINES:
        raise IrlensError(f"NIG baseline '{baseline}': choose one of {', '.join(BASELINES)}")
    if rule not in RULES:
        raise IrlensError(f"NIG rule '{rule}': choose one of {', '.join(RULES)}")
    if int(steps) < 1 or (rule == "richardson" and int(steps) % 2):
        raise IrlensError(f"NIG steps={steps}: need at least 1 (an even number for the richardson rule)")


class CrossEncoderNIG:
    """NIG of every q/k/v/attention-output/FFN Linear output of an HF sequence-classification model.

    >>> nig = CrossEncoderNIG(model, tokenizer, steps=32)
    >>> feats = tokenizer(["what causes scurvy"], ["Vitamin C deficiency ..."], return_tensors="pt")
    >>> r = nig.attribute(feats, targets=[1])     # 1 = "relevant"
    >>> r.values.shape, r.rel_error               # (1, n_neurons), completeness error on the layer cuts
    """

    def __init__(
        self,
        model,
        tokenizer,
        relevant_label: int = 1,
        baseline: str = "pad-all",
        steps: int = 32,
        rule: str = "trapezoid",
        max_tokens: int = 16384,
        components=COMPONENTS,
        progress: bool = False,
    ):
        check_settings(baseline, rule, steps)
        self.model = model
        self.tokenizer = tokenizer
        self.relevant_label = int(relevant_label)
        self.baseline = baseline
        self.steps = int(steps)
        self.rule = rule
        self.max_tokens = int(max_tokens)
        self.progress = progress
        self.layout = neuron_layout(model, components)
        self.n_neurons = sum(n.units for n in self.layout)
        _, self.layers, _ = encoder_layers(model)
        self.word_embedding = model.get_input_embeddings()
        pad = tokenizer.pad_token_id
        self.pad_token_id = 0 if pad is None else int(pad)
        self.sep_token_id = int(tokenizer.sep_token_id)
        self.special_ids = [int(i) for i in {tokenizer.cls_token_id, tokenizer.sep_token_id} if i is not None]

    # ------------------------------------------------------------------------------------ plumbing
    @property
    def device(self):
        """The device of the model's parameters."""
        return next(self.model.parameters()).device

    @contextmanager
    def _frozen(self):
        """Eval mode and no parameter gradients for the duration; both restored afterwards."""
        flags = [p.requires_grad for p in self.model.parameters()]
        training = self.model.training
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p, f in zip(self.model.parameters(), flags):
                p.requires_grad_(f)
            self.model.train(training)

    @contextmanager
    def _hooks(self, store: dict, embeds_box: list):
        """Forward hooks: the word-embedding output is replaced by ``embeds_box[0]``; Linear and layer
        outputs are kept in ``store`` (by module name / ``cut:<layer>``)."""
        handles = []

        def replace_embeddings(_m, _inp, _out):
            return embeds_box[0]

        def keep(name):
            def hook(_m, _inp, out):
                store[name] = out[0] if isinstance(out, tuple) else out

            return hook

        handles.append(self.word_embedding.register_forward_hook(replace_embeddings))
        for n in self.layout:
            handles.append(self.model.get_submodule(n.module).register_forward_hook(keep(n.module)))
        for i, layer in enumerate(self.layers):
            handles.append(layer.register_forward_hook(keep(f"cut:{i}")))
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def _features(self, features) -> dict:
        import torch

        feats = {
            k: (v if isinstance(v, torch.Tensor) else torch.as_tensor(v)).to(self.device)
            for k, v in dict(features).items()
        }
        if "input_ids" not in feats:
            raise IrlensError(
                "NIG features: 'input_ids' missing (pass the tokenizer's output for (query, document) pairs)"
            )
        feats.setdefault("attention_mask", torch.ones_like(feats["input_ids"]))
        return feats

    # ------------------------------------------------------------------------------------ public
    def scores(self, features, targets, baseline: str | None = None):
        """F (target-label probability) at the input, or at ``baseline`` when given: float64 [B]."""
        import torch

        feats = self._features(features)
        tg = torch.as_tensor(np.asarray(targets), device=self.device)
        with torch.inference_mode():
            emb = self.word_embedding(feats["input_ids"])
            if baseline is not None:
                emb = baseline_embeddings(
                    baseline,
                    feats["input_ids"],
                    emb,
                    self.word_embedding,
                    self.pad_token_id,
                    self.sep_token_id,
                    self.special_ids,
                )
            rest = {k: v for k, v in feats.items() if k != "input_ids"}
            logits = self.model(inputs_embeds=emb, **rest).logits
            return target_probability(logits.double(), tg, self.relevant_label).cpu().numpy()

    def attribute(self, features, targets) -> NIGResult:
        """NIG of every neuron for each pair of ``features`` (tokenised ``[CLS] q [SEP] d [SEP]``).

        ``targets``: per pair, 1 to explain P(relevant) or 0 to explain P(non-relevant).
        """
        import torch

        feats = self._features(features)
        ids, mask = feats["input_ids"], feats["attention_mask"]
        B, T = ids.shape
        tg = torch.as_tensor(np.asarray(targets, dtype=np.int64).reshape(-1), device=self.device)
        if tg.numel() != B:
            raise IrlensError(f"NIG: {B} pairs but {tg.numel()} targets")
        N = self.steps
        alphas = torch.arange(N + 1, dtype=torch.float64) / N
        per_chunk = max(1, self.max_tokens // max(1, B * T))
        rest = {k: v for k, v in feats.items() if k != "input_ids"}
        tokmask = mask.to(torch.float64)  # per-chunk sums run in the model's dtype, accumulate in float64

        with self._frozen():
            with torch.no_grad():
                x = self.word_embedding(ids)
                xb = baseline_embeddings(
                    self.baseline, ids, x, self.word_embedding, self.pad_token_id, self.sep_token_id, self.special_ids
                )
            dtype = x.dtype
            names = [n.module for n in self.layout] + [f"cut:{i}" for i in range(len(self.layers))]
            acc = {n: torch.zeros(B, self._width(n), dtype=torch.float64, device=self.device) for n in names}
            carry_idx, carry = [], {}  # the last (up to) two points of the previous chunk: y, ∂F/∂y
            f_first = f_last = None
            store: dict = {}
            box: list = [None]
            with self._hooks(store, box):
                for s in range(0, N + 1, per_chunk):
                    idx = list(range(s, min(N + 1, s + per_chunk)))
                    C = len(idx)
                    a = alphas[idx].to(device=self.device, dtype=dtype)
                    emb = xb[:, None] + a[None, :, None, None] * (x - xb)[:, None]  # [B, C, T, H]
                    box[0] = emb.reshape(B * C, T, -1).requires_grad_(True)
                    rep = {k: v.repeat_interleave(C, dim=0) for k, v in rest.items()}
                    store.clear()
                    logits = self.model(input_ids=ids.repeat_interleave(C, dim=0), **rep).logits
                    f = target_probability(logits, tg.repeat_interleave(C), self.relevant_label)  # [B*C]
                    ys = [store[n] for n in names]
                    grads = torch.autograd.grad(f.sum(), ys, allow_unused=True)
                    f = f.detach().double().view(B, C)
                    if s == 0:
                        f_first = f[:, 0].clone()
                    if idx[-1] == N:
                        f_last = f[:, -1].clone()
                    window = carry_idx + idx
                    A = torch.as_tensor(
                        stieltjes_window_matrix(self.rule, self.steps, window, s), dtype=dtype, device=self.device
                    )  # [P, P]
                    for n, y, g in zip(names, ys, grads):
                        y = y.detach().view(B, C, T, -1)
                        g = torch.zeros_like(y) if g is None else g.view(B, C, T, -1)
                        if carry_idx:
                            yw, gw = torch.cat([carry[n][0], y], 1), torch.cat([carry[n][1], g], 1)
                        else:
                            yw, gw = y, g
                        acc[n] += self._window_sum(A, yw, gw, tokmask)
                        keep = min(2, yw.shape[1])
                        carry[n] = (yw[:, -keep:], gw[:, -keep:])
                    carry_idx = window[-min(2, len(window)) :]
                    del ys, grads, logits, f
                    box[0] = None
        values = torch.cat([acc[n.module] for n in self.layout], dim=1).cpu().numpy()
        cut = torch.stack([acc[f"cut:{i}"].sum(1) for i in range(len(self.layers))], dim=1).cpu().numpy()
        return NIGResult(
            values=values,
            f_input=f_last.cpu().numpy(),
            f_baseline=f_first.cpu().numpy(),
            cut_sum=cut,
            steps=N,
            rule=self.rule,
            baseline=self.baseline,
            targets=tg.cpu().numpy(),
            meta={"points_per_chunk": per_chunk, "tokens": int(mask.sum())},
        )

    # ------------------------------------------------------------------------------------ internals
    def _width(self, name: str) -> int:
        if name.startswith("cut:"):
            return int(
                self.model.config.hidden_size if hasattr(self.model.config, "hidden_size") else self.model.config.dim
            )
        return next(n.units for n in self.layout if n.module == name)

    @staticmethod
    def _window_sum(A, y, g, tokmask):
        """Σ_{k,t} g_k ⊙ (A y)_k over the window's points and non-padding tokens; y, g: [B, P, T, U] → [B, U]."""
        B, P, T, U = y.shape
        ay = (A @ y.reshape(B, P, T * U)).view(B, P, T, U)  # one small matmul over the point axis
        per_token = (g * ay).sum(1)  # [B, T, U]
        return (per_token * tokmask.to(y.dtype)[:, :, None]).sum(1).double()


def baseline_effect(nig: CrossEncoderNIG, features, baselines=BASELINES) -> dict:
    """The paper's Table 1 for a batch of pairs: mean P(relevant) − P(non-relevant) at the input and at
    each baseline. Returns ``{"original": [B], kind: [B], ...}`` of per-pair differences (float64)."""
    ones = np.ones(len(features["input_ids"]), dtype=np.int64)
    out = {"original": 2.0 * nig.scores(features, ones) - 1.0}
    for kind in baselines:
        out[kind] = 2.0 * nig.scores(features, ones, baseline=kind) - 1.0
    return out


def baseline_rows(dataset: str, label: str, diffs: dict[str, np.ndarray]) -> list[dict]:
    """Table 1 rows of one (dataset, label) from ``{baseline: P(relevant) − P(non-relevant) per pair}``
    (``original`` = the unmodified input, first).

    The paper's number is the signed mean; pairs that the baseline pushes to opposite sides cancel in it, so
    a mean near 0 can hide a baseline that is far from neutral on every pair. ``mean |P(rel) - P(non-rel)|``
    beside it is 0 only when every pair is neutral.
    """
    orig = float(np.mean(diffs["original"]))
    rows = []
    for k, d in diffs.items():
        d = np.asarray(d, dtype=np.float64)
        rows.append(
            {
                "dataset": dataset,
                "label": label,
                "pairs": len(d),
                "baseline": k,
                "mean P(rel) - P(non-rel)": d.mean(),
                "mean |P(rel) - P(non-rel)|": np.abs(d).mean(),
                "relative to original": d.mean() / orig if orig else np.nan,
            }
        )
    return rows


def baseline_table(ce, frames, datas, split: str, max_pairs: int, batch_size: int = 16):
    """The paper's Table 1: one row per (dataset, label, baseline) with the mean P(relevant) − P(non-relevant)
    of up to ``max_pairs`` pairs per (dataset, label), its mean absolute value, and the signed mean relative
    to the original input's (:func:`baseline_rows`).

    ``ce`` is a loaded cross-encoder, ``frames`` the pairs tables of :func:`irlens.nig.pairs.select_pairs`
    (with a ``dataset`` column) and ``datas`` the dataset folder of each (same order). The row ``original``
    is the unmodified input. Returns a DataFrame with columns dataset, label, pairs, baseline,
    ``mean P(rel) - P(non-rel)``, ``mean |P(rel) - P(non-rel)|``, ``relative to original``.
    """
    import pandas as pd

    from irlens.data.beir import doc_text, load_beir

    nig = CrossEncoderNIG(ce.model, ce.tokenizer, relevant_label=ce.relevant_label)
    rows = []
    for df, data in zip(frames, datas):
        ds = load_beir(data, [split])
        for label, sub in df.groupby("label", sort=False):
            sub = sub.head(max_pairs)
            diffs = {k: [] for k in ("original", *BASELINES)}
            for s in range(0, len(sub), batch_size):
                chunk = sub.iloc[s : s + batch_size]
                queries = [ds.queries[q] for q in chunk["qid"]]
                feats = ce.features(queries, [doc_text(ds.corpus[d]) for d in chunk["doc_id"]])
                for k, v in baseline_effect(nig, feats).items():
                    diffs[k].append(v)
            d = {k: np.concatenate(diffs[k]) for k in ("original", *BASELINES)}
            rows += baseline_rows(df["dataset"].iloc[0], label, d)
    return pd.DataFrame(rows)
