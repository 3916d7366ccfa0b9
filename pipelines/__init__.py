"""The algorithm language of Saline: expressions, Funcs, inputs, boundary conditions, the
numpy reference interpreter and the standard filters. Nothing here knows about schedules or C."""

from pipelines.boundary import constant_exterior, mirror_image, mirror_interior, repeat_edge
from pipelines.expr import Expr, Param, RVar, Var, cast, eq, ne
from pipelines.func import DefinitionError, Func, ImageParam, RDom
from pipelines.ops import (
    abs,
    ceil,
    clamp,
    cos,
    exp,
    floor,
    lerp,
    log,
    max,
    maximum,
    min,
    minimum,
    pow,
    round,
    select,
    sin,
    sqrt,
    sum,
    tanh,
)
from pipelines.pipeline import Pipeline
from pipelines.types import (
    DType,
    IRTypeError,
    bool_,
    float32,
    float64,
    int8,
    int16,
    int32,
    uint8,
    uint16,
    uint32,
)

__all__ = [
    "DType", "DefinitionError", "Expr", "Func", "IRTypeError", "ImageParam", "Param", "Pipeline",
    "RDom", "RVar", "Var", "abs", "bool_", "cast", "ceil", "clamp", "constant_exterior", "cos",
    "eq", "exp", "float32", "float64", "floor", "int8", "int16", "int32", "lerp", "log", "max",
    "maximum", "min", "minimum", "mirror_image", "mirror_interior", "ne", "pow", "repeat_edge",
    "round", "select", "sin", "sqrt", "sum", "tanh", "uint8", "uint16", "uint32",
]
