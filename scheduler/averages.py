"""Averages of two unsigned integers computed in their own type.

`(cast(W, a) + cast(W, b) + 1) / 2` with `a` and `b` of an unsigned type T and W an integer type
wide enough for the sum (Halide's `avg`, and how a user writes a rounding average) widens every
lane to W and narrows it back. C compilers find the single average and use the instruction
that computes it in T (x86's `pavgb`, `pavgw`), but not a chain of them as the expression tree
writes it (a 1 2 1 blur is an average of averages): there gcc computes every lane in W, twice
the vectors. After `narrow_averages(stmt)`, each such expression is an `Average(a, b, up)` of
type T, the same value, which C computes in a function of its own that takes and returns T
(`saline_avg_up_u8` ... in csrc/saline_runtime.h, where gcc finds the instruction for each
average of a chain); a cast back to T around it goes, and one to a wider type stays as a cast
of the Average.

`up` is the `+ 1`. The sum in W must not overflow: W has at least T's bits + 1 when unsigned,
+ 2 when signed.
"""

from __future__ import annotations

from pipelines.expr import Add, Cast, Const, Div, Expr
from pipelines.mutator import Mutator
from pipelines.types import DType
from scheduler.loopir import Average, Stmt


def narrow_averages(stmt: Stmt) -> Stmt:
    """`stmt` with every rounding average of two narrow unsigned values an `Average` (module
    docstring)."""
    return _Narrow().visit(stmt)


def _terms(e: Expr) -> list[Expr]:
    """The operands of a tree of Adds, left to right."""
    if isinstance(e, Add):
        return [*_terms(e.a), *_terms(e.b)]
    return [e]


def _fits_sum(narrow: DType, wide: DType) -> bool:
    return narrow.is_int and not narrow.is_signed and wide.is_int and wide.bits >= narrow.bits + 1 + wide.is_signed


def as_average(e: Expr) -> Average | None:
    """`e` as an Average of two values of a narrower unsigned type, or None: `e` must be
    `(cast(W, a) + cast(W, b) [+ 1]) / 2` (the operands of the sum in any order)."""
    if not (isinstance(e, Div) and isinstance(e.b, Const) and int(e.b.value) == 2 and e.dtype.is_int):
        return None
    terms = _terms(e.a)
    ones = [t for t in terms if isinstance(t, Const) and int(t.value) == 1]
    casts = [t for t in terms if isinstance(t, Cast)]
    if len(casts) != 2 or len(ones) + len(casts) != len(terms) or len(ones) > 1:
        return None
    a, b = (t.value for t in casts)  # type: ignore[attr-defined]
    if a.dtype != b.dtype or not _fits_sum(a.dtype, e.dtype):
        return None
    return Average(a, b, bool(ones), a.dtype)


class _Narrow(Mutator):
    def visit_Cast(self, e: Cast) -> Expr:
        inner = as_average(e.value)
        if inner is not None and e.dtype == inner.dtype:
            return Average(self.visit(inner.a), self.visit(inner.b), inner.up, inner.dtype)
        return self.generic(e)

    def visit_Div(self, e: Div) -> Expr:
        found = as_average(e)
        if found is None:
            return self.generic(e)
        return Cast(e.dtype, Average(self.visit(found.a), self.visit(found.b), found.up, found.dtype))
