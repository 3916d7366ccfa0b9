"""Saline: Halide-style image pipelines for Python, compiled to multicore C.

The public API in one namespace: the pipeline language (everything in `pipelines.__all__`),
the reference interpreter, schedules, the compiler, image input/output and the standard filters.

    import saline as sl
    x, y, c = sl.Var("x"), sl.Var("y"), sl.Var("c")
    im = sl.ImageParam(sl.float32, 3, "input")
    f = sl.Func("brighter")
    f[x, y, c] = sl.min(im[x, y, c] * 1.5, 1.0)
    img = sl.load_image("images/chelsea.png")              # (3, H, W): f[x, y, c] <-> img[c, y, x]
    out = sl.compile(sl.Pipeline(f))(shape=img.shape, input=img)
"""

import pipelines as _pipelines
from codegen.compile import CompiledPipeline, compile
from pipelines import *  # noqa: F403 - the language is re-exported whole
from pipelines import filters
from pipelines.autodiff import GradientError, grad
from pipelines.interpret import interpret
from saline.io import load_image, save_image
from scheduler.schedule import Schedule, ScheduleError

__all__ = [
    *_pipelines.__all__,
    "CompiledPipeline",
    "GradientError",
    "compile",
    "filters",
    "grad",
    "interpret",
    "load_image",
    "save_image",
    "Schedule",
    "ScheduleError",
]
