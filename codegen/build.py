"""C source -> shared library -> `(ffi, lib)`, built at most once per process and cached on disk across processes.

In: generated C source (which may `#include` the headers of `csrc/`), its cffi declarations, and optional
extra compiler flags. Out: a cffi FFI and the library opened through it in ABI mode (`ffi.dlopen`).

The cache key is a sha256 over: the source; the name and text of every header under `csrc/` (editing a
header invalidates); the flags (with the `csrc/` include path written as a placeholder, since the headers'
text is hashed already, so moving the checkout does not invalidate); the compiler identity; and the CPU
(model name and feature flags from /proc/cpuinfo, plus `platform.machine()`), because `-march=native`
makes the library specific to it.

Compiler identity, computed without starting a process, so that a process whose library is cached never
runs the compiler (not even `--version`): each word of the compiler command (`SALINE_CC`, else `cc`, else
`gcc`) that resolves on PATH contributes its real path (symlinks and /etc/alternatives followed), size and
mtime; other words contribute their text. A package upgrade replaces the driver binary, which changes size
or mtime. Where that file says nothing about the compiler behind it (a wrapper such as `ccache gcc` or a
script), set `SALINE_CC_ID` to a string that names the real compiler: it replaces the computed identity.

Gathers: on x86-64 a build adds the compiler's spelling of "no hardware gathers in vector loops" (see
NO_GATHER_FLAGS for why and what it measured); which spelling is asked of the compiler only when it is about
to build, so it is not in the flags that key the cache (the compiler's identity is, and KEY_FORMAT names the
policy).

Sanitizers: `SALINE_SANITIZE=address,undefined` (either or both) builds generated code with
`-fsanitize=...`, `-fno-omit-frame-pointer` and `-fno-sanitize-recover=all`, so any report aborts the
process. The flags are part of the cache key, so sanitized and plain libraries never mix. AddressSanitizer
must be the first library in the process: run Python as
`LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 python ...`; when it is
not loaded, `load_library` raises `SanitizerError` saying so instead of failing in dlopen.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cffi

from codegen import cache
from codegen.cache import cache_dir

__all__ = [
    "GATHERS_ALLOWED",
    "BuildError",
    "SanitizerError",
    "build_count",
    "cache_dir",
    "compile_flags",
    "csrc_dir",
    "load_library",
    "sanitizers",
]

# Never -ffast-math: linking it sets flush-to-zero for the whole Python process. -ffp-contract=off keeps
# results bit-identical to the reference (no fused multiply-add unless written). -fno-trapping-math
# (clang's default) lets gcc vectorize a select whose branch holds arithmetic, such as an inlined
# saline_powf, by computing both branches: it changes no value, only which floating-point
# exception flags end up raised, which Saline never reads.
BASE_FLAGS = (
    "-O3",
    "-march=native",
    "-fopenmp-simd",
    "-fPIC",
    "-shared",
    "-fwrapv",
    "-fno-math-errno",
    "-ffp-contract=off",
    "-fno-trapping-math",
    "-std=gnu11",
)
# Hardware gathers (vpgather*) are slower than the scalar loads they stand for on CPUs that carry the
# Gather Data Sampling mitigation (Intel, 2023 microcode), and barely faster elsewhere. On the development
# machine (Xeon @ 2.5 GHz, AVX-512), a vector loop reading a 1024-entry float table took 1.37 ns per element
# with gathers and 0.89 ns with gcc's scalar lane loads; at 2560x1536 with 2 threads, resize_bicubic went
# from 21.0 to 17.9 ms, local_laplacian from 245 to 225 ms, equalize_histogram from 32.7 to 29.3 ms, and
# the other apps did not move. The option has changed spelling across gcc versions, so a build uses the
# first of these the compiler accepts (`_no_gather_flags`), on x86-64 only, and none if it takes none.
NO_GATHER_FLAGS = (
    ("-mno-gather",),  # gcc 12.4, 13.3 and later; clang 17 and later
    ("-mtune-ctrl=^use_gather_2parts,^use_gather_4parts,^use_gather_8parts",),  # gcc 13.1-13.2
    ("-mtune-ctrl=^use_gather_2parts,^use_gather_4parts,^use_gather",),  # gcc 12.1-12.3
)
# A library built with this define keeps the compiler's gathers (a schedule's allow_gathers()):
# being one of its flags, it is part of the cache key.
GATHERS_ALLOWED = "-DSALINE_GATHERS"
SANITIZERS = ("address", "undefined")
SANITIZER_FLAGS = ("-fno-omit-frame-pointer", "-fno-sanitize-recover=all")
# bump when the layout of the key or of an entry changes, or what a build adds to the flags (2: NO_GATHER_FLAGS)
KEY_FORMAT = b"saline-build-2"
STDERR_LINES = 40

_loaded: dict[tuple[str, str], tuple[cffi.FFI, Any]] = {}
_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()
_builds = 0


class BuildError(RuntimeError):
    """The C compiler failed; the message holds the start of its stderr and the path of the kept source."""


class SanitizerError(RuntimeError):
    """SALINE_SANITIZE names an unknown sanitizer, or asks for one whose runtime is not loaded."""


def sanitizers() -> tuple[str, ...]:
    """The sanitizers SALINE_SANITIZE asks for (comma-separated names of `SANITIZERS`), in that order."""
    raw = os.environ.get("SALINE_SANITIZE", "")
    names = {n.strip() for n in raw.split(",") if n.strip()}
    unknown = sorted(names - set(SANITIZERS))
    if unknown:
        raise SanitizerError(
            f"SALINE_SANITIZE={raw!r}: unknown sanitizer {unknown[0]!r}; expected a comma-separated subset of "
            + ", ".join(SANITIZERS)
        )
    return tuple(n for n in SANITIZERS if n in names)


def asan_loaded() -> bool:
    """Whether AddressSanitizer's runtime is mapped into this process."""
    try:
        with open("/proc/self/maps") as f:
            return any("libasan" in line for line in f)
    except OSError:
        return False


def _sanitizer_flags() -> list[str]:
    chosen = sanitizers()
    if not chosen:
        return []
    if "address" in chosen and not asan_loaded():
        raise SanitizerError(
            "SALINE_SANITIZE includes address, but AddressSanitizer's runtime is not loaded in this process; "
            "it must come first: run LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 "
            "python ... (Debian: apt-get install gcc, which brings libasan8 and libubsan1)"
        )
    return [f"-fsanitize={','.join(chosen)}", *SANITIZER_FLAGS]


def csrc_dir() -> Path:
    """The repository's `csrc/` folder, which holds the headers generated code includes."""
    return Path(__file__).resolve().parent.parent / "csrc"


@functools.cache
def has_libmvec() -> bool:
    """Whether glibc's vector math library, with every function saline_runtime.h declares SIMD
    (tanhf came last, in glibc 2.35), is there to link: x86-64 Linux with glibc 2.35 or newer.
    Read from the C library's own version string, so no process is started."""
    if platform.machine() not in ("x86_64", "AMD64") or not hasattr(os, "confstr"):
        return False
    try:
        name, _, version = (os.confstr("CS_GNU_LIBC_VERSION") or "").partition(" ")
    except (OSError, ValueError):
        return False
    parts = version.split(".")
    return (
        name == "glibc"
        and len(parts) >= 2
        and all(p.isdigit() for p in parts[:2])
        and ((int(parts[0]), int(parts[1])) >= (2, 35))
    )


def compile_flags() -> list[str]:
    """The flags every library is built with (sanitizers from SALINE_SANITIZE included; `-DSALINE_LIBMVEC`
    where glibc's vector math library is linked), `-I<csrc>` last."""
    vector_math = ["-DSALINE_LIBMVEC"] if has_libmvec() else []
    return [*BASE_FLAGS, *vector_math, *_sanitizer_flags(), f"-I{csrc_dir()}"]


def _libraries(flags: list[str]) -> list[str]:
    """Libraries to link, after the source (so that `--as-needed` linkers keep them)."""
    return ["-lmvec", "-lm"] if "-DSALINE_LIBMVEC" in flags else []


def build_count() -> int:
    """How many libraries this process has compiled (a build's option probe, `_no_gather_flags`, is not counted)."""
    return _builds


def load_library(
    source: str, cdef: str, *, name_hint: str = "pipeline", extra_flags: Sequence[str] = ()
) -> tuple[cffi.FFI, Any]:
    """Compile `source` (or find it in the cache) and open it with cffi, declared by `cdef`.

    Example:
        >>> ffi, lib = load_library("int add(int a, int b) { return a + b; }", "int add(int, int);")
        >>> lib.add(2, 3)
        5

    The same source, flags and cdef give the same `(ffi, lib)` for the rest of the process. Raises
    `BuildError` when the compiler fails; a cache that cannot be written only costs a warning.
    """
    flags = [*compile_flags(), *extra_flags]
    key = _library_key(source, flags)
    with _lock_for(key):
        found = _loaded.get((key, cdef))
        if found is None:
            ffi = cffi.FFI()
            ffi.cdef(cdef)
            found = _loaded[(key, cdef)] = (ffi, _open(ffi, source, flags, cache.entry_stem(name_hint, key)))
        return found


def _lock_for(key: str) -> threading.Lock:
    with _guard:
        return _locks.setdefault(key, threading.Lock())


def _open(ffi: cffi.FFI, source: str, flags: list[str], stem: str) -> Any:
    for directory in cache.lookup_dirs():
        library = directory / f"{stem}.so"
        if cache.is_intact(library):
            try:
                return ffi.dlopen(str(library))
            except OSError:
                pass  # matches its checksum yet will not load (copied from another machine?): rebuild
    library = _build(source, flags, stem)
    try:
        return ffi.dlopen(str(library))
    except OSError as e:
        raise BuildError(f"built {library} but it does not load: {e}") from e


def _build(source: str, flags: list[str], stem: str) -> Path:
    directory = cache.writable_dir()
    try:
        return _build_in(directory, source, flags, stem)
    except (OSError, BuildError):
        if directory.is_dir() and os.access(directory, os.W_OK | os.X_OK):
            raise  # the directory is fine: a real failure
        # The cache directory was removed (or made read-only) while the compiler ran: build again elsewhere.
        return _build_in(cache.fall_back(directory, "disappeared during a build"), source, flags, stem)


def _build_in(directory: Path, source: str, flags: list[str], stem: str) -> Path:
    global _builds
    kept = cache.keep_source(directory, stem, source)
    built = cache.temp_path(directory, stem, ".so")
    compiler = compiler_command()
    no_gathers = () if GATHERS_ALLOWED in flags else _no_gather_flags(tuple(compiler))
    command = [*compiler, *flags, *no_gathers, "-o", str(built), str(kept), *_libraries(flags)]
    with _guard:
        _builds += 1
    try:
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError as e:
            raise BuildError(f"cannot run the C compiler {command[0]!r} ({e}); set SALINE_CC. Source: {kept}") from e
        if result.returncode != 0:
            raise BuildError(_failure_message(command, result, kept))
        library = directory / f"{stem}.so"
        cache.install(built, library)
        return library
    finally:
        built.unlink(missing_ok=True)


def _failure_message(command: list[str], result: subprocess.CompletedProcess[str], kept: Path) -> str:
    lines = (result.stderr or result.stdout).splitlines()
    shown = "\n".join(lines[:STDERR_LINES])
    if len(lines) > STDERR_LINES:
        shown += f"\n... ({len(lines) - STDERR_LINES} more lines)"
    return f"C compiler failed (exit {result.returncode}) on {kept}\ncommand: {shlex.join(command)}\n{shown}"


@functools.cache
def _no_gather_flags(compiler: tuple[str, ...]) -> tuple[str, ...]:
    """The first of NO_GATHER_FLAGS that `compiler` accepts, on x86-64; else none. Asked only when a
    library is built, once per process and compiler: the compiler is part of the cache key, so a cached
    library was built with the same answer."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return ()
    for candidate in NO_GATHER_FLAGS:
        try:
            probe = subprocess.run(
                [*compiler, *candidate, "-x", "c", "-fsyntax-only", "-"],
                input="",
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
        except (OSError, subprocess.TimeoutExpired):
            return ()  # the build itself will report a compiler that does not run
        if probe.returncode == 0:
            return candidate
    return ()


def compiler_command() -> list[str]:
    """The command that compiles: `SALINE_CC` split like a shell would, else `cc`, else `gcc`."""
    env = os.environ.get("SALINE_CC", "").strip()
    if env:
        return shlex.split(env)
    return ["cc"] if shutil.which("cc") else ["gcc"]


def compiler_identity() -> str:
    """What the cache key knows of the compiler (see the module docstring); starts no process."""
    return _identity(tuple(compiler_command()), os.environ.get("SALINE_CC_ID", ""), os.environ.get("PATH", ""))


@functools.cache
def _identity(command: tuple[str, ...], override: str, path: str) -> str:
    if override:
        return f"id:{override}"
    words = []
    for word in command:
        found = shutil.which(word, path=path)
        if found is None:
            words.append(word)
            continue
        real = os.path.realpath(found)
        st = os.stat(real)
        words.append(f"{real}:{st.st_size}:{st.st_mtime_ns}")
    return " ".join(words)


@functools.cache
def cpu_identity() -> str:
    """The CPU as `-march=native` sees it: architecture, model and feature flags."""
    wanted = ("model name", "flags", "Features", "CPU implementer", "CPU architecture", "CPU variant", "CPU part")
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                name, sep, value = line.partition(":")
                name = name.strip()
                if sep and name in wanted and name not in fields:
                    fields[name] = " ".join(value.split())
    except OSError:
        fields["processor"] = platform.processor()
    return "\n".join([platform.machine(), *(f"{k}={v}" for k, v in sorted(fields.items()))])


def _library_key(source: str, flags: list[str]) -> str:
    h = hashlib.sha256()

    def part(label: str, data: bytes) -> None:
        h.update(label.encode() + b"\0" + len(data).to_bytes(8, "little") + data)

    part("format", KEY_FORMAT)
    part("source", source.encode())
    root = csrc_dir()
    headers = sorted(root.rglob("*.h")) if root.is_dir() else []
    for header in headers:
        part(f"header:{header.relative_to(root).as_posix()}", header.read_bytes())
    include = f"-I{root}"
    part("flags", "\0".join("-I<csrc>" if flag == include else flag for flag in flags).encode())
    part("compiler", compiler_identity().encode())
    part("cpu", cpu_identity().encode())
    return h.hexdigest()
