"""BEIR datasets: load, verify, fetch (local mirror → official zip → ir_datasets), normalise, subsample."""

from irlens.data.beir import BeirDataset, load_beir, read_corpus, read_qrels, read_queries
from irlens.data.prepare import prepare_dataset
from irlens.data.subsample import subsample

__all__ = [
    "BeirDataset",
    "load_beir",
    "prepare_dataset",
    "read_corpus",
    "read_qrels",
    "read_queries",
    "subsample",
]
