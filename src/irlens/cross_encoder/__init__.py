"""The cross-encoder stage: fine-tune a reranker on a BEIR training split, rerank a first-stage run.

- rule ``cross_encoder_train`` → :func:`~irlens.cross_encoder.train.train_cross_encoder`: a
  ``save_pretrained`` folder with ``training.json``;
- rule ``cross_encoder_rerank`` → :func:`~irlens.cross_encoder.rerank.rerank` and
  :func:`~irlens.cross_encoder.rerank.evaluate_rerank`: a TREC run and its metrics JSON (+ per-query TSV);
- rule ``cross_encoder_table`` → :func:`~irlens.cross_encoder.rerank.rerank_table`: systems x datasets
  table (markdown + CSV).

CLI: ``irlens cross-encoder {train,rerank,table}`` (:mod:`irlens.cli.cross_encoder`); model loading lives
in :mod:`irlens.models.cross_encoder`.
"""

from irlens.cross_encoder.rerank import evaluate_rerank, rerank, rerank_table, write_metrics
from irlens.cross_encoder.train import hard_negatives, sample_plan, save_model_folder, train_cross_encoder

__all__ = [
    "evaluate_rerank",
    "hard_negatives",
    "rerank",
    "rerank_table",
    "sample_plan",
    "save_model_folder",
    "train_cross_encoder",
    "write_metrics",
]
