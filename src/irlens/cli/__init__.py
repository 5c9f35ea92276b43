"""``irlens <stage> <step>``: what every Snakemake rule calls; usable by hand as well.

:func:`main` assembles one parser per stage from ``irlens.cli.<stage>`` (each module's ``add_parser``).
Every failure caused by input, data or environment prints one line ``irlens <command>: error: ...`` (the
command as argparse names it in its own errors, e.g. ``irlens retrieval retrieve``) and exits with status 2:
an :class:`~irlens.errors.IrlensError`, and the exceptions that can only come from a bad input (a missing file,
a folder where a file belongs, broken JSON or YAML, text that is not UTF-8, a file that is not parquet). Anything else
is a bug in irlens: one line ``irlens <command>: internal error: ...`` and status 1, or the traceback with
``-v``.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import sys

from irlens.errors import IrlensError

log = logging.getLogger("irlens")

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
    _name_commands(p)
    return p


def _name_commands(parser: argparse.ArgumentParser) -> None:
    """Give every (sub)parser the default ``command`` = its prog (``irlens ig views``): the deepest one parsed
    wins, so error lines name the command as argparse's own errors do."""
    parser.set_defaults(command=parser.prog)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _name_commands(child)


#: What to do about an OSError of a file, by type (the message names the file).
_OS_HINTS = {
    FileNotFoundError: "check the path (or run the step that makes the file first)",
    IsADirectoryError: "a folder was given where a file belongs; check the path",
    NotADirectoryError: "a part of the path is a file, not a folder; check the path",
    PermissionError: "check the permissions of the file and its folder",
    FileExistsError: "delete it or choose another path",
}


def input_error(e: BaseException) -> str | None:
    """The one-line message for an exception that can only be caused by the input or the machine (a missing or
    unreadable file, broken JSON or YAML, non-UTF-8 text, a file that is not parquet, a full disk, a GPU out of
    memory); ``None`` for anything else (a bug).

    Modules are only looked at when already imported (``sys.modules``): the CLI imports neither pyarrow
    nor torch by itself."""
    if isinstance(e, IrlensError):
        return str(e)
    if isinstance(e, OSError) and e.filename is not None:
        for kind, hint in _OS_HINTS.items():
            if isinstance(e, kind):
                return f"{e.filename}: {e.strerror or type(e).__name__}; {hint}"
    if isinstance(e, json.JSONDecodeError):
        return f"an input file is not valid JSON ({e.msg} at line {e.lineno}); rerun with -v to see which"
    if isinstance(e, UnicodeDecodeError):
        return f"an input file is not UTF-8 text ({e.reason} at byte {e.start}); rerun with -v to see which"
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"{e.filename or 'an output'}: {e.strerror}; free some space (or write the outputs elsewhere) and rerun"
    torch = sys.modules.get("torch")
    oom = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    if oom is not None and isinstance(e, oom):
        return (
            f"out of GPU memory ({str(e).splitlines()[0] if str(e) else 'CUDA'}); lower the batch flags "
            "(--max-tokens / --max-batch / --batch) or use --device cpu"
        )
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(e, pa.ArrowInvalid):
        return f"{str(e).rstrip('.')}; check the path (delete the file and rerun the step that makes it)"
    yaml = sys.modules.get("yaml")
    if yaml is not None and isinstance(e, yaml.YAMLError):
        mark = getattr(e, "problem_mark", None)
        where = f"{mark.name}:{mark.line + 1}: " if mark is not None and not mark.name.startswith("<") else ""
        return (
            f"{where}an input file is not valid YAML ({getattr(e, 'problem', None) or e}); rerun with -v to see which"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    """Run ``irlens`` with ``argv`` (default: ``sys.argv``); returns the exit status (2: one-line error)."""
    from irlens.io import setup_logging
    from irlens.runtime import tune_cpu_allocator

    tune_cpu_allocator()  # before torch allocates anything (irlens.runtime: bit-identical, ~10 % faster)
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        args.func(args)
    except KeyboardInterrupt:
        print(f"{args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        message = input_error(e)
        if message is not None:
            if args.verbose:
                log.debug("the error's traceback", exc_info=True)
            message = " ".join(message.split())
            step = args.command.removeprefix("irlens ") + ": "  # "gpl negatives: ..." would repeat the command
            print(f"{args.command}: error: {message.removeprefix(step)}", file=sys.stderr)
            return 2
        if args.verbose:
            raise
        print(
            f"{args.command}: internal error: {type(e).__name__}: {' '.join(str(e).split())} "
            "(rerun with -v for the traceback; please report it)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
