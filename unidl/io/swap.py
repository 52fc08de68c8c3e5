"""Replacing a model directory so that some complete model is loadable at every instant.

Siblings of a model directory ``NAME`` (all in its parent directory):

- ``.NAME.unidl-lock``: the lock file (:mod:`unidl.io.lock`);
- ``.NAME.unidl-tmp-XXXXXXXX``: a save being written;
- ``.NAME.unidl-backup``: the previous save, while a new one is being moved in.

A save, holding the exclusive lock:

1. **recovers** what a killed save left: if ``NAME`` is missing and the backup is a
   complete model, the backup is renamed back to ``NAME``; if both exist, the backup is
   deleted only once ``NAME`` verifies (every checksum matches), and if ``NAME`` does not
   verify while the backup does, the backup replaces it (a backup that does not verify
   either is deleted). Temporary siblings are deleted.
2. writes and fsyncs the new files in a temporary sibling;
3. renames ``NAME`` to the backup, renames the temporary sibling to ``NAME``, fsyncs the
   parent, and deletes the backup.

Each step is a single rename or touches only a copy that is not the last complete one, so
a kill at any instant, including during step 1 of a save that follows a kill, leaves
``NAME`` or the backup complete; a reader (shared lock) reads whichever it finds.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Final

__all__ = ["backup_of", "fsync_dir", "lock_of", "make_temp", "recover", "swap_in"]

_BACKUP: Final = ".unidl-backup"
_TEMP: Final = ".unidl-tmp-"


def backup_of(path: Path) -> Path:
    return path.with_name(f".{path.name}{_BACKUP}")


def lock_of(path: Path) -> Path:
    return path.with_name(f".{path.name}.unidl-lock")


def _temps(path: Path) -> list[Path]:
    """Temporary siblings left by saves of ``path`` (this version's and the format's
    first version's ``.NAME.XXXXXXXX.tmp``)."""
    name = re.escape(path.name)
    pattern = re.compile(rf"\.{name}(?:{re.escape(_TEMP)}[0-9a-f]{{8}}|\.[a-z0-9_]{{8}}\.tmp)")
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return []
    return [Path(e.path) for e in entries
            if pattern.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]


def make_temp(path: Path) -> Path:
    """A new empty temporary sibling, created with the umask's permissions (``mkdtemp``
    would make it private to the user)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}{_TEMP}{secrets.token_hex(4)}")
        try:
            os.mkdir(tmp, 0o777)
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"cannot create a temporary directory next to {path}")


def fsync_dir(path: Path) -> None:
    """Make renames in directory ``path`` durable (POSIX; a no-op where directories cannot
    be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def recover(path: Path, verified: Callable[[Path], bool],
            is_model: Callable[[Path], bool]) -> None:
    """Finish or undo what a killed save of ``path`` left (step 1 above). ``verified``
    says whether a directory is a complete model whose checksums match, ``is_model``
    whether it is a model directory at all (a ``NAME`` that is not one is left alone: the
    save refuses to replace it)."""
    backup = backup_of(path)
    for tmp in _temps(path):
        shutil.rmtree(tmp, ignore_errors=True)
    if not os.path.lexists(backup):
        return
    if not os.path.lexists(path):
        if verified(backup):
            os.rename(backup, path)
            fsync_dir(path.parent)
        return
    if verified(path):
        shutil.rmtree(backup)
    elif not is_model(path):
        return
    elif verified(backup):  # a damaged NAME beside an intact backup: keep the backup
        aside = make_temp(path)
        os.rename(path, aside / "old")
        os.rename(backup, path)
        fsync_dir(path.parent)
        shutil.rmtree(aside, ignore_errors=True)
    else:  # neither is a complete model: the backup holds nothing worth keeping
        shutil.rmtree(backup)


def swap_in(tmp: Path, path: Path) -> None:
    """Move the complete model in ``tmp`` to ``path`` (step 3 above); the lock is held and
    :func:`recover` has run, so no backup exists."""
    backup = backup_of(path)
    if os.path.lexists(path):
        os.rename(path, backup)  # killed after this: NAME is missing, the backup complete
    os.rename(tmp, path)
    fsync_dir(path.parent)
    shutil.rmtree(backup, ignore_errors=True)
