"""The on-disk cache of compiled libraries: where entries live, whether one is intact, how one is installed.

In: a key (a hex sha256 computed by `codegen.build`) and a name hint. An entry is three files in the cache
directory, all named after the key so that a rebuilt library never reuses the path of a stale one (dlopen
returns the already-mapped object for a path it has seen):

    <stem>.so          the library              <stem> = <name_hint>-<key[:24]>
    <stem>.so.sha256   sha256 of the .so bytes, written before the .so is renamed into place
    <stem>.c           the source it was built from (kept for debugging, also after a failed build)

What holds: only complete files are ever renamed into place (`os.replace` of a uniquely named temporary in
the same directory), so concurrent builders of one key each install a whole library and the last rename
wins. An entry is trusted only when the .so hashes to its sidecar; anything else (truncated, missing
sidecar, a half-finished pair from a crash) reads as "not cached" and is rebuilt. When the cache directory
cannot be written, or disappears while a library is being built into it, builds go to a per-process
temporary directory and one warning is emitted.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import platformdirs

SIDECAR_SUFFIX = ".sha256"

_fallback: Path | None = None
_warned: set[Path] = set()


def cache_dir() -> Path:
    """The cache directory: `SALINE_CACHE_DIR` if set, else the user cache dir (`~/.cache/saline` on Linux)."""
    env = os.environ.get("SALINE_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("saline"))


def entry_stem(name_hint: str, key: str) -> str:
    """`<name_hint>-<key[:24]>`, the hint reduced to characters that are safe in any file name."""
    safe = re.sub(r"[^A-Za-z0-9_]+", "_", name_hint).strip("_")[:64] or "lib"
    return f"{safe}-{key[:24]}"


def sidecar(library: Path) -> Path:
    return library.with_name(library.name + SIDECAR_SUFFIX)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def is_intact(library: Path) -> bool:
    """True when `library` exists and hashes to the digest recorded in its sidecar."""
    try:
        expected = sidecar(library).read_text().strip()
        return expected != "" and file_sha256(library) == expected
    except OSError:
        return False


def lookup_dirs() -> list[Path]:
    """Where an entry may already be: the cache dir (even a read-only one) and this process's fallback."""
    dirs = [cache_dir()]
    if _fallback is not None:
        dirs.append(_fallback)
    return dirs


def writable_dir() -> Path:
    """The directory a new build goes to: the cache dir, or (with one warning) a temporary fallback.

    Probed on every build rather than remembered: builds are rare next to the compile itself, and the
    cache dir may be created, removed or re-pointed (SALINE_CACHE_DIR) while the process runs.
    """
    primary = cache_dir()
    try:
        primary.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=primary, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
        return primary
    except OSError as e:
        return fall_back(primary, f"is not writable ({e})")


def fall_back(primary: Path, why: str) -> Path:
    """The per-process temporary build directory, with one warning per `primary` saying `why`."""
    fallback = _fallback_dir()
    if primary not in _warned:
        _warned.add(primary)
        warnings.warn(
            f"saline: cache directory {primary} {why}; building into {fallback} "
            "for this process only (set SALINE_CACHE_DIR to a writable directory to keep builds)",
            RuntimeWarning,
            stacklevel=6,  # the caller of load_library
        )
    return fallback


def _fallback_dir() -> Path:
    global _fallback
    if _fallback is None:
        _fallback = Path(tempfile.mkdtemp(prefix=f"saline-cache-{os.getpid()}-"))
        # Removing mapped libraries at exit is harmless on POSIX: the mappings keep the inodes alive.
        atexit.register(shutil.rmtree, _fallback, ignore_errors=True)
    return _fallback


def temp_path(directory: Path, stem: str, suffix: str) -> Path:
    """A new, empty, uniquely named file in `directory` (same file system, so `os.replace` is atomic)."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=f".{stem}-{os.getpid()}-", suffix=suffix + ".tmp")
    os.close(fd)
    return Path(name)


def install(built: Path, library: Path) -> None:
    """Move the freshly built `built` to `library`, with its sidecar.

    The digest is taken from the temporary file, before any rename. The .so goes in first: a reader that
    looks between the two renames sees a new .so against an old or missing sidecar, which reads as corrupt
    and costs one redundant build, never a wrong load.
    """
    digest = file_sha256(built)
    side = temp_path(library.parent, library.stem, SIDECAR_SUFFIX)
    try:
        side.write_text(digest + "\n")
        os.replace(built, library)
        os.replace(side, sidecar(library))
    finally:
        side.unlink(missing_ok=True)


def keep_source(directory: Path, stem: str, source: str) -> Path:
    """Write `source` to `<stem>.c` in `directory` atomically and return the path."""
    tmp = temp_path(directory, stem, ".c")
    try:
        tmp.write_text(source)
        final = directory / f"{stem}.c"
        os.replace(tmp, final)
        return final
    finally:
        tmp.unlink(missing_ok=True)
