"""Hand schedules of the standard filters, after Halide's published manual schedules.

`hand_schedule(f)` returns a fresh Schedule for the Filter `f` (by `f.name`), naming its Funcs
and loop variables by name. Most follow the CPU schedule of the Halide app they come from
(tiles or row strips in parallel, the innermost dimension vectorized by 8 or 16 floats, stencil
producers computed inside the strips), adapted where Saline lacks a directive:

- no sliding window or storage folding: where Halide stores a producer per strip and computes
  it per row (`store_at(out, yo).compute_at(out, yi)`), it is computed per strip
  (`compute_at(out, yo)`), which costs a halo of a few rows per strip instead of a recompute
  of every row's window;
- no `clone_in`, `compute_with`, `reorder_storage`: left out.

Where a different structure measured faster, the schedule says so and why: local_laplacian is
the automatic schedule with its output in parallel strips of rows and its remap table inlined
(a vector exp per pixel instead of lane-by-lane table reads), interpolate computes each
pyramid pass once at root, where Halide inlines and recomputes them, camera_pipe inlines the
colour correction into the tone curve's lookups, bilateral_grid slices its grid once per
row for all four channels, and median3x3 sorts its columns in registers, inlined.

A filter without an entry gets an empty schedule (the default: inline all, outputs at root).
"""

from __future__ import annotations

from collections.abc import Callable

from pipelines.filters import Filter
from scheduler.auto import auto_schedule
from scheduler.schedule import Schedule

VECTOR = 8  # float32 lanes of an AVX2 register
# two AVX2 registers, whose instructions gcc interleaves (the C asks for this width with simdlen):
# the independent chains hide each other's latency. Used where it measured faster at 2560x1536
# with 2 threads, in one process against VECTOR: brightness_contrast_gamma 48 -> 33 ms,
# gaussian_blur 48 -> 39, median3x3 21 -> 18, box_blur 20 -> 18.5, harris 15 -> 14,
# resize_bilinear 12.5 -> 11.4, interpolate 48.8 -> 45.0, camera_pipe 25.6 -> 23.1 (32 lanes
# of 16-bit values there), sobel 8.8 -> 8.4 in one run and equal in another; equalize_histogram
# (22 -> 24.5) and resize_bicubic (16.4 -> 17.6) were slower, the others within noise.
WIDE = 16
# four AVX-512 registers: where every vector of x also pays for the test that picks its
# clamp-free version (scheduler.version_clamps) and its loop's bookkeeping, a wider vector pays
# it a quarter as often and keeps more loads in flight. Measured at 2560x1536 with 2 threads, in
# one process against WIDE: median3x3 (its columns then per row) 23.2 -> 15.8 ms and 19.4 ->
# 14.2 in another run (32 lanes 16.8, 128 lanes 15.0), sobel 9.1 -> 8.6 and 8.4 -> 8.0,
# box_blur 10.1 -> 8.4, interpolate 39.6 -> 35.0, camera_pipe (16-bit lanes; 32 before) 17.6 ->
# 16.0; harris, gaussian_blur, unsharp_mask, equalize_histogram, the resizes, colour_matrix and
# bilateral_grid within noise or slower (one sweep of 32 and 64 lanes), and
# brightness_contrast_gamma 20 -> 29.5 ms at 32.
ROW = 64
STRIP = 32  # rows per parallel strip


def _strips(s: Schedule, name: str, rows: int = STRIP, channels: bool = True, lanes: int = VECTOR) -> None:
    """Rows of `name` in parallel strips, x vectorized; channels (when the Func has a `c`)
    inside each strip, so producers computed per strip serve all channels."""
    stage = s[name]
    if channels:
        stage.reorder("x", "c", "y")
    stage.split("y", "yo", "yi", rows).parallel("yo").vectorize("x", lanes)


def _root_rows(s: Schedule, name: str, rows: int = STRIP, x: str = "x", y: str = "y", lanes: int = VECTOR) -> None:
    """Halide's `compute_root().parallel(y, rows).vectorize(x, 8)`."""
    s[name].compute_root().split(y, "yo", "yi", rows).parallel("yo").vectorize(x, lanes)


def _channels_in_vectors(s: Schedule, name: str, lanes: int = WIDE, group: int = 3, rows: int = STRIP) -> None:
    """Rows of the output `name` in parallel strips, its channels in groups of `group` (RGB's 3
    by default) unrolled inside each vector of x: what the channels share (a pixel's inputs, a
    value copied to each channel) is loaded or computed once per vector. Written around the
    caches (`stream`). Groups, not a bound: other channel counts still run (the split's tail)."""
    stage = s[name].split("c", "co", "ci", group).split("x", "xo", "xi", lanes).split("y", "yo", "yi", rows)
    stage.reorder("ci", "xi", "xo", "yi", "yo", "co").unroll("ci").vectorize("xi").parallel("yo").stream()


def _colour_matrix(f: Filter) -> Schedule:
    """Halide's: the 3 channels unrolled inside each vector of x, so each pixel's 3 input values
    are loaded once for all 3 outputs, in parallel strips of rows; the output streamed (written
    around the caches). Measured at 2560x1536 with 2 threads in one process, against the channels
    outside the vector (each output re-reading the 3 inputs) with 8 lanes: 4.17 -> 2.58 ms
    (Halide 2.58); streamed with the channels outside, 3.71."""
    s = Schedule()
    out = f.output.name
    _channels_in_vectors(s, out)
    return s


def _pointwise(f: Filter) -> Schedule:
    # streamed: the output (47 MB at 2560x1536x3) is written around the caches, which saves
    # reading each of its lines in first; with 2 threads in one process 9.99 -> 7.40 ms and
    # 12.5 -> 11.4 in another run (brightness_contrast_gamma)
    s = Schedule()
    _strips(s, f.output.name, channels=False, lanes=WIDE)
    s[f.output.name].stream()
    return s


def _edge_at_root(s: Schedule, f: Filter, lanes: int = VECTOR) -> None:
    """The input's repeat_edge Func computed once at root, in parallel strips: the stencils then
    read plain rows instead of clamping every tap's coordinates. gaussian_blur's taps loop over
    an RDom, whose clamped reads stay gathers (2.3x slower inlined, at 2560x1536); box_blur and
    median3x3 read the input in vector loops over x, whose interior vectors run without clamps
    (scheduler.version_clamps), so for them the extra pass costs more than it saves (0.6-0.8x
    without it). Its name is made unique per process, so it is looked up."""
    (edge,) = (g for g in f.pipeline.funcs if g.name.startswith(f"{f.input.name}_repeat_edge"))
    x, y = (v.name for v in edge.definitions[0].args[:2])
    _root_rows(s, edge.name, x=x, y=y, lanes=lanes)


def _box_blur(f: Filter) -> Schedule:
    s = Schedule()
    _strips(s, "blur_y", lanes=ROW)
    s["blur_x"].compute_at("blur_y", "yo").vectorize("x", ROW)
    return s


def _rvars(f: Filter, name: str) -> list[str]:
    """The RVars of Func `name`'s first update, innermost first. RDom names are made unique per
    process (`r` may be `r_4`), so schedules look them up instead of spelling them."""
    (func,) = (g for g in f.pipeline.funcs if g.name == name)
    return [r.name for r in func.updates[0].rvars]


def _gaussian(f: Filter) -> Schedule:
    # blur_y's reduction is an update stage, whose loops no producer can be computed inside:
    # blur_x at root, both stages of each in parallel rows with the taps loop outside x.
    s = Schedule()
    _edge_at_root(s, f, lanes=WIDE)
    for name in ("blur_x", "blur_y"):
        (taps,) = _rvars(f, name)
        s[name].compute_root().split("y", "yo", "yi", STRIP).parallel("yo").vectorize("x", WIDE)
        update = s[name].update(0).reorder("x", taps, "y", "c")
        update.split("y", "yo", "yi", STRIP).parallel("yo").vectorize("x", WIDE)
    return s


def _unsharp(f: Filter) -> Schedule:
    # Halide's apps/unsharp computes grey and the x blur per strip of the output, the rest
    # inlined. Here every stage is at root in parallel 32-row strips (the blurs' taps loop
    # outside x, as in _gaussian): measured at 2560x1536 with 2 threads, 160-210 ms against
    # 250-290 ms for the per-strip form, which also takes 4x longer to lower. 16 lanes: 21.0 ->
    # 20.2, 21.1 -> 20.4 and 22.2 -> 20.3 ms against 8 (three runs, each in one process; 32 and
    # 64 lanes no faster). The ratio is inlined into the output, whose 3 channels are unrolled
    # inside each vector of x (as harris and sobel): computed once per vector for the 3 channels,
    # which are written around the caches. One process: 12.69 -> 10.34 ms with 1 thread (Halide
    # 21.46), 9.42 -> 8.07 with 2 (Halide 12.72), against the ratio at root; not streamed 11.65
    # and 8.73, 32 lanes 10.57 and 8.26.
    s = Schedule()
    out = "unsharp"
    _channels_in_vectors(s, out)
    _root_rows(s, "grey", lanes=WIDE)
    for name in ("blur_x", "blur_y"):
        (taps,) = _rvars(f, name)
        _root_rows(s, name, lanes=WIDE)
        update = s[name].update(0).reorder("x", taps, "y")
        update.split("y", "yo", "yi", STRIP).parallel("yo").vectorize("x", WIDE)
    return s


def _sobel(f: Filter) -> Schedule:
    # as harris: the magnitude inlined into the output, whose 3 channels are unrolled inside
    # each vector of x (computed once per vector, stored to the 3 channels, written around the
    # caches), grey per 32-row strip. At 2560x1536 in one process: 4.52 -> 3.47 ms with 1 thread
    # (Halide 4.87), and with 2 threads medians 3.63 -> 3.01 and 3.35 -> 2.69 in two runs
    # (Halide 6.63, 5.02; minima 3.02 -> 2.45 and 2.87 -> 2.47), against the magnitude per row
    # copied to each channel; 16 lanes 3.45 ms with 1 thread, 64 lanes 3.54.
    s = Schedule()
    out = "sobel"
    _channels_in_vectors(s, out, lanes=2 * WIDE)
    s["grey"].compute_at(out, "yo").vectorize("x", ROW)
    return s


def _harris(f: Filter) -> Schedule:
    # Halide: output.split(y, y, yi, 32).parallel(y).vectorize(x, 8); Ix, Iy stored per strip
    # and computed per row (sliding). Here grey, Ix and Iy are computed per 32-row strip of the
    # output, and the response (the products and box sums) inlined into the output, whose 3
    # channels are unrolled inside each vector of x: the response is computed once per vector
    # and stored to the 3 channels, written around the caches. Measured at 2560x1536 in one
    # process: 5.96 -> 5.08 ms with 1 thread (Halide 6.52), and with 2 threads medians 4.86 ->
    # 4.11 and 4.77 -> 4.39 in two runs (Halide 5.54, 5.44; minima 3.84 -> 3.26 and 3.22 ->
    # 2.76), against the response computed per strip and copied to each channel (its copy took
    # 22% of the strip task's samples on 1 thread); 32 lanes 5.89 ms. Per 32-row strip with
    # grey, Ix and Iy at root: 88 against 158 ms (before scheduler.version_clamps).
    s = Schedule()
    out = "harris"
    _channels_in_vectors(s, out)
    for name in ("gray", "Ix", "Iy"):
        s[name].compute_at(out, "yo").vectorize("x", WIDE)
    return s


def _median(f: Filter) -> Schedule:
    # the sorted columns inlined into the output: each column is sorted 3 times (for x - 1, x
    # and x + 1), in registers, where Halide's structure (the columns per output row, stored and
    # read back by the next loop) spent more on the stores and reloads than on the 16 compares
    # it saves. At 2560x1536, in one process, against the columns per row at 64 lanes: 14.61 ->
    # 10.18 ms with 1 thread (Halide 13.23; minima 11.99 -> 6.92, Halide 11.43), 6.53 -> 4.48
    # with 2 (Halide 11.43, minima 6.53); 32 lanes 9.96 and 4.84
    s = Schedule()
    _strips(s, "median", lanes=WIDE)
    return s


def _equalize(f: Filter) -> Schedule:
    # the histogram is a scatter; the table is 256 entries; the remap is pointwise. The bins are
    # computed once, in parallel, at root: read by the scatter and by the remap (2.5x faster
    # than inlined into both, measured at 2560x1536 with 2 threads).
    s = Schedule()
    _root_rows(s, "bin")
    for name in ("hist_partial", "hist", "cdf", "cdf_min", "lut"):
        s[name].compute_root()
    # the partial histograms (see the filter): strips of rows in parallel, where one serial
    # scatter left the other thread idle; at 2560x1536 with 2 threads, one process: 7.92 ->
    # 7.25 ms (Halide 10.7), and 13.5 -> 13.6 with 1 thread
    strip = _rvars(f, "hist_partial")[2]
    s["hist_partial"].update(0).parallel(strip)
    # the output's 3 channels unrolled inside each vector of x: each pixel's table read and
    # division (the ratio) once for its 3 channels, not once per channel. One process: 14.09 ->
    # 9.80 ms with 1 thread (Halide 10.05), 9.52 -> 7.14 with 2 (Halide 10.90)
    _channels_in_vectors(s, "equalize")
    return s


def _resize(f: Filter) -> Schedule:
    # resize_x per 32-row strip of the output, as Halide's (per tile row there): bounds
    # inference bounds the input rows a strip samples through floor() of the float coordinate
    # (pipelines.bounds, monotone casts), so each strip computes the rows it reads, in cache,
    # where resize_x at root went to memory and back. At 2560x1536, scale 0.5, in one process
    # against root: resize_bilinear 7.60 -> 5.92 ms with 1 thread (Halide 7.03), 5.51 -> 4.17
    # with 2 (Halide 5.62); resize_bicubic 11.25 -> 10.85 (11.06) and 5.86 -> 5.38; strips of
    # 8, 16 and 64 rows were slower. 16 lanes for both: resize_x's taps are read through
    # permutes of 16 lanes (scheduler.split_lookups), and resize_bicubic at 2560x1536 with 2
    # threads, in one process, took 6.32 ms that way against 9.96 at 8 lanes. The 3 channels
    # unrolled inside each vector of x, in the output and in resize_x: a pixel's source
    # columns, rows and weights once for its 3 channels. One process: resize_bicubic 11.63 ->
    # 8.45 ms with 1 thread (Halide 11.32), 5.49 -> 4.78 with 2 (Halide 11.46; minima 5.38 ->
    # 4.30 against 5.81); resize_bilinear minima 5.89 -> 5.28 (Halide 7.07) and 3.97 -> 3.11
    # (Halide 4.22); the output's channels alone: 10.56 and 5.44 ms (bicubic).
    s = Schedule()
    _channels_in_vectors(s, f.output.name)
    stage = s["resize_x"].compute_at(f.output.name, "yo").split("c", "co", "ci", 3)
    stage.reorder("ci", "x", "y", "co").unroll("ci").vectorize("x", WIDE)
    if any(g.name == "taps_x" for g in f.pipeline.funcs):
        # bicubic's 4 weights per output column, once per column instead of once per pixel of
        # the x pass: resize_bicubic 11.58 -> 11.35 ms with 1 thread, one process (Halide 11.47)
        s["taps_x"].compute_root().bound("k", 0, 4).reorder("k", "x").unroll("k").vectorize("x", WIDE)
    return s


def _bilateral_grid(f: Filter) -> Schedule:
    # Halide: blurz at blurx's y, blurx root parallel in y, blury per strip of 8 output rows,
    # the output parallel(y, 8). The luminance, read by the histogram and the slicing, is
    # computed once at root. blury is at root too: per 8-row strip it was 1.7x slower (957
    # against 556 ms at 2560x1536 with 2 threads, measured side by side).
    s = Schedule()
    s["gray"].compute_root().split("y", "yo", "yi", STRIP).parallel("yo").vectorize("x", VECTOR)
    # The histogram at root, rows of cells in parallel (the cells are RVars standing alone on
    # the left, so independent), all 4 channels unrolled inside each pixel (Halide's): the
    # pixel's bin is computed once for all 4 (codegen's shared_subexpressions) and the 4
    # read-modify-write chains (neighbouring pixels mostly hit the same cell and bin) overlap.
    # At 2560x1536 in one process, against the channels in pairs, one pair per thread, over a
    # scatter of all pixels whose cell took an integer division: 54.2 -> 41.8 ms with 2 threads
    # (Halide 52.3), 102 -> 76 ms with 1.
    dx, dy, cx, cy = _rvars(f, "histogram")
    s["histogram"].compute_root().bound("c", 0, 4)
    s["histogram"].update(0).reorder("c", dx, dy, cx, cy).parallel(cy).unroll("c")
    s["blurx"].compute_root().reorder("x", "c", "z", "y").parallel("y").vectorize("x", VECTOR).unroll("c")
    s["blurz"].compute_at("blurx", "y").reorder("x", "c", "z", "y").vectorize("x", VECTOR).unroll("c")
    s["blury"].compute_root().reorder("x", "c", "z", "y").parallel("y").vectorize("x", VECTOR).unroll("c")
    # the slicing (interpolated, 4 channels) inlined into the output, whose 3 channels are
    # unrolled inside each vector of x: the weight channel, the pixel's cell and its offsets
    # once per vector for the 3 colours. One process: 76.9 -> 63.5 ms with 1 thread (Halide
    # 104.5), 44.3 -> 38.0 with 2 (Halide 53.4), against the slicing per output row, all 4
    # channels, one after another (and the output's channels outside x) at 8 lanes
    _channels_in_vectors(s, "bilateral_grid")
    # the slicing reads the grid at data-dependent cells: with hardware gathers (fast on AMD Zen
    # 5, off by default for Intel's sake) 78.7 -> 51.5 ms at 2560x1536 with 2 threads, in one
    # process (Halide 55.3); the same flag made camera_pipe and interpolate slower
    s.allow_gathers()
    return s


def _local_laplacian(f: Filter) -> Schedule:
    # The automatic schedule (every Func read more than once pointwise at root, x vectorized,
    # the last pure dimension in parallel: the pyramid levels k of gPyr): it computes gPyr_0
    # and each downsampling's x pass once, where Halide's manual schedule inlines them into the
    # next level and recomputes them 4 times. Measured at 2560x1536 with 2 threads, in one
    # process with the benchmark's malloc settings: 261-280 ms, against 396 ms for Halide's
    # structure (remap, gray, levels 1-4 root in parallel rows, the output pyramid per strip)
    # and 316 ms for that with gPyr_1's x pass per strip. The output alone leaves it: the automatic
    # schedule runs its last dimension, the 3 channels, in parallel, which keeps one of 2 threads
    # idle a third of the time; in parallel strips of rows it took 198 against 213 ms. remap is
    # inlined: its table is read at a per-pixel index, lane by lane, where inlined it is a vector
    # exp (205 -> 189 ms). lPyr_0 is computed whole, all 8 levels: inlined into outLPyr_0,
    # which reads 2 levels per pixel at a per-pixel k, its loads run lane by lane (205 -> 226 ms).
    s = auto_schedule(f.pipeline, lanes=WIDE)  # 131.8 -> 120.0 ms against 8 lanes
    out = f.output.name
    s.funcs[out].stages[0] = []
    _strips(s, out)
    s["remap"].compute_inline()
    s.funcs["remap"].stages.clear()
    # the collapsed pyramid's last level per strip of the output, once per pixel: inlined (the
    # automatic choice, read once pointwise) it was computed again for each of the 3 channels,
    # with its lane-by-lane reads of lPyr_0 at two levels per pixel (250 -> 207 ms)
    s["outGPyr_0"].compute_at(out, "yo").vectorize("x", VECTOR)
    # the full-resolution Laplacian level (8 levels of 2560x1536 floats, 126 MB at root) and the
    # x pass of its upsampling (63 MB) per strip of the output, where they stay in the caches
    # for the output pyramid to read: at 2560x1536 in one process against root, 53.6 -> 42.3 ms
    # with 2 threads (Halide 49.1) and 81.5 -> 71.8 with 1 (Halide 97.1); the same for level 1
    # per strip of its output level was within noise
    for name in ("lPyr_0", "gUp_0_x"):
        s.funcs[name].stages.clear()
        s[name].compute_at(out, "yo").vectorize("x", WIDE)
    return s


def _interpolate(f: Filter) -> Schedule:
    # Every level's passes at root in parallel 8-row strips (the downsampled levels with their x
    # passes, the x pass of each upsampling, the interpolated levels), x vectorized, channels
    # inside x's loop; the y pass of each upsampling inlined into its interpolated level, and
    # interpolated_0 per 8-row strip of the output. Halide's manual schedule inlines the x
    # passes into the y passes, recomputing each 3 times: measured at 2560x1536 with 2 threads
    # in one process with the benchmark's malloc settings, 165-172 ms for that structure, 80 ms
    # for the automatic schedule, 64-73 ms for this one. 16 lanes: 48.8 -> 45.0 ms against 8;
    # 64 lanes (ROW): 39.6 -> 35.0 ms against 16.
    out = f.output.name
    s = Schedule()
    skip = (out, "interpolated_0")
    for g in f.pipeline.funcs:
        name = g.name
        if name in skip or name.startswith("upsampled_") or name.startswith(f"{f.input.name}_repeat_edge"):
            continue
        stage = s[name].compute_root().reorder("x", "c", "y")
        stage.split("y", "yo", "yi", 8).parallel("yo").vectorize("x", ROW)
    # the output (63 MB at 2560x1536) written around the caches: 17.2 -> 16.5 ms with 2 threads,
    # 27.9 -> 27.2 with 1, in one process (Halide 20.4 and 36.3). The last level (interpolated_0)
    # inlined into it and its 4 channels unrolled inside each vector of x, so the alpha that
    # all 4 divide by is computed once per vector: 23.66 -> 21.10 ms with 1 thread (Halide
    # 35.23), 16.86 -> 15.27 and 17.20 -> 15.97 with 2 (Halide 18.05, 20.59), against
    # interpolated_0 per strip and the channels outside x; in groups of 3, 25.4 ms (2 threads)
    _channels_in_vectors(s, out, lanes=ROW, group=4, rows=8)
    return s


def _camera_pipe(f: Filter) -> Schedule:
    # Halide: the output in 32-row strips, parallel, x vectorized with c unrolled; denoised,
    # deinterleaved, g_r, g_b and curved stored per strip and computed per 2 rows (sliding),
    # corrected and the demosaic per vector of curved; LUT, matrix and weight at root. Here
    # every stage is computed per 64-row strip of the output, x vectorized by 64 (ROW; Halide's
    # 2 x 8 uint16 lanes; 16, then 32 here before); the quad planes
    # (r_gr ... b_r) and `demosaiced` are computed once each instead of inlined. The
    # full-resolution interleave select(x % 2, ...) runs one copy per parity of x
    # (scheduler.split_residues) and of y (scheduler.unswitch). Measured with 2 threads
    # at 2560x1536, in one process: 18.6 ms per 64-row strip, 18.8 ms per 32-row strip, 20.8
    # ms with the stages before `curved` at root in parallel 16-row strips; 32.0 against
    # 35.9 ms with `demosaiced` inlined into corrected and 53.0 ms with it computed per vector
    # of curved (two sessions before; before those two passes: 205 ms against 268 ms for the
    # automatic schedule and 450 ms for Halide's structure).
    out = f.output.name
    lanes = ROW
    s = Schedule()
    for name in ("curve", "matrix", "sharpen_strength_x32"):
        s[name].compute_root()
    s["curve"].vectorize("x", WIDE)
    # RGB, as Halide's `processed.bound(c, 0, 3)`: every stage's channel is then a constant, so
    # each channel's colour-matrix row is picked when compiling, not by versions of each loop
    stage = s[out].bound("c", 0, 3).reorder("x", "c", "y")
    stage.split("y", "yo", "yi", 2 * STRIP).parallel("yo").vectorize("x", lanes)
    # curved in vectors of 512: each LookupCopy call (scheduler.split_lookups) loads the 1024-byte
    # curve into registers once for 512 lookups. At 2560x1536 in one process: 6.71 -> 5.94 ms
    # with 1 thread (Halide 6.12) and 5.17 -> 4.27 with 2 (Halide 5.24), against 64 lanes; 256
    # lanes 6.16 and 4.49, 1024 lanes 6.60 against 6.21 at 512 (a row of 2528 in 3 vectors of
    # 1024 computes a fifth of it twice). The 3 channels unrolled inside the vector: one loop
    # computes a pixel's 3 curve indices from its 3 demosaiced values, read once, where a loop
    # per channel read all 3 again. At 2560x1536 in one process, 40 rounds: medians 4.98 ->
    # 4.58 ms with 1 thread (Halide 5.90), minima 2.64 -> 2.40 with 2 (Halide 2.93; the
    # 2-thread medians were noise, 3.20 and 3.19).
    s["curved"].compute_at(out, "yo").reorder("c", "x", "y").unroll("c").vectorize("x", 8 * lanes)
    # `corrected` inlined into curved: scheduler.split_lookups computes the curve's indices, and
    # with them corrected's arithmetic, in vectors. Computed per vector of curved (Halide's), its
    # int16 stores were read back by a wider vector load right after them, which waits for the
    # stores (no store forwarding): 25.1 ms that way, 22.4 ms inlined.
    planes = ("denoised", "g_r", "g_b", "r_gr", "b_gr", "r_gb", "b_gb", "r_b", "b_r")
    for name in (*planes, "demosaiced"):
        stage = s[name].compute_at(out, "yo")
        if name not in planes:
            stage.reorder("x", "c", "y")
        stage.vectorize("x", lanes)
    # the 4 quad planes together, unrolled inside each vector of x: one channel at a time read
    # only the even (or odd) pixels of a row, and gcc ran the last 32 of each 64 lanes one by
    # one so as not to read the pixel past the last (peeling for gaps); the 4 together read
    # both. At 2560x1536 in one process: 6.33 -> 6.17 ms with 1 thread (Halide 6.71), 4.90 ->
    # 4.53 with 2 (Halide 5.06); 64 lanes 6.22 and 4.67.
    stage = s["deinterleaved"].compute_at(out, "yo").bound("c", 0, 4).reorder("c", "x", "y")
    stage.unroll("c").vectorize("x", lanes // 2)
    return s


HAND_SCHEDULES: dict[str, Callable[[Filter], Schedule]] = {
    "box_blur": _box_blur,
    "gaussian_blur": _gaussian,
    "unsharp_mask": _unsharp,
    "sobel": _sobel,
    "brightness_contrast_gamma": _pointwise,
    "harris": _harris,
    "median3x3": _median,
    "equalize_histogram": _equalize,
    "resize_bilinear": _resize,
    "resize_bicubic": _resize,
    "colour_matrix": _colour_matrix,
    "bilateral_grid": _bilateral_grid,
    "local_laplacian": _local_laplacian,
    "interpolate": _interpolate,
    "camera_pipe": _camera_pipe,
}
"""Schedule builders by filter name."""


def hand_schedule(f: Filter) -> Schedule:
    """The hand schedule of the standard filter `f`, after Halide's manual schedule of the
    same app (module docstring); an empty Schedule (the default) for a filter without one.

        f = FILTERS["harris"]()
        fast = compile(f.pipeline, hand_schedule(f), threads=2)
    """
    builder = HAND_SCHEDULES.get(f.name)
    return builder(f) if builder is not None else Schedule()
