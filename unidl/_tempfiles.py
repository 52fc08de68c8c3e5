"""A temporary file beside a file being written, with the mode a plain ``open()`` gives.

``tempfile.mkstemp`` creates files ``-rw-------`` whatever the umask; renamed over the
target (an atomic write), that would hide a ``predict --out`` or exported file from the
group a user's umask shares it with. Here the file is created with mode ``0o666`` and the
kernel applies the umask, as it does for any file a program opens for writing (no
``os.umask`` round trip, which would change the mode of files other threads create
meanwhile).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["create_temp"]


def create_temp(target: Path) -> tuple[int, str]:
    """``(fd, path)`` of a new, empty file in ``target``'s directory, open for writing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), str(tmp)
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file beside {target}")
