"""3x3 median of each channel, by sorting columns of 3 and merging them (no data-dependent
branches, so it vectorizes).

With each column of 3 sorted into (low, mid, high), the median of the 9 values is the median of
(the largest low, the median of the mids, the smallest high): the classic 19-comparison network.
The input is read through `repeat_edge` (OpenCV's `medianBlur` border, BORDER_REPLICATE).
"""

from __future__ import annotations

from pipelines.boundary import repeat_edge
from pipelines.expr import Expr
from pipelines.filters.common import Filter, c, colour_input, same_box, x, y
from pipelines.func import Func
from pipelines.ops import max, min
from pipelines.pipeline import Pipeline


def _median3(a: Expr, b: Expr, c_: Expr) -> Expr:
    return max(min(a, b), min(max(a, b), c_))


def median3x3() -> Filter:
    """Median of the 3x3 neighbourhood, per channel."""
    image = colour_input()
    clamped = repeat_edge(image)
    up, mid, down = clamped[x, y - 1, c], clamped[x, y, c], clamped[x, y + 1, c]
    col_low, col_mid, col_high = Func("col_low"), Func("col_mid"), Func("col_high")
    col_low[x, y, c] = min(up, mid, down)
    col_mid[x, y, c] = _median3(up, mid, down)
    col_high[x, y, c] = max(up, mid, down)
    out = Func("median")
    out[x, y, c] = _median3(
        max(col_low[x - 1, y, c], col_low[x, y, c], col_low[x + 1, y, c]),
        _median3(col_mid[x - 1, y, c], col_mid[x, y, c], col_mid[x + 1, y, c]),
        min(col_high[x - 1, y, c], col_high[x, y, c], col_high[x + 1, y, c]),
    )
    return Filter("median3x3", "3x3 median of each channel", Pipeline(out, [same_box(image)]), image)
