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


def word_pieces(attr: TokenAttribution) -> list[list[int]]:
    """Token positions of each word of ``attr`` (the grouping :func:`merge_words` sums over), in text order;
    special tokens and empty spans belong to no word."""
    return word_groups(attr.offsets, attr.special)


def word_groups(offsets, special) -> list[list[int]]:
    """:func:`word_pieces` from the character spans and special-token flags of the word pieces alone."""
    groups: list[list[int]] = []
    end_of = -1
    for j, ((start, end), is_special) in enumerate(zip(offsets, special)):
        if is_special or end <= start:
            end_of = -1
            continue
        if groups and start == end_of:
            groups[-1].append(j)
        else:
            groups.append([j])
        end_of = int(end)
    return groups


def merge_words(attr: TokenAttribution, title_chars: int = 0) -> list[dict]:
    """Word-level rows ``{word_index, word, norm, start, end, in_title, truncated, score, n_pieces}`` of one
    attribution. ``truncated``: the last word, when the text goes on past it without a blank and the
    whole whitespace-delimited word would normalise differently (the input was cut inside the word)."""
    words = [
        {
            "start": int(attr.offsets[g[0]][0]),
            "end": int(attr.offsets[g[-1]][1]),
            "score": float(sum(float(attr.scores[j]) for j in g)),
            "n_pieces": len(g),
        }
        for g in word_pieces(attr)
    ]
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
