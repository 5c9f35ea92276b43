"""Score a fixed list of (query, passage) pairs under many neuron masks, fast.

Three things make the ablation's "50 random repeats × schemes × levels" affordable:

* **Prefix cache.** A mask whose lowest masked Linear sits in encoder layer L cannot change the input of
  layer L. Those hidden states are computed once (one unmasked pass with ``output_hidden_states``)
  and kept; each such mask then runs only layers L..end (the model's own forward with the embedding
  output replaced by the cached states and the layer list cut at L), so a mask confined to the upper
  layers costs a fraction of a full forward. The cut path is checked against the full forward once and
  switched off (with a warning) if it ever disagrees.
* **Per-example masks.** Several masks share one batch (:func:`irlens.ablation.masks.apply_masks`), so
  small evaluation sets still fill ``max_rows`` rows per forward.
* **Tokenise once.** The pairs are tokenised a single time.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import numpy as np

from irlens.ablation.masks import NeuronMask, apply_masks
from irlens.errors import IrlensError

log = logging.getLogger(__name__)


class MaskedScorer:
    """Ranking scores of ``pairs`` (lists of query and passage texts) under neuron masks.

    ``ce`` is an :class:`irlens.models.cross_encoder.CrossEncoder`. :meth:`original` gives the unmasked
    scores, :meth:`score` a ``[n_masks, n_pairs]`` float64 array. ``max_rows`` bounds the rows of one
    forward (pairs × masks); ``cache_mb`` bounds the prefix cache (0 disables it).
    """

    def __init__(self, ce, queries: list[str], docs: list[str], max_rows: int = 64, cache_mb: float = 2048):
        import torch

        from irlens.attribution.neurons import encoder_layers, neuron_layout

        if not queries:
            raise IrlensError("ablation scorer: no pairs to score")
        self.ce = ce
        self.n = len(queries)
        self.max_rows = max(1, int(max_rows))
        self.cache_mb = float(cache_mb)
        with torch.inference_mode():
            self.features = ce.features(queries, docs)
        name, self.layers, _ = encoder_layers(ce.model)
        self._parent_name, self._attr = name.rsplit(".", 1)
        self.n_layers = len(self.layers)
        self.module_layer = {n.module: n.layer for n in neuron_layout(ce.model)}
        self.widths = {n.module: n.units for n in neuron_layout(ce.model)}
        self._cache: dict[int, object] = {}
        self._original = None
        self._cut_ok: bool | None = None

    # ------------------------------------------------------------------------------------- public
    @property
    def prefix_cache(self) -> bool | None:
        """Whether masks start from cached hidden states: ``None`` until a mask first needed the cache, then
        ``True`` if running from a cached layer matched the full forward, ``False`` if the cache was switched off."""
        return self._cut_ok

    def start_layer(self, mask: NeuronMask) -> int:
        """The lowest encoder layer the mask touches (0 for modules outside the encoder layers)."""
        layers = [self.module_layer.get(m, 0) for m in mask.units]
        return min(layers) if layers else self.n_layers

    def original(self) -> np.ndarray:
        """Unmasked ranking scores, float64 ``[n_pairs]``."""
        if self._original is None:
            self._prefix(set())
        return self._original

    def score(self, masks: list[NeuronMask], progress: bool = False) -> np.ndarray:
        """Ranking scores of every pair under each mask, float64 ``[len(masks), n_pairs]``.

        Empty masks get the original scores without a forward pass.
        """
        from tqdm import tqdm

        out = np.zeros((len(masks), self.n), dtype=np.float64)
        starts = [self.start_layer(m) for m in masks]
        wanted = {s for s, m in zip(starts, masks) if m.size and 0 < s < self.n_layers}
        self._prefix(wanted)
        groups: dict[int, list[int]] = {}
        for i, (s, m) in enumerate(zip(starts, masks)):
            if m.size == 0:
                out[i] = self._original
            else:
                groups.setdefault(s if s in self._cache else 0, []).append(i)
        chunk = min(self.n, self.max_rows)
        per_forward = max(1, self.max_rows // chunk)
        bar = tqdm(
            total=sum(len(g) for g in groups.values()), desc="masks", unit="mask", disable=not progress, mininterval=10
        )
        for start, idx in sorted(groups.items()):
            for k in range(0, len(idx), per_forward):
                sel = idx[k : k + per_forward]
                out[sel] = self._run([masks[i] for i in sel], start, chunk)
                bar.update(len(sel))
        bar.close()
        return out

    # ------------------------------------------------------------------------------------ internals
    def _prefix(self, layers: set[int]) -> None:
        """One unmasked pass: original scores, and hidden states entering each layer in ``layers``
        (as many as ``cache_mb`` allows, most useful first)."""
        import torch

        per_layer_mb = self.features["input_ids"].numel() * self.ce.model.config.hidden_size * 4 / 2**20
        budget = self.cache_mb - per_layer_mb * len(self._cache)
        need = []
        for L in sorted(layers - set(self._cache), reverse=True):  # higher layers save the most
            if per_layer_mb <= budget:
                need.append(L)
                budget -= per_layer_mb
        if self._original is not None and not need:
            return
        chunk = min(self.n, self.max_rows)
        scores = np.zeros(self.n, dtype=np.float64)
        parts: dict[int, list] = {L: [] for L in need}
        with torch.inference_mode():
            for s in range(0, self.n, chunk):
                f = {k: v[s : s + chunk] for k, v in self.features.items()}
                res = self.ce.model(**f, output_hidden_states=bool(need))
                scores[s : s + chunk] = self.ce.ranking_score(res.logits).double().cpu().numpy()
                for L in need:
                    parts[L].append(res.hidden_states[L])
        self._original = scores
        for L in need:
            self._cache[L] = torch.cat(parts[L])
        if need and self._cut_ok is None:
            self._cut_ok = self._check_cut(max(need))
            if not self._cut_ok:
                self._cache.clear()

    def _check_cut(self, L: int) -> bool:
        n = min(self.n, self.max_rows)
        got = self._forward(slice(0, n), 1, L)
        ok = bool(np.allclose(got, self._original[:n], rtol=1e-4, atol=1e-4))
        if not ok:
            log.warning(
                "ablation scorer: running from cached layer %d disagrees with the full forward (max |diff| %.2e); "
                "prefix cache off",
                L,
                float(np.abs(got - self._original[:n]).max()),
            )
        return ok

    def _run(self, masks: list[NeuronMask], start: int, chunk: int) -> np.ndarray:
        out = np.zeros((len(masks), self.n), dtype=np.float64)
        for s in range(0, self.n, chunk):
            rows = min(chunk, self.n - s)
            with apply_masks(self.ce.model, masks, rows):
                out[:, s : s + rows] = self._forward(slice(s, s + rows), len(masks), start).reshape(len(masks), rows)
        return out

    def _forward(self, rows: slice, repeat: int, start: int) -> np.ndarray:
        """Scores of ``rows`` repeated ``repeat`` times (mask-major), from layer ``start``."""
        import torch

        f = {k: v[rows].repeat(repeat, *([1] * (v.dim() - 1))) for k, v in self.features.items()}
        with torch.inference_mode():
            if start == 0:
                logits = self.ce.model(**f).logits
            else:
                h = self._cache[start][rows]
                with self._cut_at(start, h.repeat(repeat, 1, 1)):
                    logits = self.ce.model(**f).logits
        return self.ce.ranking_score(logits).double().cpu().numpy()

    @contextmanager
    def _cut_at(self, start: int, hidden):
        """Inside the block the model's embedding output is ``hidden`` and its layers begin at ``start``."""
        import torch

        model = self.ce.model
        parent = model.get_submodule(self._parent_name)
        emb = model.base_model.embeddings
        handle = emb.register_forward_hook(lambda _m, _i, _o: hidden)
        setattr(parent, self._attr, torch.nn.ModuleList(list(self.layers)[start:]))
        try:
            yield
        finally:
            setattr(parent, self._attr, self.layers)
            handle.remove()
