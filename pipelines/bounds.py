"""Interval arithmetic over integer expressions, as symbolic int64 expressions.

After `Bounds(scope).interval(e)`: a pair (lo, hi) of simplified int64 Exprs such that, for
every assignment of the variables within their intervals in `scope` (variables not in scope are
single points), the value of `e` lies in [lo, hi], provided no integer operation of `e` wraps.
That proviso is made checkable: every int32 add, subtract, multiply and negation met on the way
leaves an *obligation* (lo, hi, dtype) that the caller turns into a run-time check, so a wrapped
index can never escape its computed bounds; narrower and unsigned arithmetic, which wraps by the
language's rules, is bounded by its type's range where it may wrap. Data-dependent values (reads of
images or Funcs) take the whole range of their type, and so do float-to-int casts, except of a
float computed from one integer by operations monotone in it (`_monotone_cast`: a resampling's
source row, floor((y + 0.5) / scale - 0.5)), whose bounds are the cast at the integer's bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pipelines.expr import (
    LE,
    Abs,
    Add,
    And,
    Call,
    Cast,
    Ceil,
    Const,
    Div,
    Expr,
    Floor,
    ImageDim,
    Max,
    Min,
    Mod,
    Mul,
    Param,
    Round,
    RVar,
    Select,
    Sub,
    Var,
)
from pipelines.func import Func
from pipelines.mutator import substitute, walk
from pipelines.simplify import simplify, simplify_top
from pipelines.types import DType, int64

Interval = tuple[Expr, Expr]


def c64(v: int) -> Const:
    return Const(v, int64)


def to64(e: Expr) -> Expr:
    """`e` converted to int64 (constants folded)."""
    return simplify(Cast(int64, e)) if e.dtype != int64 else e


def smin(a: Expr, b: Expr) -> Expr:
    """min(a, b) simplified at the top only (a and b are simplified already)."""
    return simplify_top(Min(a, b))


def smax(a: Expr, b: Expr) -> Expr:
    return simplify_top(Max(a, b))


VALUE_BOUNDS_DEPTH = 4  # Funcs read inside a Func's value, bounded in turn


def union(a: Interval, b: Interval) -> Interval:
    return smin(a[0], b[0]), smax(a[1], b[1])


def _invariant(e: Expr) -> bool:
    """No variable and no read in `e`: one value for the whole call."""
    return not any(isinstance(n, (Var, RVar, Call)) for n in walk(e))


def type_range(dtype: DType) -> Interval:
    return c64(int(dtype.min_value)), c64(int(dtype.max_value))


@dataclass
class Bounds:
    """Interval of expressions given intervals of variables (`scope`, by variable name)."""

    scope: dict[str, Interval]
    obligations: list[tuple[Expr, Expr, DType]] = field(default_factory=list)
    depth: int = 0  # how many Funcs' values are being bounded around this one
    monotone_casts: ClassVar[bool] = True  # whether _monotone_cast bounds float-to-int casts

    def interval(self, e: Expr) -> Interval:
        if not (e.dtype.is_int or e.dtype.is_bool):
            raise TypeError(f"interval of a non-integer expression {e}")
        lo, hi = self._interval(e)
        return simplify(lo), simplify(hi)

    def _oblige(self, lo: Expr, hi: Expr, dtype: DType, *operands: Interval) -> Interval:
        """The interval of a wrapping operation: exact where it provably does not wrap,
        the whole type where it provably may (a constant interval past the type, or an
        operand already spanning its type, such as a data-dependent read) or where the type
        is not int32, and otherwise exact under an obligation checked at run time."""
        lo, hi = simplify(lo), simplify(hi)
        if dtype.bits >= 64:
            return lo, hi
        tmin, tmax = type_range(dtype)
        if isinstance(lo, Const) and isinstance(hi, Const):
            if tmin.value <= lo.value <= hi.value <= tmax.value:
                return lo, hi
            return tmin, tmax
        if any(op == (tmin, tmax) for op in operands):
            return tmin, tmax
        if not (dtype.is_signed and dtype.bits == 32):
            # Narrower and unsigned arithmetic wraps by the language's rules, and programs
            # rely on it (`uint8(p + 255)`): its whole type bounds it. Only int32, the type of
            # coordinates, is held to not wrapping.
            return tmin, tmax
        self.obligations.append((lo, hi, dtype))
        return lo, hi

    def _interval(self, e: Expr) -> Interval:  # noqa: C901 - one case per node kind
        match e:
            case Const(value=v):
                return c64(int(v)), c64(int(v))
            case Var(name=n) | RVar(name=n):
                if n in self.scope:
                    return self.scope[n]
                return to64(e), to64(e)
            case Param() | ImageDim():
                return to64(e), to64(e)
            case Add(a=a, b=b):
                (alo, ahi), (blo, bhi) = self._interval(a), self._interval(b)
                return self._oblige(Add(alo, blo), Add(ahi, bhi), e.dtype, (alo, ahi), (blo, bhi))
            case Sub(a=a, b=b):
                (alo, ahi), (blo, bhi) = self._interval(a), self._interval(b)
                return self._oblige(Sub(alo, bhi), Sub(ahi, blo), e.dtype, (alo, ahi), (blo, bhi))
            case Mul(a=a, b=b):
                return self._mul(e, a, b)
            case Div(a=a, b=b):
                if isinstance(b, Const) and int(b.value) == -1:  # -a: the type's minimum wraps
                    alo, ahi = self._interval(a)
                    return self._oblige(Sub(c64(0), ahi), Sub(c64(0), alo), e.dtype, (alo, ahi))
                return self._div(a, b)
            case Mod(a=a, b=b):
                if isinstance(b, Const):
                    return c64(0), c64(max(abs(int(b.value)) - 1, 0))
                _, bhi = self._interval(b)
                blo, _ = self._interval(b)
                m = smax(smax(bhi, Sub(c64(0), blo)), c64(1))
                return c64(0), simplify(Sub(m, c64(1)))
            case Min(a=a, b=b):
                (alo, ahi), (blo, bhi) = self._interval(a), self._interval(b)
                return smin(alo, blo), smin(ahi, bhi)
            case Max(a=a, b=b):
                (alo, ahi), (blo, bhi) = self._interval(a), self._interval(b)
                return smax(alo, blo), smax(ahi, bhi)
            case Select(true_value=t, false_value=f):
                return union(self._interval(t), self._interval(f))
            case Abs(value=v):
                lo, hi = self._interval(v)
                top = smax(hi, simplify(Sub(c64(0), lo)))
                # abs of the type's minimum wraps to itself: keep the bound sound
                return self._oblige(c64(0), top, e.dtype, (lo, hi))
            case Cast(dtype=t, value=v):
                return self._cast(t, v)
            case Call(func=Func() as f) if not f.has_updates() and self.depth < VALUE_BOUNDS_DEPTH:
                return self._values(f)
            case Call():
                return type_range(e.dtype)
        return type_range(e.dtype)

    def _values(self, f: Func) -> Interval:
        """Bounds of every value of the pure Func f, whatever its arguments: a table index
        computed at root (`hist[bin[x, y]]`, bin clamped to [0, 255]) then sizes the table by
        bin's clamp instead of the whole int32 range (16 GiB). Only bounds that rely on no
        run-time obligation and name none of f's variables are used."""
        pure = f.definitions[0]
        inner = Bounds({a.name: type_range(a.dtype) for a in pure.args}, depth=self.depth + 1)
        lo, hi = inner.interval(pure.value)
        names = {a.name for a in pure.args}
        free = any(isinstance(n, (Var, RVar)) and n.name in names for b in (lo, hi) for n in walk(b))
        if inner.obligations or free:
            return type_range(f.dtype)
        return lo, hi

    def _mul(self, e: Expr, a: Expr, b: Expr) -> Interval:
        if isinstance(a, Const):
            a, b = b, a
        alo, ahi = self._interval(a)
        if isinstance(b, Const):
            k = c64(int(b.value))
            pair = (Mul(alo, k), Mul(ahi, k)) if int(b.value) >= 0 else (Mul(ahi, k), Mul(alo, k))
            return self._oblige(pair[0], pair[1], e.dtype, (alo, ahi))
        blo, bhi = self._interval(b)
        products = [simplify(Mul(x, y)) for x in (alo, ahi) for y in (blo, bhi)]
        lo, hi = products[0], products[0]
        for p in products[1:]:
            lo, hi = smin(lo, p), smax(hi, p)
        return self._oblige(lo, hi, e.dtype, (alo, ahi), (blo, bhi))

    def _div(self, a: Expr, b: Expr) -> Interval:
        alo, ahi = self._interval(a)
        if isinstance(b, Const) and int(b.value) != 0:
            k = c64(int(b.value))
            if int(b.value) > 0:
                return simplify(Div(alo, k)), simplify(Div(ahi, k))
            return simplify(Div(ahi, k)), simplify(Div(alo, k))
        blo, _ = self._interval(b)
        if _at_least_one(blo):
            # A divisor of at least d >= 1 (a scale `max(s, 1)`): Euclidean division by it is
            # floor division, increasing in a, and for each a lies between a / d and 0.
            return smin(simplify(Div(alo, blo)), c64(0)), smax(simplify(Div(ahi, blo)), c64(0))
        # |a / b| <= |a| whenever b != 0, and a / 0 == 0.
        m = smax(ahi, simplify(Sub(c64(0), alo)))
        return simplify(Sub(c64(0), m)), m

    def _cast(self, t: DType, v: Expr) -> Interval:
        if t.bits >= 64 and t.is_int and v.dtype.is_int:
            return self._interval(v)
        if not v.dtype.is_int and not v.dtype.is_bool:
            if _invariant(v):  # a value of Params and sizes alone: itself is its bound
                point = to64(Cast(t, v))
                return point, point
            return self._monotone_cast(t, v) if self.monotone_casts else type_range(t)
        lo, hi = self._interval(v)
        if v.dtype.is_bool:
            return c64(0), c64(1)
        if t.is_signed == v.dtype.is_signed and t.bits >= v.dtype.bits:
            return lo, hi
        if not t.is_signed and v.dtype.is_signed and t.bits >= v.dtype.bits:
            tmin, tmax = type_range(t)
            fits = simplify(smin(lo, c64(0)))
            if isinstance(fits, Const) and fits.value == 0:
                return lo, hi
            return tmin, tmax
        if t.is_signed and t.bits > v.dtype.bits:
            return lo, hi
        # narrowing: the value keeps its bounds only where it fits
        tmin, tmax = type_range(t)
        slo, shi = simplify(lo), simplify(hi)
        if isinstance(slo, Const) and isinstance(shi, Const) and tmin.value <= slo.value and shi.value <= tmax.value:
            return slo, shi
        return tmin, tmax

    def _monotone_cast(self, t: DType, v: Expr) -> Interval:
        """Bounds of the cast of float `v` to integer type t: where v is computed from one
        integer w (`_monotone_leaf`), the casts of v at w's bounds, whichever is less first;
        the whole type otherwise (the cast saturates into it).

        Each operation from w to v is monotone in it (increasing or decreasing) on finite
        values, and so is their composition, rounding included, and the saturating cast: for
        w between its bounds, v lies between its values there, provided those are finite. A
        non-finite one (a NaN or infinite Param) can mean a NaN inside, which casts to 0:
        there the bounds are the whole type, chosen at run time. The arithmetic is the
        kernel's own (the same expression, emitted the same way), so the bounds are exact."""
        leaf = _monotone_leaf(v)
        if leaf is None or not t.is_int:  # a cast to bool (v != 0) is not monotone
            return type_range(t)
        wlo, whi = self._interval(leaf.value)
        ends = [substitute(v, {leaf: Cast(leaf.dtype, w)}) for w in (wlo, whi)]
        least, most = (Const(float(b), v.dtype) for b in (v.dtype.min_value, v.dtype.max_value))
        finite: Expr = And(LE(least, ends[0]), LE(ends[0], most))
        finite = And(finite, And(LE(least, ends[1]), LE(ends[1], most)))
        first, last = (to64(Cast(t, end)) for end in ends)
        tmin, tmax = type_range(t)
        lo = Select(finite, smin(first, last), tmin)
        hi = Select(finite, smax(first, last), tmax)
        return simplify(lo), simplify(hi)


def _monotone_leaf(e: Expr) -> Cast | None:
    """The one cast of a varying integer to float that float `e` is computed from, through
    operations each monotone in it (adding, subtracting, multiplying by or dividing by values
    invariant over the call, rounding to an integral value, casting between floats); None
    where `e` reads anything else that varies or uses it otherwise."""
    match e:
        case Cast(value=w) if w.dtype.is_int and not _invariant(w):
            return e
        case Cast(value=w) if w.dtype.is_float:
            return _monotone_leaf(w)
        case Floor(value=w) | Ceil(value=w) | Round(value=w):
            return _monotone_leaf(w)
        case Add(a=a, b=b) | Sub(a=a, b=b) | Mul(a=a, b=b):
            if _invariant(b):
                return _monotone_leaf(a)
            if _invariant(a):
                return _monotone_leaf(b)
        case Div(a=a, b=b) if _invariant(b):
            return _monotone_leaf(a)
    return None


def _at_least_one(e: Expr) -> bool:
    """Whether `e` is >= 1 whatever its variables are (a constant, or a max with one)."""
    match e:
        case Const(value=v):
            return int(v) >= 1
        case Max(a=a, b=b):
            return _at_least_one(a) or _at_least_one(b)
        case Min(a=a, b=b):
            return _at_least_one(a) and _at_least_one(b)
    return False
