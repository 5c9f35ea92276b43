"""``irlens <stage> <step>``: what every Snakemake rule calls; usable by hand as well.

:func:`main` assembles one parser per stage from ``irlens.cli.<stage>`` (each module's ``add_parser``).
Every failure caused by input, data or environment prints one line ``irlens: error: ...`` and exits with
status 2.
"""

from __future__ import annotations

import argparse
import sys

from irlens.errors import IrlensError

#: CLI modules in the order their subcommands are listed by ``irlens --help``; one per stage (+ models).
STAGES = ("data", "models", "retrieval", "cross_encoder", "gpl", "ig", "nig", "ablation", "sae", "report")


def build_parser() -> argparse.ArgumentParser:
    """The ``irlens`` argument parser with every stage's subcommands."""
    import importlib

    p = argparse.ArgumentParser(
        prog="irlens", description="Interpreting neural retrievers: every stage of the irlens workflow as a command."
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="cmd", required=True)
    for stage in STAGES:
        importlib.import_module(f"irlens.cli.{stage}").add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``irlens`` with ``argv`` (default: ``sys.argv``); returns the exit status (2: one-line error)."""
    from irlens.io import setup_logging
    from irlens.runtime import tune_cpu_allocator

    tune_cpu_allocator()  # before torch allocates anything (irlens.runtime: bit-identical, ~10 % faster)
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        args.func(args)
    except IrlensError as e:
        print(f"irlens: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("irlens: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
