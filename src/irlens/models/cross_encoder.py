"""Cross-encoders: Hugging Face sequence-classification rerankers over ``[CLS] q [SEP] d [SEP]``.

Two head layouts are supported:

* **2 logits** (monoBERT, ``castorini/monobert-large-msmarco``, and the reranker ``irlens
  cross-encoder train`` fine-tunes): ``softmax(logits)[:, relevant_label]`` is the probability of
  "relevant" (``relevant_label`` = 1 by default, as monoBERT). The ranking score is the log-probability
  ``log_softmax(logits)[:, relevant_label]``, as pygaggle ranks monoBERT.
* **1 logit** (``cross-encoder/ms-marco-MiniLM-L-6-v2`` style): higher = more relevant; the probability
  is ``sigmoid(logit)`` and the ranking score is the raw logit.

Both scores are monotone in the probability of relevance, so they give the same ranking as the
probability itself while keeping resolution where probabilities saturate near 1.
"""

from __future__ import annotations

import inspect
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from irlens.errors import IrlensError
from irlens.models.encoder import pick_device
from irlens.models.resolve import ResolvedModel, resolve_model

log = logging.getLogger(__name__)


@dataclass
class CrossEncoder:
    """A loaded sequence-classification reranker (``model`` is in eval mode on ``device``).

    Shapes: ``features`` → ``input_ids``/``attention_mask`` (and ``token_type_ids`` where the model
    type has them) ``[B, T]``; ``logits`` → ``[B, num_labels]``; ``relevance`` and ``score`` → ``[B]``.
    """

    model: Any
    tokenizer: Any
    num_labels: int  # 1 or 2
    relevant_label: int = 1  # index of "relevant" among 2 logits (ignored for 1 logit)
    max_length: int = 512
    device: str = "cpu"
    model_id: str = ""
    uses_token_types: bool = field(default=True)

    # ------------------------------------------------------------------------------------- inputs
    def features(self, queries: list[str], docs: list[str]) -> dict:
        """Tokenise pairs as ``[CLS] q [SEP] d [SEP]`` (token types 0 for the query part, 1 for d).

        Documents are truncated first (``only_second``); when a query alone leaves no room for the
        document, the batch falls back to ``longest_first``. Tensors are on ``device``.
        """
        if len(queries) != len(docs):
            raise IrlensError(f"cross-encoder: {len(queries)} queries but {len(docs)} documents")
        tok = self.tokenizer
        q_lens = [len(ids) for ids in tok(list(queries), add_special_tokens=False)["input_ids"]]
        room = self.max_length - tok.num_special_tokens_to_add(pair=True)
        truncation = "only_second" if max(q_lens, default=0) < room else "longest_first"
        enc = tok(
            list(queries),
            list(docs),
            truncation=truncation,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
            return_token_type_ids=self.uses_token_types,
        )
        if not self.uses_token_types:
            enc.pop("token_type_ids", None)
        return {k: v.to(self.device) for k, v in enc.items()}

    # ------------------------------------------------------------------------------------ outputs
    def logits(self, features: dict):
        """``[B, num_labels]`` logits (float32, graph kept: callers choose inference or grad mode)."""
        return self.model(**features).logits

    def relevance(self, logits):
        """``[B]`` probability of "relevant": 2 logits → softmax[:, relevant_label]; 1 logit → sigmoid."""
        import torch

        if self.num_labels == 1:
            return torch.sigmoid(logits[:, 0])
        return torch.softmax(logits, dim=-1)[:, self.relevant_label]

    def ranking_score(self, logits):
        """``[B]`` ranking score: 2 logits → log_softmax[:, relevant_label]; 1 logit → the logit."""
        import torch

        if self.num_labels == 1:
            return logits[:, 0]
        return torch.log_softmax(logits.double(), dim=-1)[:, self.relevant_label]

    def score(
        self,
        queries: list[str],
        docs: list[str],
        max_tokens: int = 8192,
        max_batch: int = 64,
        progress: bool = False,
    ) -> np.ndarray:
        """Ranking scores (see :meth:`ranking_score`) of each ``(queries[i], docs[i])``, float64 ``[n]``.

        Pairs are ordered by token length (longest first) and packed into batches of at most
        ``max_batch`` rows and ``max_tokens`` padded tokens, so padding is small; each pair's score
        does not depend on the batch it lands in (up to float rounding).
        """
        import torch
        from tqdm import tqdm

        from irlens.runtime import plan_batches

        n = len(queries)
        if len(docs) != n:
            raise IrlensError(f"cross-encoder: {n} queries but {len(docs)} documents")
        out = np.zeros(n, dtype=np.float64)
        if n == 0:
            return out
        lengths = self.pair_lengths(queries, docs)
        order, batches = plan_batches(lengths, max_tokens, max_batch)
        bar = tqdm(total=n, desc="rerank", unit="pair", disable=not progress, mininterval=5)
        with torch.inference_mode():
            for s, e in batches:
                idx = order[s:e]
                f = self.features([queries[i] for i in idx], [docs[i] for i in idx])
                out[idx] = self.ranking_score(self.logits(f)).double().cpu().numpy()
                bar.update(e - s)
        bar.close()
        return out

    def pair_lengths(self, queries: list[str], docs: list[str]) -> np.ndarray:
        """Token count of each pair after truncation to ``max_length`` (for batch planning)."""
        tok = self.tokenizer
        enc = tok(
            list(queries),
            list(docs),
            truncation="longest_first",
            max_length=self.max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return np.fromiter((len(ids) for ids in enc["input_ids"]), dtype=np.int64, count=len(queries))


def forward_takes(model, name: str) -> bool:
    """Whether ``model.forward`` names ``name`` as an explicit argument (``**kwargs`` does not count)."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return True
    return name in params  # an explicit argument; **kwargs (transformers 5) does not route token types


def load_cross_encoder(
    model_id: str,
    local_dirs=(),
    device: str | None = None,
    max_length: int | None = None,
    relevant_label: int | None = None,
    pins: dict[str, str] | None = None,
) -> tuple[CrossEncoder, ResolvedModel]:
    """Load a sequence-classification reranker by HF id or folder. Returns ``(CrossEncoder, ResolvedModel)``.

    ``max_length`` defaults to the tokenizer's limit (capped at 512); ``relevant_label`` to 1 for
    2-logit heads. Parameters keep ``requires_grad`` as loaded (attribution needs no parameter grads,
    but freezing is the caller's choice). ``pins`` (``{id: weights sha256}``) is enforced by
    :func:`~irlens.models.resolve.resolve_model`.
    """
    resolved = resolve_model(model_id, local_dirs, pins=pins)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    dev = pick_device(device)
    try:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(resolved.path, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(resolved.path, local_files_only=True)
    except Exception as e:
        msg = (str(e).splitlines() or [""])[0][:200]
        raise IrlensError(
            f"model '{model_id}' at {resolved.path}: cannot be loaded as a sequence-classification cross-encoder "
            f"({type(e).__name__}: {msg}); give a reranker folder or HF id with a classification head"
        ) from None
    num_labels = int(model.config.num_labels)
    if num_labels not in (1, 2):
        raise IrlensError(
            f"model '{model_id}': {num_labels} output labels; "
            "a cross-encoder needs 1 (score) or 2 (non-relevant, relevant)"
        )
    rel = 1 if relevant_label is None else int(relevant_label)
    if num_labels == 2 and rel not in (0, 1):
        raise IrlensError(f"model '{model_id}': relevant_label must be 0 or 1 for a 2-logit head, got {rel}")
    if num_labels == 1:
        rel = 0
    limit = min(int(getattr(tokenizer, "model_max_length", 512) or 512), 512)
    max_len = int(max_length) if max_length else limit
    if tokenizer.pad_token is None:
        raise IrlensError(f"model '{model_id}': its tokenizer has no padding token; batching needs one")
    types = "token_type_ids" in getattr(tokenizer, "model_input_names", []) and forward_takes(model, "token_type_ids")
    model.to(dev).eval()
    ce = CrossEncoder(model, tokenizer, num_labels, rel, max_len, dev, model_id, types)
    log.info(
        "loaded cross-encoder %s from %s (%s, weights sha256 %s, %s, %d logit%s, relevant=%d, "
        "max_length %d, token types %s)",
        model_id,
        resolved.path,
        resolved.source,
        (resolved.sha256 or "?")[:12],
        model.config.model_type,
        num_labels,
        "s" if num_labels > 1 else "",
        rel,
        max_len,
        "yes" if types else "no",
    )
    return ce, resolved
