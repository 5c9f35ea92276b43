"""From word-piece attributions to words.

A **word** is a maximal run of non-special word pieces whose character spans touch (no whitespace in
between), so ``purring`` = ``pu`` + ``##rr`` + ``##ing`` and ``covid-19`` stays one word. Its score is the
sum of its pieces' scores (IG is additive, so word scores still satisfy completeness minus the special
tokens' share). Special tokens ([CLS], [SEP]) are dropped. For documents, words starting inside the
title (the first ``title_chars`` characters of ``title + " " + text``) are flagged ``in_title``.
``norm`` is the key used to aggregate words across pairs: lowercased, punctuation stripped at both ends.
"""

from __future__ import annotations

import re

from irlens.ig.bi_encoder import TokenAttribution

_EDGE = re.compile(r"^[^\w]+|[^\w]+$", re.UNICODE)


def norm_word(word: str) -> str:
    """Aggregation key of a word: lowercase, leading/trailing punctuation removed ('' if nothing is left)."""
    return _EDGE.sub("", word.lower())


def merge_words(attr: TokenAttribution, title_chars: int = 0) -> list[dict]:
    """Word-level rows ``{word_index, word, norm, start, end, in_title, score, n_pieces}`` of one attribution."""
    words: list[dict] = []
    cur = None
    for tok_score, (start, end), special in zip(attr.scores, attr.offsets, attr.special):
        if special or end <= start:
            cur = None
            continue
        if cur is not None and start == cur["end"]:
            cur["end"] = int(end)
            cur["score"] += float(tok_score)
            cur["n_pieces"] += 1
        else:
            cur = {"start": int(start), "end": int(end), "score": float(tok_score), "n_pieces": 1}
            words.append(cur)
    rows = []
    for i, w in enumerate(words):
        text = attr.text[w["start"] : w["end"]]
        rows.append(
            {
                "word_index": i,
                "word": text,
                "norm": norm_word(text),
                "start": w["start"],
                "end": w["end"],
                "in_title": bool(w["start"] < title_chars),
                "score": w["score"],
                "n_pieces": w["n_pieces"],
            }
        )
    return rows
