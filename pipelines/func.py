"""Funcs, reduction domains and input images: the objects users define pipelines with.

After this module: a `Func` holds a list of `Definition`s (the pure one first, then updates in
the order written), each checked when it is made:
- the pure definition's arguments are distinct Vars and its value uses no other Var nor RVar;
- an update's arguments are Exprs; a bare Var at position i is a pure variable of the update
  and ranges over the Func's region in dimension i; Vars appear nowhere else on the left;
- an update's value has exactly the Func's type, and uses only the update's pure Vars and the
  RVars of at most one RDom;
- wherever the update reads its own Func, a pure variable stands at its own position, so the
  update is independent from one pure point to the next (Halide's rule): only the RDom order
  can change a result.
Reading a Func that has no definition yet is an error that names it.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pipelines.expr import Call, Const, Expr, ImageDim, RVar, Var, as_expr, cast
from pipelines.mutator import walk
from pipelines.types import DType, IRTypeError, as_dtype, int32


class DefinitionError(ValueError):
    """A Func definition breaks a rule of the language."""


_name_counts: defaultdict[str, itertools.count] = defaultdict(itertools.count)


def unique_name(prefix: str) -> str:
    """`prefix` the first time it is asked for, then `prefix_1`, `prefix_2`, ..."""
    n = next(_name_counts[prefix])
    return prefix if n == 0 else f"{prefix}_{n}"


def _as_index(value: Any, owner: str, position: int) -> Expr:
    """A coordinate: an int32 Expr (narrower integer Exprs are widened)."""
    e = as_expr(value, int32, f"coordinate {position} of {owner}")
    if isinstance(e, Const) and isinstance(value, (int,)) and not isinstance(value, bool):
        return Const(value, int32)
    if not e.dtype.is_int:
        raise IRTypeError(f"{owner}: coordinate {position} must be an integer, got {e.dtype}; use cast")
    return cast(int32, e)


def _key_tuple(key: Any) -> tuple:
    return key if isinstance(key, tuple) else (key,)


class RDom:
    """A reduction domain: `r = RDom([(0, 5), (0, 3)])` iterates r.x innermost.

    `r.where(r.x < r.y)` adds a predicate (before the RDom is used in a definition).
    """

    def __init__(self, bounds: Any, name: str | None = None):
        if isinstance(bounds, tuple) and len(bounds) == 2 and not isinstance(bounds[0], (tuple, list)):
            bounds = [bounds]
        if not isinstance(bounds, (list, tuple)) or not bounds:
            raise ValueError(f"RDom: expected a list of (min, extent) pairs, got {bounds!r}")
        self.name = unique_name(name or "r")
        self.predicates: list[Expr] = []
        rvars = []
        for i, pair in enumerate(bounds):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"RDom {self.name}: bound {i} must be a (min, extent) pair, got {pair!r}")
            lo, extent = (_as_index(v, f"RDom {self.name}", i) for v in pair)
            for part in (lo, extent):
                if any(isinstance(n, (Var, RVar)) for n in walk(part)):
                    raise DefinitionError(f"RDom {self.name}: bounds may not depend on Vars or RVars")
            suffix = "xyzw"[i] if i < 4 else str(i)
            rvars.append(RVar(f"{self.name}.{suffix}", lo, extent, rdom=self))
        self.vars: tuple[RVar, ...] = tuple(rvars)

    def __len__(self) -> int:
        return len(self.vars)

    def __getitem__(self, i: int) -> RVar:
        return self.vars[i]

    @property
    def x(self) -> RVar:
        return self.vars[0]

    @property
    def y(self) -> RVar:
        return self.vars[1]

    @property
    def z(self) -> RVar:
        return self.vars[2]

    @property
    def w(self) -> RVar:
        return self.vars[3]

    def where(self, cond: Any) -> RDom:
        """Skip the points where `cond` (a bool Expr) is false. Returns the RDom."""
        if isinstance(cond, bool):  # `r.x != 0` compares structure and gives a Python bool
            raise TypeError(
                f"RDom {self.name}.where got the Python bool {cond}, not a condition: == and != on "
                "expressions compare their structure; use eq(a, b) and ne(a, b)"
            )
        e = as_expr(cond, what=f"RDom {self.name}.where")
        if not e.dtype.is_bool:
            raise IRTypeError(f"RDom {self.name}.where needs a bool condition, got {e.dtype}")
        self.predicates.append(e)
        return self

    def __repr__(self) -> str:
        dims = ", ".join(f"[{v.min}, +{v.extent})" for v in self.vars)
        return f"RDom {self.name}({dims})"


@dataclass(frozen=True)
class Definition:
    """One stage of a Func: `args` on the left, `value` on the right.

    `rvars` are the reduction variables it iterates (innermost first) and `predicates` the
    RDom's where-conditions, frozen when the definition was made.
    """

    args: tuple[Expr, ...]
    value: Expr
    rvars: tuple[RVar, ...] = ()
    predicates: tuple[Expr, ...] = ()

    @property
    def pure_vars(self) -> tuple[tuple[int, Var], ...]:
        """(position, Var) for each bare Var on the left."""
        return tuple((i, a) for i, a in enumerate(self.args) if isinstance(a, Var))


class Func:
    """A pure function over integer coordinates, defined by assignment.

    f = Func("f")
    f[x, y] = im[x, y] * 2          # pure definition
    f[x, y] += 1                     # update
    f[r.x, 0] = f[r.x - 1, 0]        # update over an RDom
    """

    def __init__(self, name: str | None = None):
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"Func name must be a non-empty string, got {name!r}")
        self.name: str = name if name is not None else unique_name("f")
        self.definitions: list[Definition] = []

    # -- queries
    @property
    def defined(self) -> bool:
        return bool(self.definitions)

    def _require_defined(self) -> Definition:
        if not self.definitions:
            raise DefinitionError(f"Func {self.name!r} is used before it is defined")
        return self.definitions[0]

    @property
    def dtype(self) -> DType:
        return self._require_defined().value.dtype

    @property
    def args(self) -> tuple[Var, ...]:
        return self._require_defined().args  # type: ignore[return-value]

    @property
    def ndim(self) -> int:
        return len(self._require_defined().args)

    @property
    def updates(self) -> list[Definition]:
        return self.definitions[1:]

    def has_updates(self) -> bool:
        return len(self.definitions) > 1

    def __repr__(self) -> str:
        return f"Func({self.name!r})"

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __bool__(self) -> bool:
        return True

    # -- use
    def __getitem__(self, key: Any) -> Call:
        pure = self._require_defined()
        args = _key_tuple(key)
        if len(args) != len(pure.args):
            raise DefinitionError(f"Func {self.name!r} has {len(pure.args)} dimensions but is called with {len(args)}")
        return Call(self, tuple(_as_index(a, f"Func {self.name!r}", i) for i, a in enumerate(args)))

    # -- definition
    def __setitem__(self, key: Any, value: Any) -> None:
        args = _key_tuple(key)
        if not self.definitions:
            self._define_pure(args, value)
        else:
            self._define_update(args, value)

    def _define_pure(self, args: tuple, value: Any) -> None:
        if not all(isinstance(a, Var) for a in args):
            raise DefinitionError(
                f"update to an undefined Func {self.name!r}: its first definition must have "
                f"distinct Vars as arguments, got {list(args)}"
            )
        if len(set(args)) != len(args):
            raise DefinitionError(f"Func {self.name!r}: pure definition repeats a Var in {list(args)}")
        e = as_expr(value, what=f"definition of Func {self.name!r}")
        for n in walk(e):
            if isinstance(n, RVar):
                raise DefinitionError(f"Func {self.name!r}: RVar {n.name} in a pure definition; use an update or sum()")
            if isinstance(n, Var) and n not in args:
                raise DefinitionError(f"Func {self.name!r}: Var {n.name!r} is not an argument")
        self.definitions.append(Definition(tuple(args), e))

    def _define_update(self, args: tuple, value: Any) -> None:
        pure = self.definitions[0]
        stage = len(self.definitions) - 1
        where = f"Func {self.name!r} update {stage}"
        if len(args) != len(pure.args):
            raise DefinitionError(f"{where}: {len(args)} arguments, but the Func has {len(pure.args)}")
        lhs = tuple(_as_index(a, where, i) for i, a in enumerate(args))
        if isinstance(value, Expr):
            e = value
            if e.dtype != self.dtype:
                raise IRTypeError(f"{where}: value has type {e.dtype} but the Func has type {self.dtype}; use cast")
        else:
            e = as_expr(value, self.dtype, where)
        pure_vars = {a: i for i, a in enumerate(lhs) if isinstance(a, Var)}
        if len(pure_vars) != sum(isinstance(a, Var) for a in lhs):
            raise DefinitionError(f"{where}: a Var appears twice on the left")
        for i, a in enumerate(lhs):
            if not isinstance(a, Var) and any(isinstance(n, Var) for n in walk(a)):
                raise DefinitionError(
                    f"{where}: argument {i} uses a Var inside an expression; pure Vars must stand alone"
                )
        for i, a in enumerate(lhs):
            if any(isinstance(n, Call) and n.func is self for n in walk(a)):
                raise DefinitionError(
                    f"{where}: argument {i} reads {self.name!r} itself; where it writes must not depend on it"
                )
        rdom = self._single_rdom(where, lhs, e)
        predicates = tuple(rdom.predicates) if rdom is not None else ()
        for part in (e, *lhs, *predicates):
            self._check_update_part(where, part, pure_vars)
        rvars = rdom.vars if rdom is not None else ()
        self.definitions.append(Definition(lhs, e, tuple(rvars), predicates))

    @staticmethod
    def _single_rdom(where: str, lhs: tuple[Expr, ...], value: Expr) -> RDom | None:
        rdoms: dict[int, RDom] = {}
        for part in (value, *lhs):
            for n in walk(part):
                if isinstance(n, RVar):
                    rdoms[id(n.rdom)] = n.rdom
        if len(rdoms) > 1:
            names = ", ".join(r.name for r in rdoms.values())
            raise DefinitionError(f"{where}: uses RVars of several RDoms ({names}); use one RDom")
        rdom = next(iter(rdoms.values()), None)
        if rdom is not None:
            for p in rdom.predicates:
                for n in walk(p):
                    if isinstance(n, RVar) and n.rdom is not rdom:
                        raise DefinitionError(f"{where}: where-predicate of {rdom.name} uses another RDom")
        return rdom

    def _check_update_part(self, where: str, part: Expr, pure_vars: dict[Var, int]) -> None:
        for n in walk(part):
            if isinstance(n, Var) and n not in pure_vars:
                raise DefinitionError(f"{where}: Var {n.name!r} is not on the left-hand side")
            if isinstance(n, Call) and n.func is self:
                for v, i in pure_vars.items():
                    if n.args[i] != v:
                        raise DefinitionError(
                            f"{where}: reads {self.name!r} with {n.args[i]} at position {i}, where the "
                            f"pure Var {v.name!r} must stand (each pure point is computed on its own)"
                        )
                for i, a in enumerate(n.args):
                    if i not in pure_vars.values() and any(isinstance(m, Var) for m in walk(a)):
                        raise DefinitionError(
                            f"{where}: reads {self.name!r} with a pure Var inside argument {i} ({a}); "
                            "only RVars and constants may index the other dimensions of a self-read"
                        )


class _Dimension:
    """One dimension of an input image, as symbolic Exprs."""

    def __init__(self, image: ImageParam, index: int):
        self.image, self.index = image, index

    def min(self) -> Expr:
        return ImageDim(self.image, self.index, "min")

    def extent(self) -> Expr:
        return ImageDim(self.image, self.index, "extent")

    def max(self) -> Expr:
        return self.min() + self.extent() - 1


class ImageParam:
    """An input image bound at call time to a numpy array (axes reversed: `im[x, y]` is `a[y, x]`)."""

    def __init__(self, dtype: Any, ndim: int, name: str):
        self.dtype: DType = as_dtype(dtype)
        if not isinstance(ndim, int) or isinstance(ndim, bool) or not 0 <= ndim <= 8:
            raise ValueError(f"ImageParam {name!r}: ndim must be an int in 0..8, got {ndim!r}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"ImageParam name must be a non-empty string, got {name!r}")
        self.ndim, self.name = ndim, name

    def __getitem__(self, key: Any) -> Call:
        args = _key_tuple(key)
        if len(args) != self.ndim:
            raise DefinitionError(f"ImageParam {self.name!r} has {self.ndim} dimensions, called with {len(args)}")
        return Call(self, tuple(_as_index(a, f"ImageParam {self.name!r}", i) for i, a in enumerate(args)))

    def dim(self, i: int) -> _Dimension:
        if not 0 <= i < self.ndim:
            raise IndexError(f"ImageParam {self.name!r} has {self.ndim} dimensions; no dim({i})")
        return _Dimension(self, i)

    def width(self) -> Expr:
        return self.dim(0).extent()

    def height(self) -> Expr:
        return self.dim(1).extent()

    def channels(self) -> Expr:
        return self.dim(2).extent()

    def __repr__(self) -> str:
        return f"ImageParam({self.dtype}, {self.ndim}, {self.name!r})"

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other
