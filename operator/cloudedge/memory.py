"""Process-wide memory settings of the long-running scheduler (``cloudedge run``).

A joint solve of 500 pods on 1,000 nodes builds a few dozen pods x nodes float matrices of
4 MB each and frees them when the batch ends. Two process-wide costs came with that, both
measured on the solve bench (docs/benchmarks.md, "Joint solve time"):

- glibc returns the freed top of its heap to the kernel once it exceeds a trim threshold that
  it raises only to twice its largest mmap'd chunk (8 MB after one 4 MB matrix), so each batch
  faulted its matrices' pages in afresh and unmapped them again: the cost matrices
  (``evaluator.Problem``) took 55 ms where they take 38 ms in reused memory, and freeing a
  batch took 9 ms instead of 5. :func:`keep_freed_memory` keeps freed memory in the heap for
  the next batch; the process's peak resident size is unchanged (the next batch reuses what
  the last one freed), only what it gives back between batches.
- a full collection of Python's cyclic collector walks every object of the process: the
  imported libraries and the synced cluster view are most of them, and they live as long as
  the process. The one batch in 100 that met a full collection spent 57 ms in it.
  :func:`freeze_survivors`, called once the cluster view is synced, moves what exists then
  out of the collector's sight (``gc.freeze``): they are still freed when their last reference
  goes, only never walked again in search of cycles.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger(__name__)

MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
"""Allocations below this come from the heap, not from their own mapping: glibc's own upper
bound for its adaptive threshold on 64-bit. A 1,000-pod batch's matrix on 2,000 nodes is 16 MB."""

TRIM_THRESHOLD_BYTES = 512 * 1024 * 1024
"""Free memory at the top of the heap beyond this goes back to the kernel: the chart's memory
limit, so that what a batch frees is kept for the next one."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter numbers (glibc's malloc.h)."""


def keep_freed_memory(
    *, mmap_threshold: int = MMAP_THRESHOLD_BYTES, trim_threshold: int = TRIM_THRESHOLD_BYTES
) -> bool:
    """Make glibc's malloc keep freed batch-sized blocks for reuse (see the module docstring).

    Returns whether both settings took; False, with nothing changed, where the C library is
    not glibc (musl has no ``mallopt``): the scheduler works the same, each batch paying
    for fresh pages.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        log.info("no mallopt in the C library (%s): freed memory is returned at once", name)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    took = bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    )
    if not took:
        log.warning(
            "mallopt refused an mmap threshold of %d or a trim threshold of %d bytes",
            mmap_threshold,
            trim_threshold,
        )
    return took


def freeze_survivors() -> int:
    """Collect once, then hide every object that survived from later collections.

    For objects that live as long as the process (modules, the synced view): see the module
    docstring. Returns how many objects are frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
