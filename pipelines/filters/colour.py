"""Colour matrix: out[c] = sum_j m[c][j] in[j] + offset[c], with the 12 numbers as Params
(learnable; identity by default). Not clamped, so a fitted matrix sees its true residuals."""

from __future__ import annotations

from pipelines.expr import Expr, Param
from pipelines.filters.common import Filter, c, colour_input, same_box, x, y
from pipelines.func import Func
from pipelines.ops import select
from pipelines.pipeline import Pipeline
from pipelines.types import float32


def colour_matrix() -> Filter:
    """3x3 colour matrix plus offset; params m<row><col> and offset<row>, rows are outputs."""
    image = colour_input()
    m = [[Param(float32, f"m{r}{k}", 1.0 if r == k else 0.0) for k in range(3)] for r in range(3)]
    offset = [Param(float32, f"offset{r}", 0.0) for r in range(3)]
    rows: list[Expr] = [
        m[r][0] * image[x, y, 0] + m[r][1] * image[x, y, 1] + m[r][2] * image[x, y, 2] + offset[r] for r in range(3)
    ]
    out = Func("colour_matrix")
    out[x, y, c] = select(c <= 0, rows[0], c <= 1, rows[1], rows[2])
    return Filter(
        "colour_matrix",
        "3x3 colour matrix plus offset (identity by default); needs RGB",
        Pipeline(out, [same_box(image)]),
        image,
        (*(p for row in m for p in row), *offset),
    )
