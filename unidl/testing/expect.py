"""Assertions that say which contract rule broke and for which quantity.

A conformance failure should tell a backend author what to fix without reading the test:
``expect_close(got, want, rule="Adam step 3, parameter dense/kernel: update rule")`` fails
with ``contract rule broken: Adam step 3, parameter dense/kernel: update rule`` followed by
the largest differences, and ``expect(ok, rule)`` does the same for a plain condition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ContractViolation", "expect", "expect_close"]

#: Where every rule is written down; failure messages point there.
CONTRACT = "docs/backend-contract.md"


class ContractViolation(AssertionError):
    """A backend broke a rule of the backend contract (the message names the rule)."""


def _header(rule: str) -> str:
    return f"contract rule broken: {rule} (see {CONTRACT})"


def expect(condition: object, rule: str, detail: str = "") -> None:
    """Fail with the rule's name unless ``condition`` holds."""
    if not condition:
        raise ContractViolation(_header(rule) + (f"\n{detail}" if detail else ""))


def expect_close(actual: Any, expected: Any, rule: str, *, rtol: float = 1e-5,
                 atol: float = 1e-6) -> None:
    """Fail with the rule's name unless ``actual`` equals ``expected`` to the tolerance
    (``|a - e| <= atol + rtol * |e|`` element-wise, shapes equal)."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        raise ContractViolation(f"{_header(rule)}\nshape {a.shape}, expected {e.shape}")
    bad = ~(np.abs(a - e) <= atol + rtol * np.abs(e))
    bad |= np.isnan(a) != np.isnan(e)
    if not bad.any():
        return
    where = np.argwhere(bad)[:3]
    lines = [f"  at {tuple(int(i) for i in w)}: got {a[tuple(w)]:.9g}, expected "
             f"{e[tuple(w)]:.9g}" for w in where] if a.ndim else [
        f"  got {float(a):.9g}, expected {float(e):.9g}"]
    raise ContractViolation(
        f"{_header(rule)}\n{int(bad.sum())} of {bad.size} values differ beyond rtol={rtol}, "
        f"atol={atol}:\n" + "\n".join(lines))
