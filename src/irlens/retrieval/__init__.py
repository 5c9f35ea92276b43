"""Retrieval: dense encoding (cached, resumable), exact dense search, BM25, TREC runs, evaluation."""

from irlens.retrieval.bm25 import bm25_search
from irlens.retrieval.encode import encode_texts, encode_to_file, load_embeddings
from irlens.retrieval.evaluate import METRICS, evaluate_run
from irlens.retrieval.search import dense_search
from irlens.retrieval.trec import read_run, write_run

__all__ = [
    "METRICS",
    "bm25_search",
    "dense_search",
    "encode_texts",
    "encode_to_file",
    "evaluate_run",
    "load_embeddings",
    "read_run",
    "write_run",
]
