"""Keep TensorFlow's start-up log lines off the user's terminal.

TensorFlow 2.21 logs through absl from C++ while it loads (``oneDNN custom operations are
on ...``, ``This TensorFlow binary is optimized ...``), before ``absl::InitializeLog()``, so
absl writes them to file descriptor 2 whatever ``TF_CPP_MIN_LOG_LEVEL`` says. The import is
therefore run with descriptor 2 sent to a temporary file; afterwards every line is written
back to stderr except absl lines below the level ``TF_CPP_MIN_LOG_LEVEL`` asks for (TF's own
variable: 0 shows everything, 1 hides INFO, 2 (unidl's default) hides INFO and WARNING, 3
hides ERROR too). Nothing is changed in TensorFlow itself: oneDNN stays on, numerics are
the same. If the import fails, everything captured is written back.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["filtered", "quiet_stderr"]

# absl's prefix: severity letter, MMDD, time (before absl is initialised the clock reads
# 00:00:<seconds since the epoch>), thread id, file:line]
_ABSL = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\]\s]+\] ")
_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called"
_CONTINUATION = "To enable the following instructions:"  # cpu_feature_guard's second line
_RANK = {"I": 0, "W": 1, "E": 2, "F": 3}


def _level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    except ValueError:
        return 2


def filtered(text: str, level: int) -> str:
    """``text`` without the absl lines (and their preamble) below ``level``."""
    if level <= 0:
        return text
    kept: list[str] = []
    hiding = False
    for line in text.splitlines(keepends=True):
        match = _ABSL.match(line)
        if match:
            hiding = _RANK[match.group(1)] < level and match.group(1) != "F"
            if not hiding:
                kept.append(line)
        elif line.startswith(_PREAMBLE) or (hiding and line.startswith(_CONTINUATION)):
            continue
        else:
            hiding = False
            kept.append(line)
    return "".join(kept)


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Run the body with file descriptor 2 captured, then write back what should show."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real descriptor 2: nothing to do
        yield
        return
    failed = True
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            shown = text if failed else filtered(text, _level())
            if shown:
                sys.stderr.write(shown)
                sys.stderr.flush()
