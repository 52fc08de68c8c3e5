"""Fuzz the spec loaders: N generated spec documents (``tests/spec_documents.py``: valid,
mutated, cut, spliced and hostile), split evenly over four readers: ``from_dict``,
``from_json``, ``from_yaml`` and the command line's ``read_spec_file`` (with its training
section resolved). Every document must load or raise a ``UnidlError``. Prints the counts by
outcome, the slowest case and the peak memory. Run from the repository root::

    python -m tests.fuzz.specs 50000
"""

from __future__ import annotations

import collections
import resource
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.spec_documents import spec_dicts, spec_texts
from unidl.cli.specfile import read_spec_file
from unidl.errors import UnidlError
from unidl.spec import from_dict, from_json, from_yaml


def _spec_file(folder: Path) -> Callable[[tuple[str, str]], Any]:
    def read(item: tuple[str, str]) -> Any:
        text, suffix = item
        path = folder / f"spec{suffix}"
        path.write_text(text, errors="replace")
        spec_file = read_spec_file(path)
        return spec_file.heads() if spec_file.training.loss is not None else spec_file
    return read


def main(n: int) -> int:
    per = n // 4
    outcomes: collections.Counter[str] = collections.Counter()
    escaped: list[str] = []
    slowest = (0.0, "")
    folder = Path(tempfile.mkdtemp(prefix="unidl-fuzz-specs-"))
    readers: list[tuple[str, Callable[[Any], Any], st.SearchStrategy[Any]]] = [
        ("from_dict", from_dict, st.one_of(spec_dicts(), spec_dicts(training=True))),
        ("from_json", from_json, spec_texts("json")),
        ("from_yaml", from_yaml, spec_texts("yaml")),
        ("read_spec_file", _spec_file(folder),
         st.tuples(st.one_of(spec_texts("yaml", True), spec_texts("json", True)),
                   st.sampled_from([".yaml", ".json"]))),
    ]
    def run(label: str, read: Callable[[Any], Any], strategy: st.SearchStrategy[Any]) -> None:
        @settings(max_examples=per, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def case(document: Any) -> None:
            nonlocal slowest
            start = time.perf_counter()
            try:
                read(document)
                outcomes[f"{label}: loaded"] += 1
            except UnidlError as e:
                outcomes[f"{label}: {type(e).__name__}"] += 1
            except Exception as e:  # what the fuzz is looking for
                outcomes[f"{label}: NOT a UnidlError: {type(e).__name__}"] += 1
                escaped.append(f"{label} {type(e).__name__}: {str(e)[:200]}\n"
                               f"  document: {str(document)[:300]!r}\n"
                               + "".join(traceback.format_exc(limit=-3)))
            took = time.perf_counter() - start
            if took > slowest[0]:
                slowest = (took, f"{label}: {str(document)[:120]!r}")

        case()

    for label, read, strategy in readers:
        run(label, read, strategy)
    total = sum(outcomes.values())
    bad = sum(v for k, v in outcomes.items() if "NOT a UnidlError" in k)
    for key, count in sorted(outcomes.items()):
        print(f"{count:7d}  {key}")
    print(f"{total} documents, {bad} raised something other than a UnidlError")
    print(f"slowest: {slowest[0]:.2f} s ({slowest[1]})")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak:.0f} MiB")
    for text in escaped[:20]:
        print(text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000))
