"""Saline's thread pool (csrc/saline_pool.c), built and loaded once per process.

After `pool_entry()`: the pool's library is loaded (built through the same cache as pipelines)
and the address of its `saline_pool_parallel_for` is returned; `attach_pool(ffi, lib)` hands that
address to a pipeline library, whose parallel loops then run on the pool's workers. Every
library of the process shares the one pool, so the number of threads stays the largest thread
count asked for, however many pipelines are loaded.
"""

from __future__ import annotations

import functools
from typing import Any

from codegen.build import csrc_dir, load_library

POOL_SOURCE = "saline_pool.c"
POOL_CDEF = "void *saline_pool_entry(void);"


@functools.cache
def pool_entry() -> int:
    """The address of the pool's parallel-for entry point."""
    source = (csrc_dir() / POOL_SOURCE).read_text()
    # never unmapped: cffi closes the library when the interpreter exits, and a worker still
    # spinning in it then would run unmapped code (a crash at exit, 5 of 5 runs with a long spin)
    ffi, lib = load_library(source, POOL_CDEF, name_hint="pool", extra_flags=("-pthread", "-Wl,-z,nodelete"))
    return int(ffi.cast("uintptr_t", lib.saline_pool_entry()))


def attach_pool(ffi: Any, lib: Any) -> None:
    """Make `lib` (a library from `emit_c`'s source) run its parallel loops on the pool."""
    lib.saline_set_pool(ffi.cast("void *", pool_entry()))
