"""Writing files so that readers only ever see the old version or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

TEMP_PREFIX = ".tmp-"

Loaded = TypeVar("Loaded")


@contextmanager
def replaced_whole(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write to; on success rename it over `path`.

    The temporary file keeps `path`'s suffix (Keras insists on ".keras") and starts with a dot,
    so nothing that looks for `*.keras` or the final name picks it up. On failure it is deleted
    and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes private files; models and histories are for everyone to read
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def remove_leftovers(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that writers killed mid-write left in `folder`; return them.

    Only for a folder no one can be writing into now (the retrain's, with its lock held).
    """
    leftovers = sorted(Path(folder).glob(f"{TEMP_PREFIX}*"))
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def read_cached(path: Path, load: Callable[[Path], Loaded]) -> Loaded | None:
    """What `load` reads from a cache file; None when there is none yet, or half of one (a writer killed
    before `replaced_whole` renamed it leaves none, but a file copied or cut short by hand can be)."""
    try:
        return load(path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
