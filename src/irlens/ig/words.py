"""From word-piece attributions to words.

A **word** is a maximal run of non-special word pieces whose character spans touch (no whitespace in
between), so ``purring`` = ``pu`` + ``##rr`` + ``##ing`` and ``covid-19`` stays one word. Its score is the
sum of its pieces' scores (IG is additive, so word scores still satisfy completeness minus the special
tokens' share). Special tokens ([CLS], [SEP]) are dropped; [UNK] is not special here (it covers input
characters: :func:`irlens.ig.bi_encoder.special_token_mask`) and is merged like any piece. For documents,
words starting inside the title (the first ``title_chars`` characters of the model's text, i.e. the
stripped title: :func:`title_chars`) are flagged ``in_title``. When the input was cut at the model's
length inside a word, the last word is flagged ``truncated`` (its pieces spell only a prefix, e.g. ``treat``
of ``treatment``): it keeps its score but never matches an in-domain term.
``norm`` is the key used to aggregate words across pairs: lowercased, punctuation stripped at both ends.
"""

from __future__ import annotations

import re

from irlens.ig.bi_encoder import TokenAttribution

_EDGE = re.compile(r"^[^\w]+|[^\w]+$", re.UNICODE)
_WORD = re.compile(r"\S+")


def norm_word(word: str) -> str:
    """Aggregation key of a word: lowercase, leading/trailing punctuation removed ('' if nothing is left)."""
    return _EDGE.sub("", word.lower())


def title_chars(title: str | None) -> int:
    """Characters of ``title`` at the start of :func:`irlens.data.beir.doc_text`'s text, which strips the
    joined ``title + " " + text``: leading and trailing blanks of the title are not title characters."""
    return len((title or "").strip())


def merge_words(attr: TokenAttribution, title_chars: int = 0) -> list[dict]:
    """Word-level rows ``{word_index, word, norm, start, end, in_title, truncated, score, n_pieces}`` of one
    attribution. ``truncated``: the last word, when the text goes on past it without a blank and the
    whole whitespace-delimited word would normalise differently (the input was cut inside the word)."""
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
        norm = norm_word(text)
        truncated = False
        if i == len(words) - 1 and w["end"] < len(attr.text) and not attr.text[w["end"]].isspace():
            m = _WORD.match(attr.text, w["start"])
            truncated = norm_word(m.group(0)) != norm
        rows.append(
            {
                "word_index": i,
                "word": text,
                "norm": norm,
                "start": w["start"],
                "end": w["end"],
                "in_title": bool(w["start"] < title_chars),
                "truncated": truncated,
                "score": w["score"],
                "n_pieces": w["n_pieces"],
            }
        )
    return rows
