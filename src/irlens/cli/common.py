"""Argument groups and loaders shared by several stage CLIs (cross-encoder model flags)."""

from __future__ import annotations

import argparse

from irlens.runtime import set_threads


def read_yaml_mapping(path, flag: str) -> dict:
    """The mapping in the YAML (or JSON) file ``path`` given as ``flag``; one-line
    :class:`~irlens.errors.IrlensError` naming the file when it is missing, not YAML or not a mapping
    (an empty file is an empty mapping)."""
    from pathlib import Path

    import yaml

    from irlens.errors import IrlensError

    p = Path(path)
    if not p.is_file():
        raise IrlensError(
            f"{p}: {flag} {'is a folder, not a file' if p.is_dir() else 'file not found'}; check the path"
        )
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise IrlensError(f"{p}: not UTF-8 text; {flag} wants a YAML file") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise IrlensError(f"{p}: not valid YAML ({problem}{where}); fix {flag}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise IrlensError(f"{p}: expected a YAML mapping (key: value), got a {type(data).__name__}; check {flag}")
    return data


def add_cross_encoder_args(p: argparse.ArgumentParser) -> None:
    """``--model/--local-dir/--pin/--device/--max-length/--relevant-label/--threads`` of a cross-encoder."""
    p.add_argument("--model", required=True, help="cross-encoder HF id or folder")
    p.add_argument("--local-dir", action="append", help="local model folder(s) (<dir>/<org>__<name>/)")
    p.add_argument("--pin", action="append", help="<id>=<sha256>: that id's weights must have this sha256 (repeat)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--max-length", type=int, default=None, help="tokens per (query, document) pair")
    p.add_argument("--relevant-label", type=int, default=1, help="index of 'relevant' for 2-logit heads (default 1)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")


def load_cross_encoder_from_args(a: argparse.Namespace):
    """``(CrossEncoder, ResolvedModel)`` from the flags of :func:`add_cross_encoder_args`."""
    from irlens.models import load_cross_encoder
    from irlens.models.resolve import parse_pins

    set_threads(a.threads)
    return load_cross_encoder(
        a.model,
        a.local_dir or [],
        device=a.device,
        max_length=a.max_length,
        relevant_label=a.relevant_label,
        pins=parse_pins(a.pin),
    )
