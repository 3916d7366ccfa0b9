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

from pipelines.bounds import to64
from pipelines.expr import And, Call, Cast, Expr, Var
from pipelines.func import Definition, DefinitionError, Func
from pipelines.mutator import Mutator, substitute, walk
from pipelines.types import int32, int64
from scheduler.loopir import For, IfThenElse, LetStmt, Provide, Stmt
from scheduler.simplify import simplify
from scheduler.stage_loops import StagePlan, plan_stage


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
    """IR names of the buffers: user names with '.' replaced (IR symbols are built as
    `<buffer>.<what>.<dim>`, so a buffer name must not contain a '.'), and `#k` added where
    two Funcs or images would share one."""
    taken: set[str] = set()

    def fresh(user: str) -> str:
        base = user.replace(".", "_")
        name, k = base, 1
        while name in taken:
            name, k = f"{base}#{k}", k + 1
        taken.add(name)
        return name

    images = {n: fresh(n) for n in image_names}
    return Names({f: fresh(f.name) for f in funcs}, images)


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


def def_var(func_name: str, stage: int, var_name: str) -> Var:
    """The let-bound int32 value of a definition variable inside a stage's loops."""
    return Var(f"{func_name}.s{stage}.v.{var_name}")


def _stage_nest(func_name: str, s: int, d: Definition, plan: StagePlan) -> tuple[Stmt, dict[str, tuple]]:
    """The loops of one planned stage around its (guarded, predicated) Provide."""
    mapping: dict[Expr, Expr] = {}
    for rv in d.rvars:
        mapping[rv] = def_var(func_name, s, rv.name)
    for a in d.args:
        if isinstance(a, Var):
            mapping[a] = def_var(func_name, s, a.name)
    args = tuple(simplify(substitute(a, mapping)) for a in d.args)
    body: Stmt = Provide(func_name, args, simplify(substitute(d.value, mapping)))
    if d.predicates:
        cond = d.predicates[0]
        for p in d.predicates[1:]:
            cond = And(cond, p)
        body = IfThenElse(simplify(substitute(cond, mapping)), body)
    for g in reversed(plan.guards):
        body = IfThenElse(g, body)
    ranges = {}
    for var_name, value in reversed(list(plan.values.items())):
        dv = def_var(func_name, s, var_name)
        body = LetStmt(dv.name, simplify(Cast(int32, value)), body)
        ranges[dv.name] = plan.ranges[var_name]
    for loop in reversed(plan.loops):
        body = For(plan.loop_vars[loop.name], loop.min, loop.extent, loop.kind, body)
    return body, ranges


def independent_rvars(d: Definition, func: Func) -> frozenset[str]:
    """RVars whose iterations touch disjoint places: the RVar stands alone at some position of
    the left side, and every read of the Func itself has it there too. Only those may run in
    parallel or as SIMD lanes."""
    selfs = [n for part in (d.value, *d.predicates) for n in walk(part) if isinstance(n, Call) and n.func is func]
    out = set()
    for rv in d.rvars:
        positions = [i for i, a in enumerate(d.args) if a == rv]
        if positions and all(n.args[positions[0]] == rv for n in selfs):
            out.add(rv.name)
    return frozenset(out)


@dataclass
class StageNest:
    """A stage's loop nest, plus the full range of each definition variable (by IR name)."""

    stmt: Stmt
    ranges: dict[str, tuple[Expr, Expr]]
    loops: dict[str, str]  # schedule loop name -> IR loop name


def build_stage_loops(
    func: Func,
    func_name: str,
    definitions: list[Definition],
    names: Names,
    directives: dict[int, list],
    is_output: bool,
) -> list[StageNest]:
    """One loop nest per definition of a computed Func, in definition order, under the stage's
    schedule directives (see scheduler.stage_loops)."""
    stages = []
    for s, d in enumerate(definitions):
        where = f"Func {func_name!r} stage {s}" if s == 0 else f"Func {func_name!r} update({s - 1})"
        variables = []
        clash = {rv.name for rv in d.rvars} & {a.name for a in d.args if isinstance(a, Var)}
        if clash:
            raise DefinitionError(f"{where}: a Var and an RVar are both named {sorted(clash)[0]!r}; rename one")
        for k, rv in enumerate(d.rvars):  # first RVar innermost, pure loops outside them
            variables.append((rv.name, to64(rv.min), to64(rv.extent), k))
        for i, a in enumerate(d.args):
            if isinstance(a, Var):
                lo = names.region_min(func_name, i)
                variables.append((a.name, lo, simplify(names.region_max(func_name, i) - lo + 1), None))
        args_directives = (
            where,
            f"{func_name}.s{s}.",
            variables,
            directives.get(s, []),
            s > 0,
            is_output,
            independent_rvars(d, func),
        )
        plan = plan_stage(*args_directives)
        body, ranges = _stage_nest(func_name, s, d, plan)
        if plan.assumptions:
            # Shifted splits need extents of at least their factor; smaller regions run a guarded version.
            other, _ = _stage_nest(func_name, s, d, plan_stage(*args_directives, shifted=False))
            cond = plan.assumptions[0]
            for a in plan.assumptions[1:]:
                cond = And(cond, a)
            body = IfThenElse(cond, body, other)
        stages.append(StageNest(body, ranges, plan.loop_vars))
    return stages


class _InlineLets(Mutator):
    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.values: dict[Expr, Expr] = {}

    def visit_LetStmt(self, s: LetStmt) -> Stmt:
        if s.name not in self.names:
            return self.generic(s)
        self.values[Var(s.name, s.value.dtype)] = substitute(s.value, self.values)
        return self.visit(s.body)

    def visit_Var(self, e: Var) -> Expr:
        return self.values.get(e, e)


def inline_lets(stmt: Stmt, names: set[str]) -> Stmt:
    """Substitute the let-bound definition variables `names` into their uses, so that index
    arithmetic is written directly in the loop counters (affine, as vectorization needs)."""
    return _InlineLets(names).visit(stmt)
