"""The loop-nest IR that lowering produces and code generation consumes.

After this module: a lowered pipeline is a tree of immutable `Stmt` nodes (frozen dataclasses,
traversed by the same generic `Mutator` as expressions). Before storage flattening, `Provide`
writes a Func at multi-dimensional coordinates and `Call` reads one; after it, `Store` and
`Load` address a named buffer by a flat int64 offset. `loop_nest_str` prints any stage of it.
Region symbols (`f.x.min`, `f.x.max`) and loop variables are ordinary `Var` nodes: int64 for
region bounds, int32 for loop variables, as the language's coordinates are int32.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field

from pipelines.expr import Expr, Node, Var, expr_str, node
from pipelines.mutator import Mutator, walk
from pipelines.types import DType, IRTypeError, int64


class Stmt(Node):
    """A statement of the loop-nest IR."""

    __slots__ = ()

    def __str__(self) -> str:
        return loop_nest_str(self)


@node
class Load(Expr):
    """Read element `index` (int64, in elements) of a flat buffer."""

    buffer: str
    index: Expr
    dtype: DType

    def __post_init__(self) -> None:
        if self.index.dtype != int64:
            raise IRTypeError(f"Load from {self.buffer}: index must be int64, got {self.index.dtype}")


@node
class FractionalPow(Expr):
    """`a ** b` in float32 where `b` is known to be finite and not an integer (an enclosing test
    says so: scheduler.specialize_pow); `fast` for `fast_pow`'s method. The same value as the
    Pow or FastPow it stands for, with fewer per-element special cases."""

    a: Expr
    b: Expr
    fast: bool
    dtype: DType


@node
class NonNegativePow(Expr):
    """`a ** b` in float32 where `a` is known to have its sign bit clear and not to be NaN (its
    expression says so, whatever the input) and `b` to be finite (an enclosing test says so:
    scheduler.specialize_pow); `finite_base` where `a` is also known never to be infinite; `fast`
    for `fast_pow`'s method; `unit` (with `fast`) where `a` is also known to be at most 1 and `b`
    to be at least +0 (the test says so too), which lets the method drop 3 of its blends;
    `positive` where the value is only used where `a` > 0 (it is the true value of a select on
    `c < a` with c >= +0), which drops the blend for a zero base. The same value as the Pow or
    FastPow it stands for wherever it is used, with at most three per-element special cases."""

    a: Expr
    b: Expr
    fast: bool
    finite_base: bool
    unit: bool
    positive: bool
    dtype: DType


@node
class Average(Expr):
    """The average of two unsigned integers of type `dtype`, rounded up (`up`) or down, computed
    without widening (scheduler.averages): the value of `(cast(W, a) + cast(W, b) + up) / 2`
    for any integer type W that holds the sum."""

    a: Expr
    b: Expr
    up: bool
    dtype: DType


@node
class Provide(Stmt):
    """Write a Func's value at coordinates (before storage flattening)."""

    func: str
    args: tuple[Expr, ...]
    value: Expr


@node
class Store(Stmt):
    """Write element `index` (int64) of a flat buffer."""

    buffer: str
    index: Expr
    value: Expr


@node
class StreamStore(Stmt):
    """Copy `lanes` elements from the scratch buffer `source` to `buffer` from element `index`
    on, with non-temporal stores where the destination starts a cache line (scheduler.stream)."""

    buffer: str
    index: Expr
    source: str
    lanes: int
    dtype: DType


@node
class LookupCopy(Stmt):
    """`buffer[index + i] = table[indices[i]]` for i in [0, lanes): a table of 8- or 32-bit
    `dtype` elements read at the offsets a vector loop stored in the int32 scratch buffer
    `indices` (scheduler.split_lookups). Code generation reads the table through permutes where
    the CPU has them; `limit` (int64) is how many elements from the table's base on lie in its
    buffer (0 where unknown), which lets it read whole vectors that end before it."""

    buffer: str
    index: Expr
    table: str
    indices: str
    lanes: int
    dtype: DType
    limit: Expr


@node
class For(Stmt):
    """`for name in [min, min + extent)`; `kind` is serial, parallel, vectorized or unrolled."""

    name: str
    min: Expr
    extent: Expr
    kind: str
    body: Stmt

    def __post_init__(self) -> None:
        if self.kind not in ("serial", "parallel", "vectorized", "unrolled"):
            raise ValueError(f"unknown loop kind {self.kind!r}")


@node
class LetStmt(Stmt):
    """Bind `name` to `value` (evaluated once) within `body`."""

    name: str
    value: Expr
    body: Stmt


@node
class Block(Stmt):
    """Statements run in order."""

    stmts: tuple[Stmt, ...]


@node
class IfThenElse(Stmt):
    cond: Expr
    then_case: Stmt
    else_case: Stmt | None = None


@node
class Allocate(Stmt):
    """Dense storage for `name`: the product of `extents` (int64) elements, live within `body`.

    Code generation checks the product for overflow and the allocation for failure."""

    name: str
    dtype: DType
    extents: tuple[Expr, ...]
    body: Stmt


@node
class Check(Stmt):
    """Return error `code` from the pipeline, with `details` (int64 Exprs), unless `cond` holds."""

    cond: Expr
    code: int
    details: tuple[Expr, ...] = ()
    message: str = field(default="", compare=False)


@node
class Nop(Stmt):
    """Nothing (an empty stage)."""


def block(*stmts: Stmt | None) -> Stmt:
    """A Block of the non-empty statements, flattened; a single statement stands alone."""
    flat: list[Stmt] = []
    for s in stmts:
        if s is None or isinstance(s, Nop):
            continue
        flat.extend(s.stmts if isinstance(s, Block) else (s,))
    if not flat:
        return Nop()
    return flat[0] if len(flat) == 1 else Block(tuple(flat))


def names_bound_in(loop: For) -> set[str]:
    """The loop's variable and every name a loop or let inside its body binds."""
    return {loop.name} | {n.name for n in walk(loop.body) if isinstance(n, (LetStmt, For))}


def invariant_in(e: Expr, bound: set[str]) -> bool:
    """Whether `e` has the same value in every iteration of a loop binding `bound` (see
    `names_bound_in`): it names none of them and reads no memory (the loop may write it)."""
    return not any(isinstance(n, Load) or (isinstance(n, Var) and n.name in bound) for n in walk(e))


def map_loops(s: Stmt, rewrite: Callable[[For], Stmt | None]) -> Stmt:
    """`s` with every loop replaced by `rewrite(loop)`, innermost first (each loop is passed
    with its body already rewritten), or kept where that is None; the same object if nothing
    changed. The shape of the lowering passes that version or unroll loops."""
    return _MapLoops(rewrite).visit(s)  # type: ignore[return-value]


class _MapLoops(Mutator):
    def __init__(self, rewrite: Callable[[For], Stmt | None]) -> None:
        self.rewrite = rewrite

    def visit_For(self, s: For) -> Stmt:
        body = self.visit(s.body)
        loop = s if body is s.body else For(s.name, s.min, s.extent, s.kind, body)  # type: ignore[arg-type]
        new = self.rewrite(loop)
        return loop if new is None else new


def loop_nest_str(s: Stmt, indent: int = 0) -> str:
    """Readable text of a statement tree, one statement a line."""
    pad = "  " * indent
    match s:
        case For(name=n, min=lo, extent=ext, kind=k, body=b):
            tag = "" if k == "serial" else f" {k}"
            return f"{pad}for{tag} {n} in [{expr_str(lo)}, +{expr_str(ext)}):\n" + loop_nest_str(b, indent + 1)
        case LetStmt(name=n, value=v, body=b):
            return f"{pad}let {n} = {expr_str(v)}\n" + loop_nest_str(b, indent)
        case Block(stmts=ss):
            return "".join(loop_nest_str(x, indent) for x in ss)
        case IfThenElse(cond=c, then_case=t, else_case=e):
            text = f"{pad}if {expr_str(c)}:\n" + loop_nest_str(t, indent + 1)
            if e is not None:
                text += f"{pad}else:\n" + loop_nest_str(e, indent + 1)
            return text
        case Allocate(name=n, dtype=t, extents=ext, body=b):
            dims = " * ".join(expr_str(e) for e in ext) or "1"
            return f"{pad}allocate {n}[{t.name}; {dims}]\n" + loop_nest_str(b, indent)
        case Provide(func=f, args=args, value=v):
            return f"{pad}{f}({', '.join(map(expr_str, args))}) = {expr_str(v)}\n"
        case Store(buffer=b, index=i, value=v):
            return f"{pad}{b}[{expr_str(i)}] = {expr_str(v)}\n"
        case StreamStore(buffer=b, index=i, source=src, lanes=n):
            return f"{pad}stream {b}[{expr_str(i)} : +{n}] = {src}[0 : {n}]\n"
        case LookupCopy(buffer=b, index=i, table=t, indices=ix, lanes=n, limit=lim):
            return f"{pad}{b}[{expr_str(i)} : +{n}] = {t}[{ix}[0 : {n}]]  # {t} has {expr_str(lim)}\n"
        case Check(cond=c, message=m):
            return f"{pad}check {expr_str(c)}  # {m}\n"
        case Nop():
            return ""
    return f"{pad}{s!r}\n"
