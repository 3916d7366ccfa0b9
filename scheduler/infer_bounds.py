"""Bounds inference: the region of every computed Func and every input, as run-time expressions.

After `infer_bounds`: each computed Func `f` has let-bound int64 symbols `f.min.d` / `f.max.d`
(the region its loops cover and its storage holds), computed consumers first:
- an output's region is its output buffer; reads of it by other stages and writes of its
  updates must fall inside, checked at run time (error codes READ_OUTSIDE_OUTPUT,
  WRITE_OUTSIDE_OUTPUT);
- any other Func's region is the union of what its consumers read (intervals of their call
  arguments over their loops) and of what its own updates write or read in dimensions that
  are not pure for that update.
Each input image gets `img.min.d` / `img.max.d`, the region it must cover (INPUT_TOO_SMALL
otherwise), and every integer operation in an index is checked not to wrap (INDEX_OVERFLOW),
so no access can leave the storage that bounds inference sized.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from pipelines.bounds import Bounds, Interval, c64, type_range, union
from pipelines.expr import EQ, LE, Add, And, Call, Const, Expr, Or, Sub, Var
from pipelines.func import Definition, Func
from pipelines.mutator import walk
from pipelines.types import int32, int64
from scheduler.loopir import Check, For, IfThenElse, LetStmt, Provide, Stmt
from scheduler.realize import Names, StageNest
from scheduler.simplify import simplify

INPUT_TOO_SMALL = 1
WRITE_OUTSIDE_OUTPUT = 2
READ_OUTSIDE_OUTPUT = 3
INDEX_OVERFLOW = 4
OUT_OF_MEMORY = 5
ALLOCATION_TOO_LARGE = 6
OUTSIDE_BOUND = 7


def buffer_symbol(buffer: str, what: str, d: int) -> Var:
    """The run-time `min`, `extent` or `stride` (elements) of dimension d of a passed buffer."""
    return Var(f"{buffer}.buf.{what}.{d}", int64)


@dataclass
class Access:
    """Intervals of one read or write of a buffer, with who made it."""

    target: str
    intervals: list[Interval]
    consumer: str
    stage: int
    write: bool


@dataclass
class Collector:
    """Walks stage loop nests, recording every access with loop variables as intervals."""

    func_names: dict[Func, str]
    image_names: dict[str, str]
    ranges: dict[str, Interval] = field(default_factory=dict)
    accesses: list[Access] = field(default_factory=list)
    bounds: Bounds = field(default_factory=lambda: Bounds({}))

    def stage(self, s: Stmt, consumer: str, stage: int) -> None:
        match s:
            case For(name=n, min=lo, extent=ext, body=b):
                self.bounds.scope[n] = (lo, simplify(Sub(Add(lo, ext), c64(1))))
                self.stage(b, consumer, stage)
                del self.bounds.scope[n]
            case LetStmt(name=n, body=b):
                # A definition variable: at root, every executed point lies in its full range.
                lo, hi = self.ranges[n]
                self._oblige_int32(lo, hi)
                self.bounds.scope[n] = (lo, hi)
                self.stage(b, consumer, stage)
                del self.bounds.scope[n]
            case IfThenElse(cond=c, then_case=t, else_case=e):
                self._exprs((c,), consumer, stage)
                self.stage(t, consumer, stage)
                if e is not None:
                    self.stage(e, consumer, stage)
            case Provide(func=f, args=args, value=v):
                self._exprs((*args, v), consumer, stage)
                self.accesses.append(Access(f, [self.bounds.interval(a) for a in args], consumer, stage, True))
            case _:
                raise TypeError(f"bounds inference met an unexpected statement {type(s).__name__}")

    def _oblige_int32(self, lo: Expr, hi: Expr) -> None:
        """Definition variables are int32: their whole range must fit."""
        self.bounds.obligations.append((lo, hi, int32))

    def _exprs(self, exprs: tuple[Expr, ...], consumer: str, stage: int) -> None:
        for e in exprs:
            for n in walk(e):
                if isinstance(n, Call):
                    target = self.func_names[n.func] if isinstance(n.func, Func) else self.image_names[n.func.name]
                    ivs = [self.bounds.interval(a) for a in n.args]
                    self.accesses.append(Access(target, ivs, consumer, stage, False))


def _inside(iv: Interval, lo: Expr, hi: Expr) -> Expr:
    return simplify(Or(LE(iv[1], Sub(iv[0], c64(1))), And(LE(lo, iv[0]), LE(iv[1], hi))))


@dataclass
class BoundsResult:
    lets: list[tuple[str, Expr]]
    checks: list[Check]
    image_regions: dict[str, list[Interval]]


def infer_bounds(
    order: list[Func],
    definitions: dict[Func, list[Definition]],
    stages: dict[Func, list[StageNest]],
    names: Names,
    outputs: tuple[Func, ...],
    images: list[tuple[str, int]],
    fixed: dict[Func, dict[int, tuple[int, int]]] | None = None,
) -> BoundsResult:
    """Regions of every computed Func (consumers first) and of every input; see module doc."""
    col = Collector(func_names=names.funcs, image_names=names.images)
    for f in order:
        for s, nest in enumerate(stages[f]):
            col.ranges.update(nest.ranges)
            col.stage(nest.stmt, names.funcs[f], s)
    by_target: defaultdict[str, list[Access]] = defaultdict(list)
    for a in col.accesses:
        by_target[a.target].append(a)

    lets: list[tuple[str, Expr]] = []
    checks: list[Check] = []
    for f in reversed(order):
        name = names.funcs[f]
        pure = [{i for i, a in enumerate(d.args) if isinstance(a, Var)} for d in definitions[f]]
        external = [a for a in by_target[name] if a.consumer != name]
        own = [a for a in by_target[name] if a.consumer == name and a.stage > 0]
        for d in range(f.ndim):
            footprint = [a.intervals[d] for a in own if d not in pure[a.stage]]
            lo_sym, hi_sym = names.region_min(name, d), names.region_max(name, d)
            if f in outputs:
                lo = buffer_symbol(name, "min", d)
                hi = simplify(Sub(Add(lo, buffer_symbol(name, "extent", d)), c64(1)))
                bound = (fixed or {}).get(f, {}).get(d)
                if bound is not None:
                    # the buffer is checked to be exactly the bound (below, before anything
                    # runs), so the region is the constant: loops over it get a constant trip
                    # count (what unrolling needs) and its selects fold
                    blo, bext = bound
                    checks.append(
                        Check(
                            And(EQ(lo, c64(blo)), EQ(hi, c64(blo + bext - 1))),
                            OUTSIDE_BOUND,
                            (c64(d), lo, hi, c64(blo), c64(blo + bext - 1)),
                            f"output {name} is exactly its bound in dimension {d}",
                        )
                    )
                    lo, hi = c64(blo), c64(blo + bext - 1)
                lets += [(lo_sym.name, lo), (hi_sym.name, hi)]
                index = outputs.index(f)
                for a in by_target[name]:
                    # every access of the output, in every dimension (pure writes are within the
                    # buffer by construction; each check costs one comparison per call)
                    code = WRITE_OUTSIDE_OUTPUT if a.write else READ_OUTSIDE_OUTPUT
                    checks.append(_check(a.intervals[d], lo_sym, hi_sym, code, index, d, a))
                continue
            if d in (fixed or {}).get(f, {}):
                blo, bext = fixed[f][d]  # type: ignore[index]
                region = (c64(blo), c64(blo + bext - 1))
                for iv in dict.fromkeys([a.intervals[d] for a in external] + footprint):
                    checks.append(
                        Check(
                            _inside(iv, region[0], region[1]),
                            OUTSIDE_BOUND,
                            (c64(d), iv[0], iv[1], region[0], region[1]),
                            f"{name} is needed within its bound in dimension {d}",
                        )
                    )
                lets += [(lo_sym.name, region[0]), (hi_sym.name, region[1])]
                continue
            ivs = list(dict.fromkeys([a.intervals[d] for a in external] + footprint))
            region = ivs[0] if ivs else (c64(0), c64(-1))
            for iv in ivs[1:]:
                region = union(region, iv)
            lets += [(lo_sym.name, region[0]), (hi_sym.name, region[1])]

    image_regions: dict[str, list[Interval]] = {}
    for image, ndim in images:
        accesses = by_target[image]
        regions = []
        for d in range(ndim):
            region: Interval = (c64(0), c64(-1))
            for k, iv in enumerate(dict.fromkeys(a.intervals[d] for a in accesses)):
                region = iv if k == 0 else union(region, iv)
            lo_sym, hi_sym = names.region_min(image, d), names.region_max(image, d)
            lets += [(lo_sym.name, region[0]), (hi_sym.name, region[1])]
            regions.append((lo_sym, hi_sym))
            have_lo = buffer_symbol(image, "min", d)
            have_hi = simplify(Sub(Add(have_lo, buffer_symbol(image, "extent", d)), c64(1)))
            cond = _inside((lo_sym, hi_sym), have_lo, have_hi)
            checks.append(
                Check(
                    cond,
                    INPUT_TOO_SMALL,
                    (c64(_index(images, image)), c64(d), lo_sym, hi_sym, have_lo, have_hi),
                    f"input {image} covers dimension {d}",
                )
            )
        image_regions[image] = regions
    checks += _overflow_checks(col.bounds.obligations)
    return BoundsResult(lets, checks, image_regions)


def _index(images: list[tuple[str, int]], image: str) -> int:
    return [n for n, _ in images].index(image)


def _check(iv: Interval, lo: Expr, hi: Expr, code: int, index: int, d: int, a: Access) -> Check:
    """Accesses of output `index` in dimension d stay inside its buffer; the details name the
    output, the dimension, the accessing Func and stage (by position in `consumers`)."""
    what = "written" if code == WRITE_OUTSIDE_OUTPUT else f"read by {a.consumer}"
    return Check(
        _inside(iv, lo, hi),
        code,
        (c64(index), c64(d), iv[0], iv[1], lo, hi, c64(a.stage)),
        f"output {index} {what} within its buffer in dimension {d}",
    )


def _overflow_checks(obligations: list[tuple[Expr, Expr, object]]) -> list[Check]:
    seen = set()
    checks = []
    for lo, hi, dtype in obligations:
        key = (lo, hi, dtype)
        if key in seen:
            continue
        seen.add(key)
        tmin, tmax = type_range(dtype)  # type: ignore[arg-type]
        cond = _inside((lo, hi), tmin, tmax)
        if isinstance(cond, Const) and cond.value:
            continue
        checks.append(Check(cond, INDEX_OVERFLOW, (lo, hi), f"index arithmetic fits {dtype}"))
    return checks
