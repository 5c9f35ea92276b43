"""irlens: interpreting neural retrievers.

Public entry points (usable from a notebook; none of them imports Snakemake):

- :func:`irlens.data.load_beir` / :func:`irlens.data.prepare_dataset` — BEIR datasets.
- :func:`irlens.models.resolve_model` / :func:`irlens.models.load_bi_encoder` — models by HF id.
- :func:`irlens.retrieval.encode_texts`, :func:`irlens.retrieval.dense_search`,
  :func:`irlens.retrieval.bm25_search`, :func:`irlens.retrieval.evaluate_run` — retrieval and metrics.
"""

__version__ = "0.1.0"

from irlens.errors import IrlensError  # noqa: E402

__all__ = ["IrlensError", "__version__"]
