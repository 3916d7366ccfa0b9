"""C source from a lowered pipeline.

After `emit_c(lowering)`: one C function `saline_run(buffers, params, threads, query, error)`
that reads every buffer's origin, extents and strides from `buffers` (inputs first, then
outputs), every Param from `params` (as doubles, in `pipeline.params` order), evaluates the
region symbols, and then either writes each input's required region into `query` (when it is
not NULL) and returns 0, or runs every check (returning its error code with details in `error`)
and the loop nest, returning 0. The body of each parallel loop is a separate task function that
runs one iteration, reading what it needs of the enclosing function (every identifier its body
names that is declared outside it, with the same qualifiers) from a closure struct; the loop is
a call of `saline_parallel_for`; the library's `saline_set_pool(entry)` hands it the thread
pool (both in csrc/saline_runtime.h). Every user string reaches C only as a sanitized identifier
(`v12_blur_x`) or inside a comment with `*/` broken up, so no name can inject code.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from codegen.hoist import hoist_invariants
from pipelines.expr import (
    EQ,
    LE,
    LT,
    NE,
    Abs,
    Add,
    And,
    BinaryOp,
    Call,
    Cast,
    Ceil,
    Const,
    Cos,
    Div,
    Exp,
    Expr,
    FastPow,
    Floor,
    ImageDim,
    Log,
    Max,
    Min,
    Mod,
    Mul,
    Not,
    Or,
    Param,
    Pow,
    Round,
    RVar,
    Select,
    Sin,
    Sqrt,
    Sub,
    Tanh,
    Var,
)
from pipelines.mutator import substitute, walk
from pipelines.types import DType, int32
from scheduler.infer_bounds import buffer_symbol
from scheduler.loopir import (
    Allocate,
    Average,
    Block,
    Check,
    For,
    FractionalPow,
    IfThenElse,
    LetStmt,
    Load,
    LookupCopy,
    NonNegativePow,
    Nop,
    Stmt,
    Store,
    StreamStore,
)
from scheduler.lower import Lowering
from scheduler.stream import stream_fence_needed

FUNCTION = "saline_run"
STACK_LIMIT = 64 * 1024  # bytes of a loop-local Func's storage kept on the stack
# Indentation stops growing at this depth (of 4 spaces): version branches and loops nest deep, and
# without a cap the indentation was most of a pyramid's source (13 of 16 MB for interpolate),
# which the cache keeps on disk.
MAX_INDENT = 24
CDEF = """
typedef struct saline_buffer_t {
    void *host;
    int32_t dims;
    int32_t elem_size;
    int64_t min[8];
    int64_t extent[8];
    int64_t stride[8];
} saline_buffer_t;
int32_t saline_run(const saline_buffer_t *buffers, const double *params, int32_t threads,
                   int64_t *query, int64_t *error);
void saline_set_pool(void *entry);
"""


def type_suffix(t: DType) -> str:
    """The suffix of runtime helpers for a type: i32, u8, f32, ..."""
    return {"i": "i", "u": "u", "f": "f", "b": "b"}[t.kind] + str(t.bits)


def c_comment(text: str) -> str:
    """`text` made safe inside a C block comment on one line."""
    return re.sub(r"[^\x20-\x7e]", "?", text).replace("*/", "* /").replace("/*", "/ *")


def c_literal(value: int | float | bool, t: DType) -> str:
    """An exact C literal of type t."""
    if t.is_bool:
        return "true" if value else "false"
    if t.is_float:
        v = float(value)
        suffix = "f" if t.bits == 32 else ""
        if v != v:
            return "NAN" if t.bits == 32 else "((double)NAN)"
        if v in (float("inf"), float("-inf")):
            sign = "-" if v < 0 else ""
            return f"({sign}INFINITY)" if t.bits == 32 else f"({sign}(double)INFINITY)"
        return f"({v.hex()}{suffix})"
    v = int(value)
    if t.is_signed:
        if v == t.min_value:
            return f"(({t.c_name})({v + 1}LL - 1))"
        return f"(({t.c_name}){v}LL)"
    return f"(({t.c_name}){v}ULL)"


class Names:
    """C identifiers for IR names: `<prefix><n>_<sanitized>`, unique, at most ~40 chars."""

    def __init__(self, prefix: str, uses: list[set[str]] | None = None):
        self.prefix = prefix
        self.table: dict[str, str] = {}
        self.uses = uses if uses is not None else []  # every lookup is recorded in the last set

    def __getitem__(self, name: str) -> str:
        ident = self.table.get(name)
        if ident is None:
            clean = re.sub(r"[^A-Za-z0-9_]", "_", name)[:32]
            ident = f"{self.prefix}{len(self.table)}_{clean}"
            self.table[name] = ident
        if self.uses:
            self.uses[-1].add(ident)
        return ident


def _pad(indent: int) -> str:
    return "    " * min(indent, MAX_INDENT)


_MATH = {Sqrt: "sqrt", Exp: "exp", Log: "log", Sin: "sin", Cos: "cos", Tanh: "tanh", Floor: "floor", Ceil: "ceil"}
_INFIX = {Add: "+", Sub: "-", Mul: "*", LT: "<", LE: "<=", EQ: "==", NE: "!="}


class CEmitter:
    """Emits expressions and statements; one instance per generated function."""

    def __init__(self, lowering: Lowering):
        self.lowering = lowering
        # identifiers named while a parallel loop's body is emitted, innermost loop last
        self.uses: list[set[str]] = []
        self.vars = Names("v", self.uses)
        self.bufs = Names("b", self.uses)
        # C identifiers declared in each enclosing scope, with their declared type
        self.scopes: list[dict[str, str]] = [{}]
        self.tasks: list[str] = []  # the task functions of parallel loops, each after those it calls
        self.loop_counter = 0
        self.vector_depth = 0  # > 0 inside a vectorized loop
        self.nested_allocations = False  # set once the function's top-level allocations are emitted
        self.rules: dict[type, Callable[[Expr], str]] = {
            Const: lambda e: c_literal(e.value, e.dtype),
            Var: lambda e: self.vars[e.name],
            RVar: lambda e: self.vars[e.name],
            Param: lambda e: self.vars["param " + e.name],
            ImageDim: self._image_dim,
            Load: lambda e: f"{self.bufs[e.buffer]}[{self.expr(e.index)}]",
            Cast: self._cast,
            Div: lambda e: self._helper("div", e),
            Mod: lambda e: self._helper("mod", e),
            Min: lambda e: self._helper("min", e),
            Max: lambda e: self._helper("max", e),
            Pow: lambda e: self._pow("saline_powf", e),
            FastPow: lambda e: self._pow("saline_fast_powf", e),
            FractionalPow: lambda e: (
                f"saline_{'fast_' if e.fast else ''}powf_fractional({self.expr(e.a)}, {self.expr(e.b)})"
            ),
            Average: lambda e: (
                f"saline_avg_{'up' if e.up else 'down'}_{type_suffix(e.dtype)}({self.expr(e.a)}, {self.expr(e.b)})"
            ),
            NonNegativePow: lambda e: (
                f"saline_fast_powf_unit({self.expr(e.a)}, {self.expr(e.b)}, {int(e.positive)})"
                if e.unit
                else f"saline_{'fast_' if e.fast else ''}powf_nonnegative"
                f"({self.expr(e.a)}, {self.expr(e.b)}, {int(e.finite_base)}, {int(e.positive)})"
            ),
            And: lambda e: f"({self.expr(e.a)} && {self.expr(e.b)})",
            Or: lambda e: f"({self.expr(e.a)} || {self.expr(e.b)})",
            Not: lambda e: f"(!{self.expr(e.value)})",
            Select: self._select,
            Round: lambda e: f"__builtin_roundeven{'f' if e.dtype.bits == 32 else ''}({self.expr(e.value)})",
            Abs: self._abs,
            Call: self._unflattened,
        }
        for cls, op in _INFIX.items():
            self.rules[cls] = self._infix_rule(op)
        for cls, fn in _MATH.items():
            self.rules[cls] = self._math_rule(fn)

    # ---------------------------------------------------------------- expressions

    def expr(self, e: Expr) -> str:
        rule = self.rules.get(type(e))
        if rule is None:
            raise TypeError(f"no C rule for expression node {type(e).__name__}")
        return rule(e)

    def _infix_rule(self, op: str) -> Callable[[Expr], str]:
        def rule(e: Expr) -> str:
            t = e.dtype
            a = e.a  # type: ignore[attr-defined]
            if isinstance(e, Sub) and t.is_float and isinstance(a, Const) and a.value == 0 and str(a.value)[0] != "-":
                # gcc 12's front end folds `0.0f - (float)i` (also `-(float)i + 0.0f`) into
                # `-(float)i`, which is -0.0 for i == 0 where the language's `0 - x` is +0.0. It
                # does not fold across a statement, so the operand goes through a temporary.
                return f"({{ const {t.c_name} neg_ = {self.expr(e.b)}; ({self.expr(a)} - neg_); }})"  # type: ignore[attr-defined]
            if isinstance(e, (LT, LE, EQ, NE)) and a.dtype.is_int and a.dtype.bits < 32:
                return f"({self._opaque32(self.expr(a))} {op} (int32_t){self.expr(e.b)})"  # type: ignore[attr-defined]
            text = f"({self.expr(a)} {op} {self.expr(e.b)})"  # type: ignore[attr-defined]
            if isinstance(e, BinaryOp) and t.is_int and t.bits < 32:
                return f"(({t.c_name}){text})"  # C promotes to int; the language wraps at the type's width
            if isinstance(e, BinaryOp) and t.is_int and not t.is_signed and t.bits == 32 and op == "*":
                return f"((uint32_t)((uint64_t){self.expr(e.a)} * {self.expr(e.b)}))"  # type: ignore[attr-defined]
            return text

        return rule

    def _math_rule(self, fn: str) -> Callable[[Expr], str]:
        return lambda e: f"{fn}{'f' if e.dtype.bits == 32 else ''}({self.expr(e.value)})"  # type: ignore[attr-defined]

    def _pow(self, float32_fn: str, e: Pow | FastPow) -> str:
        """Saline's own float32 pow (csrc/saline_math.h), or C's pow for float64."""
        return f"{float32_fn if e.dtype.bits == 32 else 'pow'}({self.expr(e.a)}, {self.expr(e.b)})"

    def _helper(self, op: str, e: Expr) -> str:
        t = e.dtype
        b = e.b  # type: ignore[attr-defined]
        if op in ("div", "mod") and t.is_int and isinstance(b, Const) and _power_of_two(int(b.value)):
            # Euclidean division by 2^k > 0 is floor division: an arithmetic shift, and the
            # remainder the low k bits (two's complement). gcc does not find this through the
            # helper's truncating divide and sign fix-up (camera_pipe's int16 `/ 32` took 30
            # vector instructions where a shift takes one).
            k = int(b.value).bit_length() - 1
            a = self.expr(e.a)  # type: ignore[attr-defined]
            text = f"({a} >> {k})" if op == "div" else f"({a} & {c_literal(int(b.value) - 1, t)})"
            return f"(({t.c_name}){text})" if t.bits < 32 else text
        if op in ("div", "mod") and t.is_float:
            if op == "div":
                return f"({self.expr(e.a)} / {self.expr(e.b)})"  # type: ignore[attr-defined]
            return f"saline_mod_{type_suffix(t)}({self.expr(e.a)}, {self.expr(e.b)})"  # type: ignore[attr-defined]
        if op in ("div", "mod") and t == int32 and self.vector_depth and not isinstance(b, Const):
            # the helper's branches on a divisor only known at run time keep gcc from
            # vectorizing the loop at all (bilateral_grid's slicing, x / s_sigma, ran scalar);
            # the branch-free version divides in double, exactly (csrc/saline_runtime.h)
            return f"saline_{op}_vec_i32({self.expr(e.a)}, {self.expr(b)})"  # type: ignore[attr-defined]
        return f"saline_{op}_{type_suffix(t)}({self.expr(e.a)}, {self.expr(e.b)})"  # type: ignore[attr-defined]

    def _select(self, e: Expr) -> str:
        c, a, b = (self.expr(v) for v in (e.cond, e.true_value, e.false_value))  # type: ignore[attr-defined]
        if e.dtype.is_float:  # both values computed, then blended (csrc/saline_runtime.h)
            return f"saline_select_{type_suffix(e.dtype)}({c}, {a}, {b})"
        return f"({c} ? {a} : {b})"

    def _abs(self, e: Expr) -> str:
        t = e.dtype
        v = self.expr(e.value)  # type: ignore[attr-defined]
        if t.is_float:
            return f"{'fabsf' if t.bits == 32 else 'fabs'}({v})"
        return v if not t.is_signed else f"saline_abs_{type_suffix(t)}({v})"

    def _image_dim(self, e: Expr) -> str:
        assert self.lowering.names is not None
        name = self.lowering.names.images[e.image.name]  # type: ignore[attr-defined]
        return f"((int32_t){self.vars[buffer_symbol(name, e.which, e.dim).name]})"  # type: ignore[attr-defined]

    def _cast(self, e: Expr) -> str:
        to, src = e.dtype, e.value.dtype  # type: ignore[attr-defined]
        v = self.expr(e.value)  # type: ignore[attr-defined]
        if to.is_bool:
            return f"({self._opaque32(v)} != 0)" if src.is_int and src.bits < 32 else f"({v} != 0)"
        if src.is_float and to.is_int:
            return f"saline_cvt_{type_suffix(src)}_{type_suffix(to)}({v})"
        return f"(({to.c_name}){v})"

    def _unflattened(self, e: Expr) -> str:
        raise TypeError(f"a Call to {e.func.name} reached C generation: storage flattening missed it")  # type: ignore[attr-defined]

    def _opaque32(self, v: str) -> str:
        return f"((int32_t){v} + {self.ref(ZERO32)})"

    # ---------------------------------------------------------------- scopes

    def declare(self, ident: str, c_type: str) -> str:
        """Record that `ident` is declared as `c_type` in the current scope."""
        self.scopes[-1][ident] = c_type
        return ident

    def ref(self, ident: str) -> str:
        """`ident`, a name the emitter writes itself (not an IR name), recorded as used."""
        if self.uses:
            self.uses[-1].add(ident)
        return ident

    def scoped(self, declarations: dict[str, str], emit: Callable[[], list[str]]) -> list[str]:
        self.scopes.append(declarations)
        try:
            return emit()
        finally:
            self.scopes.pop()

    # ---------------------------------------------------------------- statements

    def _top_body(self, s: Stmt, indent: int) -> list[str]:
        """Statements below the function's chain of top-level allocations: any allocation met
        from here on is local to a loop."""
        if not isinstance(s, Allocate):
            self.nested_allocations = True
        return self.stmt(s, indent)

    def _local_allocation(self, n: str, t: DType, ext: tuple[Expr, ...], b: Stmt, indent: int) -> list[str]:
        """Storage inside a loop (compute_at): allocated and freed per iteration, so each thread
        of a parallel loop has its own; a failure is recorded and the iteration skipped."""
        pad = _pad(indent)
        buf = self.bufs[n]
        dims = ", ".join(self.expr(x) for x in ext) or "1"
        size = t.bits // 8 if t.bits >= 8 else 1
        declared = {buf: f"{t.c_name} *"}  # an array on the stack is captured as a pointer
        if all(isinstance(x, Const) for x in ext):
            count = 1
            for x in ext:
                count *= max(int(x.value), 0)  # type: ignore[attr-defined]
            if count * size <= STACK_LIMIT:  # small and fixed: on the stack, no malloc per iteration
                return [
                    f"{pad}{{",
                    f"{pad}    {t.c_name} {buf}[{max(count, 1)}] __attribute__((aligned(64)));",
                    *self.scoped(declared, lambda: self.stmt(b, indent + 1)),
                    f"{pad}}}",
                ]
        return [
            f"{pad}{{",
            f"{pad}    const int64_t {buf}_extents[] = {{{dims}}};",
            f"{pad}    int {buf}_too_large = 0;",
            f"{pad}    {t.c_name} *{buf} = ({t.c_name} *)saline_alloc(saline_product({len(ext)}, {buf}_extents), "
            f"{size}, &{buf}_too_large);",
            f"{pad}    if ({buf} == NULL) {{  /* allocation of {c_comment(n)} */",
            f"{pad}        __atomic_store_n({self.ref(RC)}, {buf}_too_large ? 6 : 5, __ATOMIC_RELAXED);",
            f"{pad}    }} else {{",
            *self.scoped(declared, lambda: self.stmt(b, indent + 2)),
            f"{pad}        free({buf});",
            f"{pad}    }}",
            f"{pad}}}",
        ]

    @staticmethod
    def _pragma(kind: str, extent: Expr, pad: str, innermost: bool) -> list[str]:
        if kind == "vectorized" and innermost:  # a SIMD loop around other loops stays a plain loop
            # simdlen asks gcc for the scheduled width even where it is wider than one register: a
            # loop of 16 floats then runs as two AVX2 vectors whose instructions interleave, which
            # hides the latency of long chains (float32 pow: 45 -> 33 ms at 2560x1536x3); without
            # it gcc runs the 16 lanes as two iterations of one vector.
            lanes = int(extent.value) if isinstance(extent, Const) else 0
            wide = 2 <= lanes <= 64 and _power_of_two(lanes)
            return [f"{pad}#pragma omp simd simdlen({lanes})" if wide else f"{pad}#pragma omp simd"]
        if kind == "unrolled" and isinstance(extent, Const) and 0 < int(extent.value) <= 64:
            return [f"{pad}#pragma GCC unroll {int(extent.value)}"]
        return []

    def stmt(self, s: Stmt, indent: int) -> list[str]:
        pad = _pad(indent)
        match s:
            case Block(stmts=ss):
                return [line for run in _store_runs(ss) for line in self._run(run, indent)]
            case Nop():
                return []
            case For(kind="parallel"):
                return self._parallel_for(s, indent)
            case For(name=n, min=lo, extent=ext, kind=kind, body=b):
                self.loop_counter += 1
                i = f"i{self.loop_counter}"
                self.vector_depth += kind == "vectorized"
                loop_var = {self.vars[n]: "const int64_t"}
                inner = self.scoped(loop_var, lambda: self.stmt(b, indent + 2))
                self.vector_depth -= kind == "vectorized"
                return [
                    f"{pad}{{",
                    f"{pad}    const int64_t {i}_lo = {self.expr(lo)}, {i}_hi = {i}_lo + {self.expr(ext)};",
                    *self._pragma(kind, ext, pad + "    ", innermost=not any(isinstance(n, For) for n in walk(b))),
                    f"{pad}    for (int64_t {i} = {i}_lo; {i} < {i}_hi; {i}++) {{",
                    f"{pad}        const int64_t SALINE_UNUSED {self.vars[n]} = {i};",
                    *inner,
                    f"{pad}    }}",
                    f"{pad}}}",
                ]
            case LetStmt(name=n, value=v, body=b):
                # the body at the let's own depth: hoisting makes long chains of lets
                ident = self.vars[n]
                return [
                    f"{pad}{{ const {v.dtype.c_name} {ident} = {self.expr(v)};",
                    *self.scoped({ident: f"const {v.dtype.c_name}"}, lambda: self.stmt(b, indent)),
                    f"{pad}}}",
                ]
            case Store(buffer=buf, index=idx, value=v):
                lets, (idx, v) = common_subexpressions((idx, v), f"cse{self.loop_counter}.{len(self.vars.table)}")
                if not lets:
                    return [f"{pad}{self.bufs[buf]}[{self.expr(idx)}] = {self.expr(v)};"]
                lines = [f"{pad}{{"]
                for var, value in lets:
                    lines.append(f"{pad}    const {value.dtype.c_name} {self.vars[var.name]} = {self.expr(value)};")
                return [*lines, f"{pad}    {self.bufs[buf]}[{self.expr(idx)}] = {self.expr(v)};", f"{pad}}}"]
            case StreamStore(buffer=buf, index=idx, source=src, lanes=n, dtype=t):
                size = n * (t.bits // 8)
                return [f"{pad}saline_stream_store(&{self.bufs[buf]}[{self.expr(idx)}], {self.bufs[src]}, {size});"]
            case LookupCopy(buffer=buf, index=idx, table=table, indices=ix, lanes=n, dtype=t, limit=lim):
                u = "uint8_t" if t.bits == 8 else "saline_u32_any"
                dst, src = f"({u} *)&{self.bufs[buf]}[{self.expr(idx)}]", f"(const {u} *){self.bufs[table]}"
                return [f"{pad}saline_lookup_u{t.bits}({dst}, {src}, {self.expr(lim)}, {self.bufs[ix]}, {n});"]
            case IfThenElse(cond=c, then_case=t, else_case=e):
                lines = [f"{pad}if ({self.expr(c)}) {{", *self.stmt(t, indent + 1), f"{pad}}}"]
                if e is not None:
                    lines[-1] = f"{pad}}} else {{"
                    lines += [*self.stmt(e, indent + 1), f"{pad}}}"]
                return lines
            case Allocate(name=n, dtype=t, extents=ext, body=b) if self.nested_allocations:
                return self._local_allocation(n, t, ext, b, indent)
            case Allocate(name=n, dtype=t, extents=ext, body=b):
                buf = self.bufs[n]
                dims = ", ".join(self.expr(x) for x in ext) or "1"
                return [
                    f"{pad}{{",
                    f"{pad}    const int64_t {buf}_extents[] = {{{dims}}};",
                    f"{pad}    int {buf}_too_large = 0;",
                    f"{pad}    {buf} = ({t.c_name} *)saline_alloc(saline_product({len(ext)}, {buf}_extents), "
                    f"{t.bits // 8 if t.bits >= 8 else 1}, &{buf}_too_large);",
                    f"{pad}    if ({buf} == NULL) {{",
                    f"{pad}        error[0] = saline_product({len(ext)}, {buf}_extents);",
                    f"{pad}        rc = {buf}_too_large ? 6 : 5;  /* allocation of {c_comment(n)} */",
                    f"{pad}        goto cleanup;",
                    f"{pad}    }}",
                    *self._top_body(b, indent + 1),
                    f"{pad}}}",
                ]
            case Check(cond=c, code=code, details=details, message=m):
                sets = " ".join(f"error[{k}] = {self.expr(d)};" for k, d in enumerate(details))
                return [
                    f"{pad}if (!{self.expr(c)}) {{  /* {c_comment(m)} */",
                    f"{pad}    {sets} rc = {code}; goto cleanup;",
                    f"{pad}}}",
                ]
        raise TypeError(f"no C rule for statement {type(s).__name__}")

    def _run(self, run: list[Stmt], indent: int) -> list[str]:
        """One statement, or consecutive Stores with the values they share computed once ahead
        of them (`shared_subexpressions`): the copies of an unrolled loop share what does not
        depend on the loop, and the C compiler cannot share it itself when a store between
        them might write what it reads (intermediate buffers are not `restrict`)."""
        if len(run) == 1:
            return self.stmt(run[0], indent)
        lets, stores = shared_subexpressions(run, f"xcse{self.loop_counter}.{len(self.vars.table)}")
        if not lets:
            return [line for x in run for line in self.stmt(x, indent)]
        pad = _pad(indent)
        lines = [f"{pad}{{"]
        for var, value in lets:
            lines.append(f"{pad}    const {value.dtype.c_name} {self.vars[var.name]} = {self.expr(value)};")
        return [*lines, *(line for x in stores for line in self.stmt(x, indent + 1)), f"{pad}}}"]

    def _parallel_for(self, s: For, indent: int) -> list[str]:
        """A parallel loop: its body becomes a task function of one iteration, which reads the
        identifiers it names from the enclosing function out of a closure struct."""
        self.loop_counter += 1
        k = self.loop_counter
        i = f"i{k}"
        visible: dict[str, str] = {}
        for scope in self.scopes:
            visible.update(scope)
        loop_var = self.vars[s.name]
        self.uses.append(set())
        try:
            body = self.scoped({loop_var: "const int64_t"}, lambda: self.stmt(s.body, 1))
        finally:
            used = self.uses.pop()
        if self.uses:
            self.uses[-1] |= used  # the enclosing task fills this closure from its own copies
        captured = sorted(u for u in used if u in visible and u != loop_var)
        if stream_fence_needed(s.body):
            # this thread's streamed stores are complete before the loop's end lets any other
            # thread (or the caller) read them
            body.append("    saline_stream_fence();")
        closure = f"saline_closure{k}"
        members = [f"    {_unqualified(visible[u])} {u};" for u in captured] or ["    char unused;"]
        copies = [f"    {visible[u]} SALINE_UNUSED {u} = closure_->{u};" for u in captured]
        if ZERO32 in captured:  # opaque again to this function (see ZERO32)
            copies.append(f'    __asm__("" : "+r"({ZERO32}));')
        self.tasks.append(
            "\n".join(
                [
                    f"struct {closure} {{",
                    *members,
                    "};",
                    f"static void saline_task{k}(void *closure, int64_t {i}) {{",
                    f"    const struct {closure} *const closure_ = closure;",
                    *copies,
                    f"    const int64_t SALINE_UNUSED {loop_var} = {i};",
                    *body,
                    "}",
                    "",
                ]
            )
        )
        pad = _pad(indent)
        fill = ", ".join(f".{u} = {u}" for u in captured) or ".unused = 0"
        return [
            f"{pad}{{",
            f"{pad}    const int64_t {i}_lo = {self.expr(s.min)}, {i}_hi = {i}_lo + {self.expr(s.extent)};",
            f"{pad}    struct {closure} {i}_closure = {{{fill}}};",
            f"{pad}    saline_parallel_for(saline_task{k}, &{i}_closure, {i}_lo, {i}_hi, {self.ref(THREADS)});",
            f"{pad}}}",
        ]


def _unqualified(c_type: str) -> str:
    """A declared type without `const` and `restrict`: the type of a closure member."""
    return " ".join(w for w in c_type.replace("*", " * ").split() if w not in ("const", "restrict")).replace(" *", "*")


def _power_of_two(v: int) -> bool:
    return v > 0 and v & (v - 1) == 0


def _is_leaf(e: Expr) -> bool:
    return isinstance(e, (Const, Var, RVar, Param, ImageDim))


def _loads_in_selects(exprs: tuple[Expr, ...]) -> set[Expr]:
    """The Loads inside a branch of some Select."""
    return {
        n
        for e in exprs
        for sel in walk(e)
        if isinstance(sel, Select)
        for branch in (sel.true_value, sel.false_value)
        for n in walk(branch)
        if isinstance(n, Load)
    }


def common_subexpressions(exprs: tuple[Expr, ...], prefix: str) -> tuple[list[tuple[Var, Expr]], tuple[Expr, ...]]:
    """Let-bind every non-leaf subexpression that occurs more than once (inlined stencils repeat
    whole producers), so the C stays small and each value is computed once, and every Load in a
    branch of a select, so that the select becomes a blend of two values: a C `c ? a[i] : 0`
    is a conditional load, which gcc turns into a masked load or does not vectorize at all.
    Hoisting out of a select branch is safe: bounds inference sizes every buffer for the
    indices of both branches (so the loads are in bounds) and no operation traps."""
    counts: Counter[Expr] = Counter(n for e in exprs for n in walk(e) if isinstance(n, Expr) and not _is_leaf(n))
    hoisted = _loads_in_selects(exprs)
    repeated = [n for n, k in counts.items() if k > 1 or n in hoisted]
    if not repeated:
        return [], exprs
    lets, mapping = _let_bind(repeated, prefix)
    return lets, tuple(substitute(e, mapping) for e in exprs)


def _let_bind(nodes: list[Expr], prefix: str) -> tuple[list[tuple[Var, Expr]], dict[Expr, Expr]]:
    """A let per node, smallest first and each in terms of the lets before it, and the mapping
    from each node to its variable."""
    sizes = {n: sum(1 for _ in walk(n)) for n in nodes}
    mapping: dict[Expr, Expr] = {}
    lets = []
    for k, n in enumerate(sorted(nodes, key=sizes.__getitem__)):
        var = Var(f"{prefix}.{k}", n.dtype)
        lets.append((var, substitute(n, mapping) if mapping else n))
        mapping[n] = var
    return lets, mapping


def _store_runs(stmts: tuple[Stmt, ...]) -> list[list[Stmt]]:
    """`stmts` in order, consecutive Stores grouped together, every other statement alone."""
    runs: list[list[Stmt]] = []
    for x in stmts:
        if isinstance(x, Store) and runs and isinstance(runs[-1][-1], Store):
            runs[-1].append(x)
        else:
            runs.append([x])
    return runs


def shared_subexpressions(stores: list[Stmt], prefix: str) -> tuple[list[tuple[Var, Expr]], list[Stmt]]:
    """Let-bind every non-leaf subexpression that occurs in more than one of `stores` (Stores run
    in order) and reads no buffer any of them writes, so its value is the same before the first
    store as where each store computes it; the stores with those subexpressions replaced. The
    rest (what reads a written buffer, what one store alone uses) is left to each store's own
    `common_subexpressions`."""
    written = {x.buffer for x in stores if isinstance(x, Store)}
    seen: Counter[Expr] = Counter()
    for x in stores:
        assert isinstance(x, Store)
        # each once per store, in the order met: the lets come out the same in every process
        parts = (n for e in (x.index, x.value) for n in walk(e) if isinstance(n, Expr) and not _is_leaf(n))
        seen.update(list(dict.fromkeys(parts)))
    shared = [
        n for n, k in seen.items() if k > 1 and not any(isinstance(m, Load) and m.buffer in written for m in walk(n))
    ]
    if not shared:
        return [], stores
    lets, mapping = _let_bind(shared, prefix)
    out: list[Stmt] = []
    for x in stores:
        assert isinstance(x, Store)
        out.append(Store(x.buffer, substitute(x.index, mapping), substitute(x.value, mapping)))
    return lets, out


# gcc 12.2 miscompiles loops that vectorize a comparison of 8- or 16-bit integers whose result
# becomes an index (`lut[max(in[i] == 0, 0)]` reads lut at other places: it takes lanes of the
# narrow compare mask for index values), at -O2 with vectorization and at -O3 alike. The
# operands are compared as int32 plus a zero the compiler cannot see through (set by an empty
# asm at the top of the function), so it cannot narrow the comparison back.
ZERO32 = "saline_zero32"
RC = "saline_rc"  # points at saline_run's return code: a failed allocation in a loop sets it
THREADS = "threads"


def emit_c(lowering: Lowering) -> str:
    """The whole C translation unit for a lowered pipeline."""
    em = CEmitter(lowering)
    buffers = [*lowering.inputs, *lowering.outputs]
    lines = [
        "int32_t saline_run(const saline_buffer_t *buffers, const double *params, int32_t threads,"
        " int64_t *query, int64_t *error) {",
        "    int32_t rc = 0;",
        "    (void)threads; (void)params; (void)buffers;",
        f"    int32_t *const SALINE_UNUSED {RC} = &rc;",
        f"    int32_t SALINE_UNUSED {ZERO32} = 0;",
        f'    __asm__("" : "+r"({ZERO32}));',
    ]
    em.declare(THREADS, "const int32_t")
    em.declare(RC, "int32_t *const")
    em.declare(ZERO32, "int32_t")
    allocated = _allocated(lowering.body)
    for name, t in allocated:
        lines.append(f"    {t.c_name} *{em.declare(em.bufs[name], f'{t.c_name} *')} = NULL;")
    for k, info in enumerate(buffers):
        buf = em.declare(em.bufs[info.name], f"{info.dtype.c_name} *restrict")
        lines.append(
            f"    {info.dtype.c_name} *restrict SALINE_UNUSED {buf} = "
            f"({info.dtype.c_name} *)buffers[{k}].host;  /* {c_comment(info.name)} */"
        )
        for d in range(info.ndim):
            for what in ("min", "extent", "stride"):
                sym = em.declare(em.vars[buffer_symbol(info.name, what, d).name], "const int64_t")
                lines.append(f"    const int64_t SALINE_UNUSED {sym} = buffers[{k}].{what}[{d}];")
    for k, p in enumerate(lowering.params):
        ident = em.declare(em.vars["param " + p.name], f"const {p.dtype.c_name}")
        c_type = p.dtype.c_name
        lines.append(f"    const {c_type} SALINE_UNUSED {ident} = ({c_type})params[{k}];  /* {c_comment(p.name)} */")
    for name, value in lowering.lets:
        ident = em.declare(em.vars[name], f"const {value.dtype.c_name}")
        lines.append(f"    const {value.dtype.c_name} SALINE_UNUSED {ident} = {em.expr(value)};")
    lines.append("    if (query != NULL) {")
    q = 0
    for info in lowering.inputs:
        for lo, hi in lowering.image_regions[info.name]:
            lines.append(f"        query[{q}] = {em.expr(lo)}; query[{q + 1}] = {em.expr(hi)};")
            q += 2
    lines += ["        return 0;", "    }"]
    for c in lowering.checks:
        lines += em.stmt(c, 1)
    lines += em._top_body(hoist_invariants(lowering.body), 1) if lowering.body is not None else []
    lines.append("cleanup:")
    if lowering.body is not None and stream_fence_needed(lowering.body):
        lines.append("    saline_stream_fence();  /* streamed stores outside parallel loops */")
    for name, _ in allocated:
        lines.append(f"    free({em.bufs[name]});")
    lines += ["    return rc;", "}", ""]
    head = ['#include "saline_runtime.h"', "", "/* generated by saline: do not edit */", ""]
    return "\n".join([*head, *em.tasks, *lines])


def _allocated(s: Stmt | None) -> list[tuple[str, DType]]:
    out = []
    while isinstance(s, Allocate):
        out.append((s.name, s.dtype))
        s = s.body
    return out
