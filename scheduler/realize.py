"""Inlining and the loop nests of each computed Func.

After `inline_funcs`: the definitions of every computed (root) Func read only computed Funcs
and input images; every other Func has been substituted into its uses.
After `build_stage_loops`: each computed Func has one loop nest per definition. The pure
definition covers the Func's whole region (`f.min.d` .. `f.max.d`, int64 symbols bound later
by bounds inference); an update runs its pure variables over the same region and its RVars
over the RDom, first RVar innermost, with pure loops outside the RDom loops (Halide's default).
Loop variables are int32 Vars named `<func>.s<stage>.<var>`; `where` predicates become an if.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.expr import And, Call, Expr, Var
from pipelines.func import Definition, Func
from pipelines.mutator import Mutator, substitute
from pipelines.types import int64
from scheduler.bounds import to64
from scheduler.loopir import For, IfThenElse, Provide, Stmt
from scheduler.simplify import simplify


@dataclass(frozen=True)
class Names:
    """Unique IR names for the computed Funcs and the input images of one pipeline."""

    funcs: dict[Func, str]
    images: dict[str, str]

    def region_min(self, buffer: str, d: int) -> Var:
        return Var(f"{buffer}.min.{d}", int64)

    def region_max(self, buffer: str, d: int) -> Var:
        return Var(f"{buffer}.max.{d}", int64)


def unique_names(funcs: list[Func], image_names: list[str]) -> Names:
    """IR names: Func names as given, with `#k` added where two Funcs or an image share one."""
    taken: set[str] = set(image_names)
    out: dict[Func, str] = {}
    for f in funcs:
        name, k = f.name, 1
        while name in taken:
            name, k = f"{f.name}#{k}", k + 1
        taken.add(name)
        out[f] = name
    return Names(out, {n: n for n in image_names})


class _Inline(Mutator):
    def __init__(self, roots: frozenset[Func]):
        self.roots = roots

    def visit_Call(self, e: Call) -> Expr:
        args = tuple(self.visit(a) for a in e.args)
        f = e.func
        if isinstance(f, Func) and f not in self.roots:
            pure = f.definitions[0]
            body = substitute(pure.value, dict(zip(pure.args, args, strict=True)))
            return self.visit(body)
        return Call(f, args) if args != e.args else e


def inline_funcs(func: Func, roots: frozenset[Func]) -> list[Definition]:
    """The definitions of `func` with every non-root Func substituted into them."""
    inliner = _Inline(roots)
    out = []
    for d in func.definitions:
        out.append(
            Definition(
                tuple(inliner.visit(a) for a in d.args),
                inliner.visit(d.value),
                d.rvars,
                tuple(inliner.visit(p) for p in d.predicates),
            )
        )
    return out


def loop_var(func_name: str, stage: int, var_name: str) -> Var:
    return Var(f"{func_name}.s{stage}.{var_name}")


def build_stage_loops(func_name: str, definitions: list[Definition], names: Names) -> list[Stmt]:
    """One loop nest per definition of a computed Func, in definition order."""
    stages = []
    for s, d in enumerate(definitions):
        mapping: dict[Expr, Expr] = {}
        pure_dims: dict[int, Var] = {}
        for i, a in enumerate(d.args):
            if isinstance(a, Var):
                lv = loop_var(func_name, s, a.name)
                mapping[a] = lv
                pure_dims[i] = lv
        for rv in d.rvars:
            mapping[rv] = loop_var(func_name, s, rv.name)
        args = tuple(simplify(substitute(a, mapping)) for a in d.args)
        body: Stmt = Provide(func_name, args, simplify(substitute(d.value, mapping)))
        if d.predicates:
            cond = d.predicates[0]
            for p in d.predicates[1:]:
                cond = And(cond, p)
            body = IfThenElse(simplify(substitute(cond, mapping)), body)
        for rv in d.rvars:  # first RVar innermost
            body = For(mapping[rv].name, to64(rv.min), to64(rv.extent), "serial", body)
        for i in sorted(pure_dims):  # dimension 0 innermost among the pure loops
            lo = names.region_min(func_name, i)
            extent = simplify(names.region_max(func_name, i) - lo + 1)
            body = For(pure_dims[i].name, lo, extent, "serial", body)
        stages.append(body)
    return stages
