"""The simplifier: constant folding and a canonical linear form for integer arithmetic.

After `simplify(e)`: integer sums of multiples of sub-expressions are written once each, in
first-seen order, with the constant last (`(x + 1) - 1` is `x`; `2*x - x` is `x`); integer
constants are folded with the language's own rules (wrap-around, Euclidean division);
min/max/compare of two expressions that differ by a constant are decided; selects on constant
conditions pick their branch. Rewrites are exact modulo 2^bits, so they are valid for wrapping
integer types too. Float arithmetic is never reassociated or folded (no fast-math).
"""

from __future__ import annotations

from pipelines.expr import (
    EQ,
    LE,
    LT,
    NE,
    Add,
    And,
    Cast,
    Const,
    Div,
    Expr,
    Max,
    Min,
    Mod,
    Mul,
    Node,
    Not,
    Or,
    Select,
    Sub,
)
from pipelines.mutator import Mutator, map_children
from pipelines.types import DType, int64


def wrap(value: int, dtype: DType) -> int:
    """`value` reduced to the range of the integer type `dtype`."""
    span = 1 << dtype.bits
    v = value % span
    return v - span if dtype.is_signed and v >= span // 2 else v


def euclid_div(a: int, b: int) -> int:
    if b == 0:
        return 0
    q = a // b
    return q + 1 if (a - q * b) < 0 else q


def euclid_mod(a: int, b: int) -> int:
    return 0 if b == 0 else a - euclid_div(a, b) * b


Linear = tuple[dict[Expr, int], int]


def linear(e: Expr) -> Linear:
    """`e` as ({term: coefficient}, constant) over its integer type (exact modulo 2^bits)."""
    match e:
        case Const(value=v):
            return {}, int(v)
        case Add(a=a, b=b) | Sub(a=a, b=b):
            ta, ca = linear(a)
            tb, cb = linear(b)
            sign = 1 if isinstance(e, Add) else -1
            terms = dict(ta)
            for k, c in tb.items():
                terms[k] = terms.get(k, 0) + sign * c
            return {k: c for k, c in terms.items() if c != 0}, ca + sign * cb
        case Mul(a=a, b=Const(value=k)) | Mul(a=Const(value=k), b=a):
            ta, ca = linear(a)
            return {t: c * int(k) for t, c in ta.items() if c * int(k) != 0}, ca * int(k)
    return {e: 1}, 0


def from_linear(terms: dict[Expr, int], constant: int, dtype: DType) -> Expr:
    """Rebuild a canonical expression of type `dtype` from a linear form."""
    constant = wrap(constant, dtype)
    out: Expr | None = None
    for t, c in terms.items():
        c = wrap(c, dtype)
        if c == 0:
            continue
        negative = dtype.is_signed and c < 0 and dtype.can_represent(-c)
        mag = -c if negative else c
        piece = t if mag == 1 else Mul(t, Const(mag, dtype))
        if out is None:
            out = Sub(Const(0, dtype), piece) if negative else piece
        else:
            out = Sub(out, piece) if negative else Add(out, piece)
    if out is None:
        return Const(constant, dtype)
    if constant == 0:
        return out
    if dtype.is_signed and constant < 0:
        return Sub(out, Const(-constant, dtype)) if dtype.can_represent(-constant) else Add(out, Const(constant, dtype))
    return Add(out, Const(constant, dtype))


def static_range(e: Expr) -> tuple[int, int] | None:
    """Bounds of an int64 expression that hold whatever its variables are, when known: a
    widened narrower integer lies within its type (which lets the simplifier drop checks that
    the C compiler would otherwise warn are always true)."""
    match e:
        case Const(value=v):
            return int(v), int(v)
        case Cast(value=v) if v.dtype.is_int and v.dtype.bits < e.dtype.bits:
            return int(v.dtype.min_value), int(v.dtype.max_value)
        case Add(a=a, b=b) | Sub(a=a, b=b):
            ra, rb = static_range(a), static_range(b)
            if ra is None or rb is None:
                return None
            return (ra[0] + rb[0], ra[1] + rb[1]) if isinstance(e, Add) else (ra[0] - rb[1], ra[1] - rb[0])
    return None


def _difference(a: Expr, b: Expr) -> int | None:
    """`a - b` when it is a known constant (same terms), else None."""
    ta, ca = linear(a)
    tb, cb = linear(b)
    return ca - cb if ta == tb else None


# Results of `Simplify.visit` by node (nodes are equal exactly when they are the same tree, and
# simplifying is a function of the tree). Lowering simplifies the same index expressions again
# and again, substituted into larger ones; without this, each time costs the whole tree.
_MEMO: dict[Node, Node] = {}
_MEMO_LIMIT = 200_000


class Simplify(Mutator):
    def visit(self, node: Node) -> Node:
        done = _MEMO.get(node)
        if done is not None:
            return done
        new = map_children(node, self.visit)
        method = getattr(self, "visit_" + type(new).__name__, None)
        result = method(new) if method is not None else new
        if len(_MEMO) >= _MEMO_LIMIT:
            _MEMO.clear()
        _MEMO[node] = result
        return result

    def _arith(self, e: Expr) -> Expr:
        if not e.dtype.is_int:
            return e
        terms, constant = linear(e)
        return from_linear(terms, constant, e.dtype)

    visit_Add = visit_Sub = visit_Mul = _arith

    def visit_Div(self, e: Div) -> Expr:
        if e.dtype.is_int and isinstance(e.a, Const) and isinstance(e.b, Const):
            return Const(wrap(euclid_div(int(e.a.value), int(e.b.value)), e.dtype), e.dtype)
        if e.dtype.is_int and isinstance(e.b, Const) and e.b.value == 1:
            return e.a
        return e

    def visit_Mod(self, e: Mod) -> Expr:
        if e.dtype.is_int and isinstance(e.a, Const) and isinstance(e.b, Const):
            return Const(wrap(euclid_mod(int(e.a.value), int(e.b.value)), e.dtype), e.dtype)
        return e

    def _minmax(self, e: Min | Max) -> Expr:
        if e.a == e.b:
            return e.a
        if e.dtype == int64:  # narrower types wrap, so x + 1 < x can hold there
            d = _difference(e.a, e.b)
            if d is not None:
                return (e.a if d <= 0 else e.b) if isinstance(e, Min) else (e.a if d >= 0 else e.b)
        return e

    visit_Min = visit_Max = _minmax

    def _compare(self, e: LT | LE | EQ | NE) -> Expr:
        if isinstance(e.a, Const) and isinstance(e.b, Const):  # IEEE comparisons, as Python's
            a, b = e.a.value, e.b.value
            return Const({LT: a < b, LE: a <= b, EQ: a == b, NE: a != b}[type(e)], e.dtype)
        if e.a.dtype != int64 and not (isinstance(e, (EQ, NE)) and e.a.dtype.is_int):
            return e  # ordering of wrapping types is not decided by the difference; equality is
        d = _difference(e.a, e.b)
        if d is None:
            if e.a.dtype == int64 and isinstance(e, (LT, LE)):
                ra, rb = static_range(e.a), static_range(e.b)
                if ra is not None and rb is not None:
                    strict = isinstance(e, LT)
                    if (ra[1] < rb[0]) if strict else (ra[1] <= rb[0]):
                        return Const(True, e.dtype)
                    if (ra[0] >= rb[1]) if strict else (ra[0] > rb[1]):
                        return Const(False, e.dtype)
            return e
        result = {LT: d < 0, LE: d <= 0, EQ: d == 0, NE: d != 0}[type(e)]
        return Const(result, e.dtype)

    visit_LT = visit_LE = visit_EQ = visit_NE = _compare

    def visit_And(self, e: And) -> Expr:
        for x, y in ((e.a, e.b), (e.b, e.a)):
            if isinstance(x, Const):
                return y if x.value else x
        return e

    def visit_Or(self, e: Or) -> Expr:
        for x, y in ((e.a, e.b), (e.b, e.a)):
            if isinstance(x, Const):
                return x if x.value else y
        return e

    def visit_Not(self, e: Not) -> Expr:
        return Const(not e.value.value, e.dtype) if isinstance(e.value, Const) else e

    def visit_Select(self, e: Select) -> Expr:
        if isinstance(e.cond, Const):
            return e.true_value if e.cond.value else e.false_value
        return e.true_value if e.true_value == e.false_value else e

    def visit_Cast(self, e: Cast) -> Expr:
        v = e.value
        if isinstance(v, Const) and e.dtype.is_int and v.dtype.is_int:
            return Const(wrap(int(v.value), e.dtype), e.dtype)
        if isinstance(v, Const) and e.dtype.is_int and v.dtype.is_bool:
            return Const(int(v.value), e.dtype)
        return e


def simplify(e: Expr) -> Expr:
    """The simplified form of an expression (the same object if nothing changed)."""
    return Simplify().visit(e)  # type: ignore[return-value]


_TOP = Simplify()


def simplify_top(e: Expr) -> Expr:
    """Simplify the top node of `e` only, trusting that its children are simplified."""
    method = getattr(_TOP, "visit_" + type(e).__name__, None)
    return method(e) if method is not None else e
