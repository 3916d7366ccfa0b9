"""The `saline` command line: run, list, inspect and demonstrate the standard filters.

    saline demo [--out DIR] [--repeat N]        filters on the bundled photographs, timed, with a
                                                contact sheet of the results
    saline run FILTER INPUT -o OUTPUT [--param NAME=VALUE ...] [--threads N] [--schedule hand|default]
    saline filters                              the filters, their descriptions and params
    saline show FILTER [--c]                    the compiled loop nest (or the C source)
    saline bench [--suite S] [--size WxH] ...   Saline beside its peers (`python -m bench --help`)

User mistakes (unknown filter or param, bad --param syntax, unreadable input) print one line to
stderr and exit with status 2; set SALINE_DEBUG=1 to get the traceback instead.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

import saline
from bench import harness as bench_harness
from pipelines.expr import Param
from pipelines.filters import FILTERS, Filter
from saline.hand_schedules import hand_schedule
from saline.io import SAVE_EXTENSIONS, load_image, save_image
from saline.sheet import contact_sheet
from scheduler.schedule import Schedule

DEMO_FILTERS = (
    "gaussian_blur",
    "unsharp_mask",
    "sobel",
    "median3x3",
    "equalize_histogram",
    "brightness_contrast_gamma",
)  # not yet the bilateral grid, local Laplacian or interpolate: their hand schedules lower slowly
MISMATCH_TOLERANCE = 1e-3


class CliError(Exception):
    """A user mistake, reported as one line on stderr with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """Reports usage mistakes as a CliError (one line) instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------- shared pieces


def _filter(name: str) -> Filter:
    builder = FILTERS.get(name)
    if builder is None:
        raise CliError(f"unknown filter {name!r}; choose one of: {', '.join(FILTERS)}")
    return builder()


def _parse_value(p: Param, text: str) -> bool | int | float:
    t = p.dtype
    try:
        if t.is_bool:
            words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
            return words[text.strip().lower()]
        if t.is_int:
            value = int(text, 0)
            if not t.can_represent(value):
                raise CliError(f"--param {p.name}={text}: {value} does not fit {t}")
            return value
        return float(text)
    except (KeyError, ValueError):
        raise CliError(f"--param {p.name}={text}: expected a {t} value") from None


def _parse_params(f: Filter, items: Sequence[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name or not text.strip():
            raise CliError(f"--param {item!r}: expected NAME=VALUE, for example --param sigma=2.0")
        known = {p.name: p for p in f.params}
        if name not in known:
            params = ", ".join(known) or "none"
            raise CliError(f"filter {f.name!r} has no param {name!r} (its params: {params})")
        values[name] = _parse_value(known[name], text)
    return values


def _colour(image: np.ndarray) -> np.ndarray:
    """The filters take 3 channels: a grey (H, W) image is repeated into (3, H, W)."""
    if image.ndim == 2:
        return np.ascontiguousarray(np.broadcast_to(image, (3, *image.shape)))
    return image


def _load(path: str | Path) -> np.ndarray:
    try:
        return _colour(load_image(path))
    except (OSError, ValueError, TypeError) as err:
        raise CliError(str(err)) from None


def _check_output_path(path: str | Path) -> None:
    suffix = Path(path).suffix.lower()
    if suffix not in SAVE_EXTENSIONS:
        raise CliError(f"{path}: cannot tell the format from the extension; use one of {', '.join(SAVE_EXTENSIONS)}")


def _save(path: str | Path, image: np.ndarray) -> None:
    try:
        save_image(path, image)
    except (OSError, ValueError, TypeError) as err:
        raise CliError(str(err)) from None


def _median_seconds(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


# ---------------------------------------------------------------- commands


def _schedule(f: Filter, which: str) -> Schedule | None:
    return hand_schedule(f) if which == "hand" else None


def _input_for(f: Filter, image: np.ndarray) -> np.ndarray:
    """The filter's input made from a photograph (a Bayer mosaic for the camera pipe, ...)."""
    return f.prepare(image) if f.prepare is not None else image


def cmd_filters(args: argparse.Namespace) -> int:
    for name, builder in FILTERS.items():
        f = builder()
        kind = "" if f.input_kind == "rgb" else f" [input: {f.input_kind}, made from a photograph]"
        print(f"{name:<28}{f.description}{kind}")
        for p in f.params:
            print(f"{'':<4}{p.name}: {p.dtype} = {p.default}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    f = _filter(args.filter)
    compiled = saline.compile(f.pipeline, _schedule(f, args.schedule))
    print(compiled.c_source if args.c else compiled.loop_nest)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    f = _filter(args.filter)
    params = _parse_params(f, args.param)
    _check_output_path(args.output)
    image = _input_for(f, _load(args.input))
    shape = f.output_shape(image.shape, params)
    if args.interpret:
        result = saline.interpret(f.pipeline, shape=shape, input=image, **params)
    else:
        compiled = saline.compile(f.pipeline, _schedule(f, args.schedule), threads=args.threads)
        result = compiled(shape=shape, input=image, **params)
    _save(args.output, result)
    print(f"{f.name}: wrote {args.output} ({shape[-1]}x{shape[-2]})")
    return 0


def images_dir() -> Path:
    """The bundled photographs: `images/` beside the packages (a checkout or an editable
    install), else `saline/images/` (an installed wheel that ships them as package data)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "images", here / "images"):
        if any(candidate.glob("*.png")):
            return candidate
    raise CliError(f"no bundled images found in {here.parent / 'images'}; pass --images DIR")


def _demo_row(cells: Sequence[str]) -> str:
    widths = (26, 12, 10, 11, 13, 13, 9, 10)
    return "  ".join(f"{c:>{w}}" if i >= 2 else f"{c:<{w}}" for i, (c, w) in enumerate(zip(cells, widths)))


def cmd_demo(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        raise CliError(f"--repeat must be at least 1, got {args.repeat}")
    names = args.filter or list(DEMO_FILTERS)
    for name in names:
        _filter(name)
    folder = Path(args.images) if args.images else images_dir()
    paths = sorted(folder.glob("*.png"))
    if not paths:
        raise CliError(f"{folder}: no .png images")
    images = {p.stem: _load(p) for p in paths}
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CliError(f"{out}: cannot create the output folder: {err.strerror or err}") from None
    print(f"median of {args.repeat} run(s); threads: {args.threads or os.environ.get('SALINE_NUM_THREADS', 'all')}")
    header = ("filter", "image", "size", "compile s", "interpret ms", "compiled ms", "speed-up", "max |diff|")
    print(_demo_row(header))
    print(_demo_row(["-" * 26, "-" * 12, "-" * 10, "-" * 11, "-" * 13, "-" * 13, "-" * 9, "-" * 10]))
    mismatches = 0
    sheet_rows: list[list[np.ndarray]] = [[image] for image in images.values()]
    sheet_labels: list[list[str]] = [[stem] for stem in images]
    for name in names:
        f = _filter(name)
        start = time.perf_counter()
        compiled = saline.compile(f.pipeline, hand_schedule(f), threads=args.threads)
        compile_s = time.perf_counter() - start
        for i, (stem, photo) in enumerate(images.items()):
            image = _input_for(f, photo)
            shape = f.output_shape(image.shape)
            run_interpreter = functools.partial(saline.interpret, f.pipeline, shape=shape, input=image)
            t_interp, expected = _median_seconds(run_interpreter, args.repeat)
            t_comp, got = _median_seconds(functools.partial(compiled, shape=shape, input=image), args.repeat)
            diff = float(np.max(np.abs(got.astype(np.float64) - expected))) if got.size else 0.0
            mismatches += not diff <= MISMATCH_TOLERANCE
            _save(out / f"{stem}_{name}.png", got)
            sheet_rows[i].append(got)
            sheet_labels[i].append(name)
            cells = [
                name if i == 0 else "",
                stem,
                f"{shape[-1]}x{shape[-2]}",
                f"{compile_s:.2f}" if i == 0 else "",
                f"{t_interp * 1e3:.1f}",
                f"{t_comp * 1e3:.2f}",
                f"{t_interp / t_comp:.1f}x" if t_comp > 0 else "-",
                f"{diff:.1e}" + ("" if diff <= MISMATCH_TOLERANCE else " MISMATCH"),
            ]
            print(_demo_row(cells), flush=True)
    sheet = out / "contact_sheet.png"
    _save(sheet, np.moveaxis(contact_sheet(sheet_rows, sheet_labels), -1, 0))
    print(f"wrote {len(names) * len(images)} images and the contact sheet {sheet} to {out}")
    if mismatches:
        print(f"saline: error: {mismatches} result(s) differ from the interpreter by more than {MISMATCH_TOLERANCE}")
        return 1
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    return bench_harness.main(args.args)


# ---------------------------------------------------------------- parser


def _threads(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of threads, got {text!r}")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="saline", description="Halide-style image pipelines compiled to C.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser("demo", help="run the standard filters on the bundled photographs, timed")
    demo.add_argument("--out", default="saline-demo", help="folder for the result PNGs (default: ./saline-demo)")
    demo.add_argument("--repeat", type=int, default=3, help="runs per timing; the median is shown (default: 3)")
    demo.add_argument("--threads", type=_threads, help="threads for compiled code (default: SALINE_NUM_THREADS or all)")
    demo.add_argument("--images", help="folder of .png images to use instead of the bundled ones")
    demo.add_argument(
        "--filter", action="append", metavar="NAME", help="run only this filter (repeatable; default: a selection)"
    )
    demo.set_defaults(handler=cmd_demo)

    run = sub.add_parser("run", help="apply one filter to an image file")
    run.add_argument("filter", metavar="FILTER")
    run.add_argument("input", metavar="INPUT")
    run.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="result image (.png, .jpg)")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="set a param (repeatable)")
    run.add_argument("--threads", type=_threads, help="threads (default: SALINE_NUM_THREADS or all)")
    run.add_argument("--interpret", action="store_true", help="use the numpy reference interpreter, not compiled code")
    run.add_argument(
        "--schedule", choices=("hand", "default"), default="hand", help="the filter's hand schedule (default) or none"
    )
    run.set_defaults(handler=cmd_run)

    listing = sub.add_parser("filters", help="list the standard filters and their params")
    listing.set_defaults(handler=cmd_filters)

    show = sub.add_parser("show", help="print a filter's compiled loop nest")
    show.add_argument("filter", metavar="FILTER")
    show.add_argument("--c", action="store_true", help="print the generated C instead")
    show.add_argument("--schedule", choices=("hand", "default"), default="hand", help="which schedule to lower with")
    show.set_defaults(handler=cmd_show)

    # prefix_chars="+": every argument after `bench`, options included, goes to the harness as is
    bench = sub.add_parser(
        "bench", help="benchmarks beside the peers (python -m bench)", prefix_chars="+", add_help=False
    )
    bench.add_argument("args", nargs=argparse.REMAINDER, help="arguments of python -m bench")
    bench.set_defaults(handler=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default: sys.argv[1:]); returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except CliError as err:
        if os.environ.get("SALINE_DEBUG", "0").strip() not in ("", "0"):
            raise
        print(f"saline: error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        print("saline: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`saline show NAME --c | head`): stop quietly, as other tools in a
        # pipe do; stdout then points at devnull, so that the flush at exit does not fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141  # a shell's status for a process ended by SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
