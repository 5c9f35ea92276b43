"""Process-level CPU settings that make PyTorch faster without changing any result.

On CPU, PyTorch takes every activation tensor from the C library's ``malloc`` and gives it back
at once. glibc serves blocks above its mmap threshold (128 KiB, rising only up to 32 MiB) with
fresh ``mmap`` pages and unmaps them on ``free``; a transformer forward over a batch of a few
thousand tokens allocates tens of such blocks per layer, so every layer first page-faults its
output into existence. On the 2-core development machine that was 2.4 million minor page faults and
~12 % of the time of encoding 256 SciFact documents with MiniLM (``bench/allocator.py``).

:func:`tune_cpu_allocator` keeps freed memory in the process instead:

* ``M_MMAP_THRESHOLD`` = 32 MiB (glibc's maximum): blocks up to that size come from the heap;
* ``M_TRIM_THRESHOLD`` = 1 GiB and ``M_TOP_PAD`` = 256 MiB: the heap is neither returned to the
  kernel after each free nor grown page by page;
* ``THP_MEM_ALLOC_ENABLE=1`` (read by PyTorch's CPU allocator at its first allocation): blocks of
  2 MiB and more are aligned and advised as transparent huge pages, so the rest fault 512× less often.

The arithmetic is untouched (same kernels, same inputs): outputs are bit-identical. The cost is
that a process keeps up to ~1 GiB of freed memory for reuse. Set ``IRLENS_TUNE_ALLOCATOR=0`` to
turn it off. The ``irlens`` command calls it first; from a notebook call it before importing torch.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

# glibc <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's upper limit for M_MMAP_THRESHOLD on 64-bit systems
TRIM_THRESHOLD = 1024 * 1024 * 1024
TOP_PAD = 256 * 1024 * 1024

_state: dict | None = None


def tune_cpu_allocator(enable: bool | None = None) -> dict:
    """Apply the allocator settings above once per process; returns what was applied.

    ``enable=None`` follows ``IRLENS_TUNE_ALLOCATOR`` (default on). Outside Linux/glibc the mallopt
    part is skipped (reported as ``mallopt: False``); nothing raises. The THP variable only takes
    effect if PyTorch has not allocated a tensor yet and the user has not set it.
    """
    global _state
    if _state is not None:
        return _state
    if enable is None:
        enable = os.environ.get("IRLENS_TUNE_ALLOCATOR", "1").strip().lower() not in ("0", "false", "no", "off")
    state = {"enabled": bool(enable), "mallopt": False, "thp": False}
    if enable:
        if sys.platform.startswith("linux"):
            state["mallopt"] = _mallopt()
        if "THP_MEM_ALLOC_ENABLE" not in os.environ:
            os.environ["THP_MEM_ALLOC_ENABLE"] = "1"
        state["thp"] = os.environ.get("THP_MEM_ALLOC_ENABLE") == "1" and "torch" not in sys.modules
    _state = state
    log.debug("CPU allocator tuning: %s", state)
    return state


def _mallopt() -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_int]
    fn.restype = ctypes.c_int
    ok = fn(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok &= fn(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    ok &= fn(_M_TOP_PAD, TOP_PAD) == 1
    return bool(ok)


def set_threads(n: int | None) -> None:
    """``torch.set_num_threads(n)`` when ``n`` is given (0/None: leave torch's default)."""
    if n:
        import torch

        torch.set_num_threads(int(n))


def plan_batches(lengths: np.ndarray, max_tokens: int, max_batch: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Token-budget batches: the order (longest first, ties by index) and ``[start, end)`` bounds over it,
    each batch at most ``max_batch`` rows and ``max_tokens`` padded tokens (rows × its longest length)."""
    import numpy as np

    order = np.lexsort((np.arange(len(lengths)), -lengths))
    batches, start = [], 0
    while start < len(order):
        longest = int(lengths[order[start]])
        size = max(1, min(max_batch, max_tokens // max(longest, 1)))
        end = min(len(order), start + size)
        batches.append((start, end))
        start = end
    return order, batches
