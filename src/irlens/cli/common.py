"""Argument groups and loaders shared by several stage CLIs (cross-encoder model flags)."""

from __future__ import annotations

import argparse

from irlens.runtime import set_threads


def add_cross_encoder_args(p: argparse.ArgumentParser) -> None:
    """``--model/--local-dir/--device/--max-length/--relevant-label/--threads`` of a cross-encoder."""
    p.add_argument("--model", required=True, help="cross-encoder HF id or folder")
    p.add_argument("--local-dir", action="append", help="local model folder(s) (<dir>/<org>__<name>/)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--max-length", type=int, default=None, help="tokens per (query, document) pair")
    p.add_argument("--relevant-label", type=int, default=1, help="index of 'relevant' for 2-logit heads (default 1)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")


def load_cross_encoder_from_args(a: argparse.Namespace):
    """``(CrossEncoder, ResolvedModel)`` from the flags of :func:`add_cross_encoder_args`."""
    from irlens.models import load_cross_encoder

    set_threads(a.threads)
    return load_cross_encoder(
        a.model, a.local_dir or [], device=a.device, max_length=a.max_length, relevant_label=a.relevant_label
    )
