"""GPL step 1: pseudo-queries for the target corpus, each paired with the passage it came from.

Three backends, one output: ``queries.jsonl`` (BEIR ``{"_id", "text"}``) and ``qrels.tsv`` (BEIR
header, ``query-id  corpus-id  1``).

``t5`` (:func:`t5_queries`)
    A Hugging Face seq2seq generator (GPL: ``BeIR/query-gen-msmarco-t5-base-v1``) reads
    ``title + " " + text`` (truncated to ``input_max_length`` = 512 tokens) and samples
    ``qpp`` queries per passage with BEIR's ``QGenModel`` settings: ``do_sample``, ``top_p`` 0.95,
    ``top_k`` 25, ``max_length`` 64. ``qpp`` = -1 applies GPL's rule (:func:`queries_per_passage`).
    Passages go through the generator in batches of ``batch_size``; before each batch the torch RNG
    is seeded from ``(seed, batch index)``, so the output does not depend on where a killed run
    resumed. Finished chunks of batches are kept in ``<queries>.partial/``. Duplicates among one
    passage's samples and empty strings are dropped; ids are ``genQ1, genQ2, …`` in passage order.
``train-queries`` (:func:`train_queries`)
    GPL's ``use_train_qrels``: the dataset's own training queries, their judged documents with grade
    >= 1 as positives (GPL keeps every listed qrel; grade-0 rows would be wrong positives). Ids are
    the dataset's.
``ict`` (:func:`ict_queries`)
    Inverse-cloze pseudo-queries (Lee et al., 2019): a sentence drawn from the passage body (the title
    is not used, since it is prepended to every passage), cut to a random window of at most
    ``max_words`` words. **The sentence is kept in the passage** (ICT removes it 90 % of the time):
    GPL's positives are corpus ids, and mining, the teacher and the student all read the passage as
    stored, which is also what retrieval sees at test time; a removed-sentence variant would need a
    per-query passage text that no later step could look up. The lexical overlap this leaves is
    tempered by the teacher: its margin, not the overlap, is what the student fits. Seeded
    (``numpy.random.default_rng(seed)``, passages in corpus order); ids ``ictQ1, …``.

``passages`` (t5, ict) draws a seeded random sample of that many passages first (GPL's ``new_size``
corpus resize); 0 / None uses the whole corpus.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np

from irlens.errors import IrlensError
from irlens.io import atomic_path, write_jsonl

log = logging.getLogger(__name__)

QPP_BUDGET = 250_000  # GPL's target number of generated queries
BACKENDS = ("t5", "train-queries", "ict")


def queries_per_passage(n_passages: int, qpp: int = -1, budget: int = QPP_BUDGET) -> int:
    """GPL's rule: ``qpp`` if > 0, else ``ceil(budget / n)`` when ``3 n < budget``, else 3."""
    if qpp is not None and qpp > 0:
        return int(qpp)
    if n_passages < 1:
        raise IrlensError("gpl queries: the corpus is empty")
    return math.ceil(budget / n_passages) if 3 * n_passages < budget else 3


def sample_passages(doc_ids: list[str], passages: int | None, seed: int) -> list[str]:
    """A seeded sample of ``passages`` ids (kept in corpus order); all ids when ``passages`` is falsy or >= n."""
    if not passages or passages >= len(doc_ids):
        return list(doc_ids)
    rng = np.random.default_rng([seed, 1])
    keep = np.sort(rng.choice(len(doc_ids), size=int(passages), replace=False))
    return [doc_ids[i] for i in keep]


# ------------------------------------------------------------------------------------------------ t5
class T5Generator:
    """A seq2seq query generator: ``generate(texts, n)`` → ``n`` sampled queries per text.

    Any object with this method can stand in (tests use a stub); this one wraps a Hugging Face model
    and tokenizer with BEIR ``QGenModel``'s sampling settings.
    """

    def __init__(
        self,
        model,
        tokenizer,
        device: str = "cpu",
        max_length: int = 64,
        top_p: float = 0.95,
        top_k: int = 25,
        input_max_length: int = 512,
    ):
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.max_length, self.top_p, self.top_k, self.input_max_length = max_length, top_p, top_k, input_max_length

    def generate(self, texts: list[str], n: int) -> list[list[str]]:
        """``n`` sampled queries for each passage of ``texts``."""
        import torch

        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.input_max_length, return_tensors="pt"
        )
        enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        with torch.inference_mode():
            out = self.model.generate(
                **enc,
                max_length=self.max_length,
                do_sample=True,
                top_p=self.top_p,
                top_k=self.top_k,
                num_return_sequences=n,
            )
        decoded = self.tokenizer.batch_decode(out, skip_special_tokens=True, clean_up_tokenization_spaces=True)
        return [decoded[i * n : (i + 1) * n] for i in range(len(texts))]


def load_t5_generator(
    model_id: str, local_dirs=(), device: str | None = None, pins=None, **kw
) -> tuple[T5Generator, object]:
    """Load a seq2seq generator by HF id or folder (resolved as every model, ``pins`` enforced). Returns
    ``(generator, ResolvedModel)``."""
    import os

    from irlens.models.encoder import pick_device
    from irlens.models.resolve import resolve_model

    resolved = resolve_model(model_id, local_dirs, pins=pins)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    dev = pick_device(device)
    try:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(resolved.path, local_files_only=True)
        model = AutoModelForSeq2SeqLM.from_pretrained(resolved.path, local_files_only=True)
    except Exception as e:
        msg = (str(e).splitlines() or [""])[0][:200]
        raise IrlensError(
            f"generator '{model_id}' at {resolved.path}: cannot be loaded as a seq2seq model "
            f"({type(e).__name__}: {msg})"
        ) from None
    if tok.pad_token is None:
        raise IrlensError(f"generator '{model_id}': its tokenizer has no padding token; batching needs one")
    model.to(dev).eval()
    log.info(
        "loaded generator %s from %s (%s, weights sha256 %s, %s)",
        model_id,
        resolved.path,
        resolved.source,
        (resolved.sha256 or "?")[:12],
        model.config.model_type,
    )
    return T5Generator(model, tok, dev, **kw), resolved


def t5_queries(
    corpus: dict,
    generator,
    qpp: int = -1,
    batch_size: int = 10,
    seed: int = 42,
    passages: int | None = None,
    partial_out: str | Path | None = None,
    chunk_batches: int = 16,
    progress: bool = True,
    key_extra=None,
) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """Generate ``qpp`` queries per passage with ``generator`` (see the module docstring).

    Returns ``(queries, qrels)``. With ``partial_out`` (the queries output path), finished chunks of
    ``chunk_batches`` batches are kept in ``<partial_out>.partial/`` and reused by a rerun with the same
    inputs and settings (``key_extra``: e.g. the generator's sha256 and sampling settings).
    """
    import torch
    from tqdm import tqdm

    from irlens.data.beir import doc_text
    from irlens.resume import Partial, digest, fingerprint

    if batch_size < 1:
        raise IrlensError(f"gpl queries: batch size must be >= 1, got {batch_size}")
    ids = sample_passages(list(corpus), passages, seed)
    n = queries_per_passage(len(ids), qpp)
    texts = [doc_text(corpus[d]) for d in ids]
    batches = [(s, min(s + batch_size, len(ids))) for s in range(0, len(ids), batch_size)]
    chunks = [batches[i : i + chunk_batches] for i in range(0, len(batches), chunk_batches)]
    log.info(
        "t5 queries: %d passages x %d queries per passage = %d to sample, %d batches of <= %d",
        len(ids),
        n,
        len(ids) * n,
        len(batches),
        batch_size,
    )
    part = (
        Partial.for_output(
            partial_out, fingerprint("t5", digest(zip(ids, texts)), n, batch_size, seed, chunk_batches, key_extra)
        )
        if partial_out
        else None
    )
    generated: list[list[str]] = []
    bar = tqdm(total=len(ids), desc="generate", unit="passage", disable=not progress, mininterval=5)
    for ci, chunk in enumerate(chunks):
        got = part.load(f"chunk-{ci:05d}") if part else None
        if got is None:
            got = []
            for bi, (s, e) in enumerate(chunk):
                torch.manual_seed(int(np.random.SeedSequence([seed, ci * chunk_batches + bi]).generate_state(1)[0]))
                out = generator.generate(texts[s:e], n)
                if len(out) != e - s:
                    raise IrlensError(f"gpl queries: the generator returned {len(out)} lists for {e - s} passages")
                got.extend([list(map(str, qs)) for qs in out])
            if part:
                part.save(f"chunk-{ci:05d}", got)
        generated.extend(got)
        bar.update(sum(e - s for s, e in chunk))
    bar.close()
    if part and part.reused:
        log.info("resumed: %d of %d chunks reused from %s", part.reused, len(chunks), part.dir)
    queries, qrels = {}, {}
    for d, qs in zip(ids, generated):
        for q in dict.fromkeys(" ".join(q.split()) for q in qs):
            if q:
                qid = f"genQ{len(queries) + 1}"
                queries[qid], qrels[qid] = q, {d: 1}
    return queries, qrels


# ------------------------------------------------------------------------------------ train-queries
def train_queries(ds, split: str = "train") -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """GPL's ``use_train_qrels``: the queries of ``split`` with their grade >= 1 documents in the corpus."""
    if split not in ds.qrels:
        raise IrlensError(
            f"gpl queries: split '{split}' has no qrels in the dataset "
            f"(have: {', '.join(sorted(ds.qrels)) or 'none'}); "
            "keep it in datasets.<name>.splits or pick another"
        )
    queries, qrels = ds.split(split)
    out_q, out_r = {}, {}
    for q, text in queries.items():
        pos = {d: 1 for d, g in qrels[q].items() if g >= 1 and d in ds.corpus}
        if pos:
            out_q[q], out_r[q] = text, pos
    if not out_q:
        raise IrlensError(f"gpl queries: no query of split '{split}' has a judged relevant document in the corpus")
    return out_q, out_r


# ---------------------------------------------------------------------------------------------- ict
_SENT = re.compile(r"(?<=[.!?])\s+")
_EDGE = re.compile(r"^\W+|\W+$")


def split_sentences(text: str) -> list[str]:
    """The non-empty sentences of ``text`` (split after ``.``, ``!`` or ``?`` followed by space)."""
    return [s.strip() for s in _SENT.split(text) if s.strip()]


def ict_queries(
    corpus: dict,
    qpp: int = 1,
    seed: int = 42,
    passages: int | None = None,
    min_words: int = 4,
    max_words: int = 16,
) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """Inverse-cloze pseudo-queries (see the module docstring); ``qpp`` = -1 applies GPL's rule.

    Per passage: sentences of the body with >= ``min_words`` words (else the whole body) are visited
    in a seeded random order (cycling when ``qpp`` exceeds their number); each gives a random window
    of at most ``max_words`` words, edge punctuation stripped. Duplicates within a passage are dropped.
    """
    if min_words < 1 or max_words < min_words:
        raise IrlensError(f"gpl queries: need 1 <= min_words <= max_words, got {min_words} and {max_words}")
    ids = sample_passages(list(corpus), passages, seed)
    n = queries_per_passage(len(ids), qpp)
    rng = np.random.default_rng([seed, 2])
    queries, qrels = {}, {}
    for d in ids:
        body = corpus[d]["text"].strip() or corpus[d].get("title", "").strip()
        if not body:
            continue
        cands = [s.split() for s in split_sentences(body)]
        cands = [w for w in cands if len(w) >= min_words] or [body.split()]
        order: list[int] = []
        picked = []
        for _ in range(n):
            if not order:
                order = list(rng.permutation(len(cands)))
            words = cands[order.pop(0)]
            if len(words) > max_words:
                start = int(rng.integers(len(words) - max_words + 1))
                words = words[start : start + max_words]
            picked.append(_EDGE.sub("", " ".join(words)))
        for q in dict.fromkeys(picked):
            if q:
                qid = f"ictQ{len(queries) + 1}"
                queries[qid], qrels[qid] = q, {d: 1}
    if not queries:
        raise IrlensError("gpl queries: no passage has text to draw inverse-cloze queries from")
    return queries, qrels


# --------------------------------------------------------------------------------------------- write
def write_queries(
    queries: dict[str, str], qrels: dict[str, dict[str, int]], out_queries: str | Path, out_qrels: str | Path
) -> None:
    """``queries.jsonl`` and ``qrels.tsv`` (BEIR layout), each atomically; qrels written last."""
    write_jsonl(out_queries, ({"_id": q, "text": t} for q, t in queries.items()))
    with atomic_path(out_qrels) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for q, docs in qrels.items():
            for d, g in docs.items():
                fh.write(f"{q}\t{d}\t{g}\n")


def read_queries_and_qrels(
    queries_path: str | Path, qrels_path: str | Path
) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """Read a queries step's output; keeps the queries that have a positive, in qrels order."""
    from irlens.data.beir import read_qrels, read_queries

    for p, rule in ((queries_path, "queries.jsonl"), (qrels_path, "qrels.tsv")):
        if not Path(p).is_file():
            raise IrlensError(
                f"{p}: file not found; run 'irlens gpl queries' (or the gpl_queries rule) first to write the {rule}"
            )
    queries = read_queries(queries_path)
    qrels = read_qrels(qrels_path)
    missing = [q for q in qrels if q not in queries]
    if missing:
        raise IrlensError(
            f"{qrels_path}: query '{missing[0]}' is not in {queries_path} ({len(missing)} missing); "
            "rerun 'irlens gpl queries'"
        )
    qrels = {q: {d: g for d, g in docs.items() if g >= 1} for q, docs in qrels.items()}
    return queries, {q: d for q, d in qrels.items() if d}
