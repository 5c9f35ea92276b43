"""GPL domain adaptation (Wang et al., NAACL 2022) as separate, resumable steps.

GPL adapts a dense bi-encoder to a target corpus without labels: pseudo-queries for the corpus
passages, hard negatives mined for them, a cross-encoder teacher that labels each
``(query, positive, negative)`` tuple with a score margin, and MarginMSE training of the student on
those margins. Each step here is one function, one ``irlens gpl <step>`` subcommand and one rule; each
writes its output atomically and resumes after a kill from what it had finished.

==================  ================================================  ======================================
step                function                                          output (GPL's file names)
==================  ================================================  ======================================
queries             :func:`~irlens.gpl.queries.t5_queries`,           ``queries.jsonl`` (BEIR ``_id``/``text``)
                    :func:`~irlens.gpl.queries.train_queries`,        + ``qrels.tsv`` (query → source passage,
                    :func:`~irlens.gpl.queries.ict_queries`           grade 1; GPL: ``qgen-*``)
negatives           :func:`~irlens.gpl.negatives.mine_negatives`      ``hard-negatives.jsonl``:
                                                                      ``{"qid", "pos": [...], "neg": {miner: [...]}}``
teacher-check       :func:`.teacher_check.compare_rankings`           ``teacher-check.json``: teacher vs student
                                                                      nDCG@10 on held-out judged queries
pseudo-labels       :func:`~irlens.gpl.labels.pseudo_label`           ``gpl-training-data.tsv``:
                                                                      ``qid  pos  neg  margin`` (no header, as GPL)
train               :func:`~irlens.gpl.train.train_gpl`               sentence-transformers folder
                                                                      (+ ``training.json``, ``loss.csv``)
evaluate            :func:`~irlens.gpl.compare.compare_per_query`     base vs adapted table, paired t-test
==================  ================================================  ======================================

Defaults follow ``UKPLab/gpl``: T5 sampling ``top_p`` 0.95, ``top_k``
25, ``max_length`` 64; queries per passage ``ceil(250K/|C|)`` when ``3|C| < 250K`` else 3; top-50 per
dense miner (cosine) minus positives; one random positive and one random negative (from the union of
all miners) per tuple, exactly ``steps × batch`` tuples; teacher margins on raw scores; MarginMSE on dot
products; AdamW lr 2e-5, weight decay 0.01, linear warm-up then linear decay, gradient norm 1; max
length 350. Where this package departs from GPL it says so in the function's docstring.
"""

from irlens.gpl.compare import compare_per_query
from irlens.gpl.labels import pseudo_label, sample_tuples
from irlens.gpl.negatives import mine_negatives
from irlens.gpl.queries import ict_queries, queries_per_passage, t5_queries, train_queries
from irlens.gpl.train import margin_mse, train_gpl

__all__ = [
    "compare_per_query",
    "ict_queries",
    "margin_mse",
    "mine_negatives",
    "pseudo_label",
    "queries_per_passage",
    "sample_tuples",
    "t5_queries",
    "train_gpl",
    "train_queries",
]
