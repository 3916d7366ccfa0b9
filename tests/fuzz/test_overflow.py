"""The fuzzer's oracle for refused calls: a compiled pipeline refuses int32 index arithmetic that
would wrap, and the refusal passes only when the interpreter's own values show such a wrap."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.compile import compile
from pipelines import Func, Pipeline, Var, cast, clamp
from pipelines.types import int32
from scheduler.schedule import Schedule
from tests.fuzz import cases, check, overflow

x = Var("x")


def _table_read(offset: int, name: str) -> Pipeline:
    lut, out = Func(f"{name}_lut"), Func(name)
    lut[x] = x * 10
    out[x] = lut[clamp(x + offset, 0, 15)]
    return Pipeline(out)


def test_a_wrapping_index_is_refused_and_the_interpreter_confirms_the_wrap() -> None:
    """Seeds 2002430, 2005694, 2010296, 2013551 and 2034994 had this form."""
    pipeline = _table_read(2147483647, "wrap_refused")
    s = Schedule()
    s[pipeline.funcs[0]].compute_root()
    with pytest.raises(ValueError, match=overflow.REFUSAL):
        compile(pipeline, s)(shape=(3,))
    assert overflow.wraps_at(pipeline, (3,), {})


def test_an_index_near_the_limit_that_does_not_wrap_is_not_confirmed() -> None:
    # x + 2147483644 for x in [0, 2] reaches 2147483646: it fits, the clamp gives 15
    pipeline = _table_read(2147483644, "wrap_fits")
    assert not overflow.wraps_at(pipeline, (3,), {})
    np.testing.assert_array_equal(compile(pipeline)(shape=(3,)), [150, 150, 150])


def test_wrapping_value_arithmetic_is_not_an_index_wrap() -> None:
    f = Func("wrap_value")
    f[x] = x + cast(int32, 2147483647)
    assert not overflow.wraps_at(Pipeline(f), (3,), {})


@pytest.mark.parametrize("seed", [2002430, 2034994])
def test_fuzz_seeds_refused_for_wrapping_indices_pass_as_confirmed_refusals(seed: int) -> None:
    """2034994 wraps only at RDom points its `where` predicate skips: the compiled domain."""
    _, built = cases.case(seed)
    assert check.outcome(built) is None
    assert built.refused
