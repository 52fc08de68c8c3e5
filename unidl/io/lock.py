"""One lock per model directory, shared by readers, exclusive for a writer.

The lock is an OS advisory lock (``fcntl.flock``; ``msvcrt.locking`` on Windows, which has
no shared mode, so there readers exclude each other too) on a sibling file
``.NAME.unidl-lock``. The kernel drops it when its holder dies, so a killed save never
leaves the directory locked. The file itself is never deleted: deleting a lock file lets
two processes lock two different files of the same name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from ..errors import UnidlError

__all__ = ["LOCK_TIMEOUT_S", "LockTimeoutError", "locked"]

#: How long a save or a load waits for another process's save (or load) to finish.
LOCK_TIMEOUT_S = 300.0
_BUSY: Final = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK)


class LockTimeoutError(UnidlError, TimeoutError):
    """Another process held a model directory's lock for longer than the timeout."""


def _try_lock(fd: int, exclusive: bool) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)  # the lock covers byte 0, wherever the file ends
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in _BUSY:
            return False
        raise
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _open(lock_path: Path, exclusive: bool) -> int | None:
    """The lock file's descriptor; None for a reader that may not create it (a read-only
    place: nobody can save there either, so there is nothing to wait for)."""
    try:
        return os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        if exclusive:
            raise UnidlError(f"cannot create the lock file {lock_path}: {e.strerror}. Save "
                             "the model in a directory you can write to") from None
    try:
        return os.open(lock_path, os.O_RDONLY)
    except OSError:
        return None


@contextlib.contextmanager
def locked(lock_path: Path, exclusive: bool, what: str,
           timeout_s: float | None = None) -> Iterator[None]:
    """Hold the lock at ``lock_path`` (``exclusive`` for a save) for the ``with`` block,
    waiting up to ``timeout_s`` (default :data:`LOCK_TIMEOUT_S`) for another holder;
    ``what`` names the model in errors."""
    timeout_s = LOCK_TIMEOUT_S if timeout_s is None else timeout_s
    fd = _open(lock_path, exclusive)
    if fd is None:
        yield
        return
    try:
        deadline = time.monotonic() + timeout_s
        pause = 0.001
        while not _try_lock(fd, exclusive):
            if time.monotonic() >= deadline:
                raise LockTimeoutError(
                    f"{what} is locked by another process's save or load (lock file "
                    f"{lock_path}) and stayed locked for {timeout_s:g} s; wait for it to "
                    "finish and try again")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)
