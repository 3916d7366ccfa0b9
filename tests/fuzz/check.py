"""Checking a generated case, shrinking a failing one, and printing it as a standalone program.

`outcome(built, compiled)` runs one built case (tests/fuzz/cases.py) and returns None when the
compiled result equals the interpreter's (integers and bools exactly, floats within
`FLOAT_RTOL`, NaN at the same places), else a failure signature: `mismatch <output>`, or
`<phase> <ExceptionType>`. A call the compiled pipeline refuses because its int32 index
arithmetic would wrap passes, with `built.refused` set, when the interpreter's values confirm
that an index operation wraps (tests/fuzz/overflow.py): such a program is outside the language's
domain. `shrink(spec, signature)` drops outputs, Funcs, updates,
where-predicates, schedule entries and directives, halves the output size, and replaces
subexpressions by their same-typed children or by constants, keeping each step only while the
signature stays the same (a step that makes the source invalid changes the signature, so it is
never kept; a failure that raises must keep its message too, names and numbers aside).
`program(spec)` prints a Spec as a Python program, run from the repository root, that rebuilds
the case and fails as the fuzzer saw it fail. `compiled(built)` compiles from the lowering and C
that `cases.with_schedule` kept.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import codegen.compile as compile_module
from codegen.c_emit import emit_c
from codegen.compile import CompiledPipeline, compile
from pipelines.func import DefinitionError
from pipelines.interpret import interpret
from pipelines.pipeline import Pipeline
from pipelines.types import IRTypeError
from scheduler.lower import Lowering, lower
from scheduler.schedule import Schedule, ScheduleError
from tests.fuzz import overflow
from tests.fuzz.cases import Built, build, definitions, live_parts
from tests.fuzz.gen import FLOAT_RTOL, IMAGE_SOURCE, E, FuncSpec, Spec, const
from tests.helpers import as_tuple, assert_same

# ---------------------------------------------------------------- checking


_compiling = threading.local()  # .built: the Built whose kept lowering this thread's compile may use


def _lower_kept(pipeline: Pipeline, schedule: Schedule | None = None, debug: int | None = None) -> Lowering:
    built = getattr(_compiling, "built", None)
    if built is not None and built.lowered is not None and pipeline is built.pipeline and schedule is built.schedule:
        return built.lowered
    return lower(pipeline, schedule, debug)


def _emit_kept(lowering: Lowering) -> str:
    built = getattr(_compiling, "built", None)
    if built is not None and built.c_source is not None and lowering is built.lowered:
        return built.c_source
    return emit_c(lowering)


def compiled(built: Built) -> CompiledPipeline:
    """`compile(built.pipeline, built.schedule)`, taking the lowering and C that `with_schedule`
    kept instead of computing them again (lowering is deterministic: the same objects give the
    same C). `codegen.compile` reads `lower` and `emit_c` through routes installed once per
    process, which return the kept ones only for this thread's `built` and call the real passes
    for anything else."""
    if built.lowered is None:
        return compile(built.pipeline, built.schedule)
    if compile_module.lower is not _lower_kept or compile_module.emit_c is not _emit_kept:
        compile_module.lower, compile_module.emit_c = _lower_kept, _emit_kept
    _compiling.built = built
    try:
        return compile(built.pipeline, built.schedule)
    finally:
        _compiling.built = None


def outcome(built: Built, binary: CompiledPipeline | BaseException | None = None) -> str | None:
    """None when compiled and interpreted results agree; else a signature of the failure:
    `mismatch <output>`, or `<phase> <ExceptionType>` where phase is compile or call. `binary`
    is the compiled pipeline (or the exception compiling raised), compiled here when None."""
    want = as_tuple(interpret(built.pipeline, shape=built.shape, **built.inputs))
    if binary is None:
        try:
            binary = compiled(built)
        except (ScheduleError, IRTypeError, DefinitionError, ValueError, RuntimeError, MemoryError) as e:
            binary = e
    if isinstance(binary, BaseException):
        return f"compile {type(binary).__name__}"
    try:
        got = as_tuple(binary(shape=built.shape, **built.inputs))
    except (ValueError, TypeError, RuntimeError, MemoryError) as e:
        if isinstance(e, ValueError) and overflow.REFUSAL in str(e) and overflow.index_wraps(built):
            built.refused = True
            return None
        return f"call {type(e).__name__}"
    for f, g, w in zip(built.pipeline.outputs, got, want, strict=True):
        try:
            assert_same(g, w, FLOAT_RTOL, what=f.name)
        except AssertionError:
            return f"mismatch {f.name.removeprefix(built.prefix)}"
    return None


def describe(built: Built, binary: CompiledPipeline | BaseException | None = None) -> str:
    """What went wrong, in words (the assertion or exception text)."""
    try:
        want = as_tuple(interpret(built.pipeline, shape=built.shape, **built.inputs))
        if binary is None:
            binary = compiled(built)
        if isinstance(binary, BaseException):
            raise binary
        got = as_tuple(binary(shape=built.shape, **built.inputs))
        for f, g, w in zip(built.pipeline.outputs, got, want, strict=True):
            assert_same(g, w, FLOAT_RTOL, what=f.name)
    except Exception as e:  # noqa: BLE001 - reported, whatever it is
        return f"{type(e).__name__}: {e}"
    return "no failure"


# ---------------------------------------------------------------- shrinking


def _replace_nodes(e: E, keep: Callable[[E], E | None]) -> E:
    """`e` with each node for which `keep` returns a replacement replaced (outermost first)."""
    new = keep(e)
    if new is not None:
        return new
    if not e.kids:
        return e
    kids = tuple(_replace_nodes(k, keep) for k in e.kids)
    return e if kids == e.kids else replace(e, kids=kids)


def _drop_func(spec: Spec, name: str) -> Spec:
    gone = next(f for f in spec.funcs if f.name == name)
    cut = lambda n: const(gone.dtype) if n.ref == name else None  # noqa: E731

    def clean(f: FuncSpec) -> FuncSpec:
        stmts = tuple(_replace_nodes(s, cut) for s in f.stmts)
        rdoms = tuple(replace(r, where=_replace_nodes(r.where, cut)) if r.where else r for r in f.rdoms)
        return replace(f, stmts=stmts, rdoms=rdoms)

    funcs = tuple(clean(f) for f in spec.funcs if f.name != name)
    outputs = tuple(o for o in spec.outputs if o != name)
    return replace(spec, funcs=funcs, outputs=outputs)


def _schedule_variants(spec: Spec) -> Iterator[Spec]:
    if spec.schedule is None:
        return
    data = json.loads(spec.schedule)
    funcs = data["funcs"]

    def with_funcs(new: dict[str, Any]) -> Spec:
        return replace(spec, schedule=json.dumps({"saline_schedule": 1, "funcs": new}, indent=1, sort_keys=True))

    yield replace(spec, schedule=None)
    for name in funcs:
        yield with_funcs({k: v for k, v in funcs.items() if k != name})
    for name, entry in funcs.items():
        for part in ("compute", "store"):
            if part in entry:
                yield with_funcs({**funcs, name: {k: v for k, v in entry.items() if k != part}})
        for stage, directives in entry.get("stages", {}).items():
            for i in range(len(directives)):
                stages = {**entry["stages"], stage: directives[:i] + directives[i + 1 :]}
                yield with_funcs({**funcs, name: {**entry, "stages": stages}})


def _expr_variants(spec: Spec) -> Iterator[Spec]:
    for fi, f in enumerate(spec.funcs):
        for si, stmt in enumerate(f.stmts):
            for node in stmt.nodes():
                if node.dtype is None:
                    continue
                options = [k for k in node.kids if k.dtype == node.dtype]
                if node.fmt != const(node.dtype).fmt:
                    options.append(const(node.dtype))
                for new in options:
                    changed = _replace_nodes(stmt, lambda n, node=node, new=new: new if n is node else None)
                    stmts = f.stmts[:si] + (changed,) + f.stmts[si + 1 :]
                    yield replace(spec, funcs=spec.funcs[:fi] + (replace(f, stmts=stmts),) + spec.funcs[fi + 1 :])


def variants(spec: Spec) -> Iterator[Spec]:
    """Smaller Specs, biggest cuts first."""
    live = {f.name for f in live_parts(spec)[0]}
    spec = replace(spec, funcs=tuple(f for f in spec.funcs if f.name in live))
    if len(spec.outputs) > 1:
        for o in spec.outputs:
            yield replace(spec, outputs=tuple(p for p in spec.outputs if p != o))
    for f in spec.funcs:
        if f.name not in spec.outputs:
            yield _drop_func(spec, f.name)
    for fi, f in enumerate(spec.funcs):
        for si in range(1, len(f.stmts)):
            yield replace(
                spec,
                funcs=spec.funcs[:fi] + (replace(f, stmts=f.stmts[:si] + f.stmts[si + 1 :]),) + spec.funcs[fi + 1 :],
            )
        for ri, r in enumerate(f.rdoms):
            if r.where is not None:
                rdoms = f.rdoms[:ri] + (replace(r, where=None),) + f.rdoms[ri + 1 :]
                yield replace(spec, funcs=spec.funcs[:fi] + (replace(f, rdoms=rdoms),) + spec.funcs[fi + 1 :])
    yield from _schedule_variants(spec)
    yield from _expr_variants(spec)
    if len(spec.inputs) and spec.out_shape != tuple(1 for _ in spec.out_shape):
        yield replace(spec, out_shape=tuple(max(1, (n + 1) // 2) for n in spec.out_shape))


def _template(message: str) -> str:
    """An error message with quoted names and numbers masked: which error it is, not where."""
    return re.sub(r"\d+", "N", re.sub(r"'[^']*'", "'_'", message))


def signature_of(spec: Spec, detailed: bool = False) -> str | None:
    """The failure signature of `spec` built afresh (a definition the language refuses counts as
    `build <Error>`, so a shrink step that makes the source invalid is never taken). With
    `detailed`, a failure that raises (build, compile, call) also carries its message with names
    and numbers masked (`_template`)."""
    try:
        built = build(spec)
    except (IRTypeError, DefinitionError, ScheduleError, TypeError, ValueError) as e:
        return f"build {type(e).__name__}: {_template(str(e))}" if detailed else f"build {type(e).__name__}"
    signature = outcome(built)
    if detailed and signature is not None and not signature.startswith("mismatch"):
        return f"{signature}: {_template(describe(built))}"
    return signature


def shrink(spec: Spec, signature: str, budget: int = 400) -> Spec:
    """A smaller Spec failing with the same signature: greedy, first improvement, at most `budget` tries.

    A failure that raises must keep its message too (names and numbers aside): a shrink step that
    drops a split but keeps a fuse of its loops raises another ScheduleError, and that is not the
    failure being reduced."""
    target, detailed = signature, False
    if not signature.startswith("mismatch"):
        full = signature_of(spec, detailed=True)
        if full is not None and full.startswith(f"{signature}: "):
            target, detailed = full, True
    tries = 0
    improved = True
    while improved and tries < budget:
        improved = False
        for candidate in variants(spec):
            tries += 1
            if tries > budget:
                break
            if signature_of(candidate, detailed) == target:
                spec, improved = candidate, True
                break
    return spec


def program(spec: Spec, note: str = "") -> str:
    """A standalone Python program (run from the repository root) that rebuilds `spec`, runs it
    compiled and interpreted, and fails as the fuzzer saw it fail."""
    prefix = f"s{spec.seed}_"
    body = definitions(spec).replace("@", prefix)
    header = [
        f'"""Saline fuzz case, seed {spec.seed}{": " + note if note else ""}.',
        "",
        "Run from the repository root: PYTHONPATH=. python this_file.py",
        '"""',
        "import numpy as np",
        "from pipelines import *",
        "from pipelines.interpret import interpret",
        "from codegen.compile import compile",
        "from scheduler.schedule import Schedule",
        IMAGE_SOURCE.strip(),
        f'PREFIX = "{prefix}"',
    ]
    check = [
        "want = interpret(pipeline, shape=shape, **inputs)",
        "got = compile(pipeline, schedule)(shape=shape, **inputs)",
        "want, got = (want, got) if isinstance(want, tuple) else ((want,), (got,))",
        "for w, g in zip(want, got):",
        '    if w.dtype.kind == "f":',
        f"        np.testing.assert_allclose(g, w, rtol={FLOAT_RTOL}, atol=0)",
        "    else:",
        "        np.testing.assert_array_equal(g, w)",
    ]
    return "\n".join([*header, body, *check]) + "\n"


def report(small: Spec, signature: str) -> str:
    """What goes wrong in `small`, and the program that shows it."""
    text = describe(build(small))
    return f"{signature}\n{text}\n\n# --- repro (run from the repository root) ---\n{program(small, signature)}"


def failure_report(spec: Spec, signature: str, shrink_budget: int = 400) -> str:
    """The shrunk case as a program, with what goes wrong."""
    return report(shrink(spec, signature, shrink_budget), signature)


__all__ = [
    "compiled",
    "describe",
    "failure_report",
    "outcome",
    "program",
    "report",
    "shrink",
    "signature_of",
    "variants",
]
