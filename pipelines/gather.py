"""Turning the scatter of an adjoint back into gathers.

A read `g(a(x, r))` in a definition over variables x (pure, each over its region) and r (RVars)
sends `contribution(x, r)` to every point `a(x, r)` of g's adjoint: a scatter. `solve` finds,
for a point u of g's adjoint, which (x, r) reach it, by solving each index for one variable:
  - `v + c` (or `k*v + c`, with a divisibility guard) gives `v = u - c` ((u - c) / k);
  - `(v + c) / m` (upsampling) gives m preimages `v = m*u + s - c`, s a new summed variable;
  - `clamp(v + c, lo, hi)` (boundary conditions) gives three cases per index: one point inside,
    and at `u == lo` (or `hi`) the whole strip of v that the clamp folds onto the edge;
  - an index whose variables are all solved already gives a guard `u == a`.
After `solve`: None when some index has an unsolved variable in a form none of these invert
(the caller falls back to a scatter), or the list of `Solution`s whose contributions add up to
the adjoint: each substitutes the solved variables, sums over the unsolved ones within their
ranges, and holds the guards (ranges of solved variables, equalities, divisibility) under
which the point is reached. Nothing here builds Funcs; `pipelines.autodiff` does.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from pipelines.bounds import Interval, c64, to64
from pipelines.expr import Const, Div, Expr, Max, Min, Var, eq
from pipelines.mutator import substitute, walk
from pipelines.regions import to32
from pipelines.simplify import from_linear, linear, simplify

_fresh = itertools.count()


@dataclass
class Context:
    """The variables of one definition with their inclusive ranges (pure Vars first, in
    argument order, then RVars innermost first) and its RDom predicates."""

    ranges: dict[Expr, Interval]
    predicates: tuple[Expr, ...] = ()


@dataclass
class Solution:
    """One way the points of a definition reach a point `u` of the adjoint (module docstring)."""

    solved: dict[Expr, Expr] = field(default_factory=dict)  # variable -> value in u and free vars
    free: dict[Expr, Interval] = field(default_factory=dict)  # summed variables and their ranges
    guards: list[Expr] = field(default_factory=list)  # conditions on u and the free variables
    fixed: dict[Var, Expr] = field(default_factory=dict)  # targets pinned to an invariant (edges)

    def copy(self) -> Solution:
        return Solution(dict(self.solved), dict(self.free), list(self.guards), dict(self.fixed))

    def assign(self, v: Expr, value: Expr, interval: Interval) -> None:
        """Solve `v = value`, keeping the other values and guards in terms of free variables."""
        value = simplify(value)
        self.solved = {k: simplify(substitute(e, {v: value})) for k, e in self.solved.items()}
        self.guards = [simplify(substitute(g, {v: value})) for g in self.guards]
        self.solved[v] = value
        del self.free[v]
        self.guards.append(within(value, interval))


def within(e: Expr, interval: Interval) -> Expr:
    """`lo <= e <= hi` for an int32 `e` and an int64 interval, compared in int32 (coordinates
    and their regions are int32, and int32 compares take half the vector lanes of int64)."""
    return simplify((to32(interval[0]) <= e) & (e <= to32(interval[1])))


def occurs(v: Expr, e: Expr) -> bool:
    return any(n == v for n in walk(e))


def solve(ctx: Context, args: tuple[Expr, ...], targets: tuple[Var, ...]) -> list[Solution] | None:
    """The Solutions reaching a point `targets` of the adjoint from `g(args)`, or None."""
    return _solve(list(zip(args, targets)), Solution(free=dict(ctx.ranges)))


def _solve(pending: list[tuple[Expr, Var]], sol: Solution) -> list[Solution] | None:
    while pending:
        for i, (a, u) in enumerate(pending):
            a = simplify(substitute(a, sol.solved))
            unsolved = [v for v in sol.free if occurs(v, a)]
            if not unsolved:
                sol.guards.append(eq(u, a))
                del pending[i]
                break
            matched = _match(a, u, unsolved, sol)
            if matched is None:
                continue
            del pending[i]
            if len(matched) == 1:
                sol = matched[0]
                break
            results: list[Solution] = []
            for alternative in matched:
                got = _solve(list(pending), alternative)
                if got is None:
                    return None
                results += got
            return results
        else:
            return None
    return [sol]


def _split(a: Expr, v: Expr) -> tuple[int, Expr] | None:
    """(k, rest) with `a == k*v + rest` and v not in rest, or None."""
    if not a.dtype.is_int:
        return None
    terms, constant = linear(a)
    if v not in terms or any(occurs(v, t) for t in terms if t != v):
        return None
    k = terms[v]
    rest = from_linear({t: c for t, c in terms.items() if t != v}, constant, a.dtype)
    return k, rest


def clamp_parts(a: Expr) -> tuple[Expr, Expr, Expr] | None:
    """(inner, lo, hi) for `max(min(inner, hi), lo)` or `min(max(inner, lo), hi)`."""
    if isinstance(a, Max) and isinstance(a.a, Min):
        return a.a.a, a.b, a.a.b
    if isinstance(a, Min) and isinstance(a.a, Max):
        return a.a.a, a.a.b, a.b
    return None


def _match(a: Expr, u: Var, unsolved: list[Expr], sol: Solution) -> list[Solution] | None:
    for v in unsolved:
        interval = sol.free[v]
        split = _split(a, v)
        if split is not None:
            k, rest = split
            new = sol.copy()
            if k == 1:
                new.assign(v, u - rest, interval)
            elif k == -1:
                new.assign(v, rest - u, interval)
            else:
                new.guards.append(eq((u - rest) % k, 0))
                new.assign(v, (u - rest) / k, interval)
            return [new]
        if isinstance(a, Div) and isinstance(a.b, Const) and int(a.b.value) > 0:
            inner = _split(a.a, v)
            if inner is not None and inner[0] in (1, -1):
                m = int(a.b.value)
                s = Var(f"_s{next(_fresh)}")
                new = sol.copy()
                new.free[s] = (c64(0), c64(m - 1))
                k, rest = inner
                value = m * u + s - rest
                new.assign(v, value if k == 1 else -value, interval)
                return [new]
        parts = clamp_parts(a)
        if parts is not None:
            found = _clamp(parts, v, u, sol)
            if found is not None:
                return found
    return None


def _clamp(parts: tuple[Expr, Expr, Expr], v: Expr, u: Var, sol: Solution) -> list[Solution] | None:
    """The three cases of `clamp(v + c, lo, hi) == u`: inside, folded onto lo, folded onto hi.
    The strips must not depend on other variables, so c, lo and hi must not."""
    inner, lo, hi = parts
    split = _split(inner, v)
    if split is None or split[0] != 1:
        return None
    rest = split[1]
    if any(occurs(w, e) for w in sol.free for e in (rest, lo, hi)) or any(
        occurs(w, e) for w in sol.solved for e in (rest, lo, hi)
    ):
        return None
    vlo, vhi = sol.free[v]
    r64, lo64, hi64 = to64(rest), to64(lo), to64(hi)
    inside = sol.copy()
    inside.guards += [lo < u, u < hi]
    inside.assign(v, u - rest, (vlo, vhi))
    low = sol.copy()
    low.fixed[u] = lo
    low.free[v] = (vlo, simplify(Min(vhi, lo64 - r64)))
    # At u == hi the strip starts past lo, so that with lo == hi the two strips do not overlap.
    high = sol.copy()
    high.fixed[u] = hi
    high.free[v] = (simplify(Max(vlo, Max(hi64, lo64 + c64(1)) - r64)), vhi)
    return [inside, low, high]
