"""Restore image files at their own resolution, tiled with overlap: ``irdi-restore RUN IMG... --out DIR``.

The restoration net is fully convolutional with a 33x33 receptive field (``RECEPTIVE_RADIUS``: 16 pixels,
from the dilated body's dilations), so an output pixel depends only on the input within 16 pixels of it.
Each tile is run with a margin of that radius around its core (clipped at the image border, where the
untiled run sees the same zero padding), and only the core is kept: the tiled output equals the untiled one
up to float rounding, while memory holds one tile's feature maps (tile + 2 margins, squared, x filters)
instead of the whole image's. ``restore_function`` is that tiling and the quality gate in TensorFlow ops:
irdi-restore runs it, and the export saves it as the SavedModel's ``restore`` signature, so both give the
same output for the same image and JPEG quality.

Files are read as predict reads them, under the same input rules (``keras_irdi.data.input_rules``: JPEG or PNG,
one frame, at most 32 MiB) but ``RESTORE_MAX_SIDE`` pixels per side (tiled: the pixel-count limit
``data.images.MAX_PIXELS`` bounds the memory), as 8-bit RGB (grayscale, palette, 16-bit and transparent images
converted); each result is written as ``DIR/<file stem>.png`` (8-bit RGB).
Nothing is destroyed: an output name that is one of the inputs refuses the whole command, an existing file
is kept unless ``--overwrite`` is given, and each file is written under a temporary name in DIR and renamed,
so a final name never holds part of a file (Ctrl-C, a full disk).

A run trained with a quality gate (JPEG, ``restoration.quality_gate``) applies only the share of the net's
residual fitted for the image's JPEG quality: the file's own (its quantisation tables) or, for a PNG, what its
pixels' DCT lattice shows. All of it at low qualities, none on a nearly clean image. An image with neither (a
PNG never compressed, or resized since), or a file above QF 50 saved again from an earlier, coarser JPEG, is
written as it was read. ``--full`` applies all of it regardless.

Exit status: 0 all files restored, 1 some files could not be read or written, or their output exists (one
``error: PATH: reason`` line each on stderr, as irdi-predict; the others are still restored), 2 usage error
(no run directory, no restoration stage, unwritable --out, an output that is an input) or a full disk (one
line; the files before it are in place), 130 interrupted (no partial file left).
"""
from __future__ import annotations

import os
import sys

from keras_irdi.tfenv import load_tensorflow, prog_name

# oneDNN's pool keeps every freed buffer, so the input, the output and their copies would all stay resident;
# the system allocator returns them (bench/restore_memory.py). Read when TensorFlow loads.
os.environ.setdefault("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "1")
tf = load_tensorflow("--verbose" in sys.argv)  # before anything else loads it: no C++ chatter on stderr

import argparse  # noqa: E402
import errno  # noqa: E402
import secrets  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from keras_irdi.data.input_rules import RESTORE_MAX_SIDE  # noqa: E402
from keras_irdi.models._body import DILATIONS  # noqa: E402

TILE = 512  # core side of a tile (pixels); memory ~ (TILE + 2 margin)^2 x filters x 4 bytes per layer
# Pixels on each side that one output pixel sees: a 3x3 convolution of dilation d reaches d pixels out.
RECEPTIVE_RADIUS = sum(d * (3 - 1) // 2 for d in DILATIONS)
UNKNOWN_QUALITY = 0  # the restore function's quality for an image whose JPEG quality is not known


def restore_graph(model, image, share=1.0, tile: int = TILE, margin: int = RECEPTIVE_RADIUS):
    """uint8 (H, W, 3) -> uint8 (H, W, 3): x + share (R(x) - x), the restoration net R run tile by tile in
    TensorFlow ops (loops, no Python), so memory holds one tile's feature maps whatever the image's size.

    Each tile's core is run with ``margin`` pixels around it (clipped at the image border, where one pass
    sees the same zero padding) and only the core kept. ``tile`` 0: the whole image at once. ``share`` 0
    returns the image without running the net. Each row of tiles is built as (W, tile, 3) (cores
    transposed, concatenated along the first axis by a TensorArray), transposed back and written in place
    into the output (``Empty``, stateful, so never folded into a constant shared by calls): the output is
    held once, not as rows and their concatenation. The loops run one iteration at a time, so one tile is in
    memory as float."""
    image = tf.convert_to_tensor(image, tf.uint8)
    share = tf.convert_to_tensor(share, tf.float32)
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    # A tile past the largest image accepted is the whole image; capping it keeps the int32 index sums exact.
    side = tf.maximum(height, width) if tile == 0 else tf.constant(min(int(tile), RESTORE_MAX_SIDE))

    def one_row(top):
        bottom = tf.minimum(top + side, height)
        wt, wb = tf.maximum(top - margin, 0), tf.minimum(bottom + margin, height)

        def one_tile(j, cols):
            left = j * side
            right = tf.minimum(left + side, width)
            wl, wr = tf.maximum(left - margin, 0), tf.minimum(right + margin, width)
            window = tf.cast(image[wt:wb, wl:wr], tf.float32) / 255.0
            x = window[top - wt:bottom - wt, left - wl:right - wl]
            core = model(window[None], training=False)[0][top - wt:bottom - wt, left - wl:right - wl]
            core = tf.cast(tf.clip_by_value(tf.round((x + share * (core - x)) * 255.0), 0.0, 255.0), tf.uint8)
            return j + 1, cols.write(j, tf.transpose(core, [1, 0, 2]))

        n_cols = (width + side - 1) // side
        cols = tf.TensorArray(tf.uint8, size=n_cols, infer_shape=False, element_shape=tf.TensorShape([None, None, 3]))
        _, cols = tf.while_loop(lambda j, _: j < n_cols, one_tile, [tf.constant(0), cols], parallel_iterations=1)
        return tf.transpose(cols.concat(), [1, 0, 2])

    def tiled():
        def next_row(i, out):
            top = i * side
            rows = tf.range(top, tf.minimum(top + side, height))
            return i + 1, tf.raw_ops.InplaceUpdate(x=out, i=rows, v=one_row(top))

        n_rows = (height + side - 1) // side
        out = tf.raw_ops.Empty(shape=tf.shape(image), dtype=tf.uint8)
        return tf.while_loop(lambda i, _: i < n_rows, next_row, [tf.constant(0), out], parallel_iterations=1)[1]

    out = tf.cond(share > 0, tiled, lambda: tf.identity(image))
    out.set_shape([None, None, 3])
    return out


def as_tensor(image: np.ndarray, band: int = 1 << 22) -> tf.Tensor:
    """uint8 (H, W, 3) array -> tensor, copied ``band`` pixels (whole rows) at a time into one buffer:
    ``tf.convert_to_tensor`` holds two copies of a large array."""
    rows = max(1, band // max(1, image.shape[1]))
    out = tf.raw_ops.Empty(shape=image.shape, dtype=tf.uint8)
    for top in range(0, image.shape[0], rows):
        bottom = min(top + rows, image.shape[0])
        out = tf.raw_ops.InplaceUpdate(x=out, i=tf.range(top, bottom), v=image[top:bottom])
    return out


def gated_share(shares, quality):
    """The share of the residual the gate's table (``share_table``, a tensor) gives ``quality``: index
    UNKNOWN_QUALITY and below, not known; above 100, QF 100's."""
    return tf.gather(shares, tf.clip_by_value(quality, UNKNOWN_QUALITY, shares.shape[0] - 1))


def restore_function(model, gate: dict | None = None, tile: int = TILE):
    """The export's ``restore`` signature, and what irdi-restore runs: ``image`` uint8 [H, W, 3] (H, W within
    1..RESTORE_MAX_SIDE, checked in the graph with the input rules' messages) and ``quality`` int32 [] (the
    image's JPEG quality; UNKNOWN_QUALITY or below: not known) -> ``restored`` uint8 [H, W, 3], with the share of
    the residual the gate gives that quality (``share_table``: a constant of the graph; above 100, QF 100's)."""
    from keras_irdi.models.restoration_gate import share_table
    from keras_irdi.serving.decoding import checked_pixels

    shares = tf.constant(share_table(gate), tf.float32)

    def restore(image, quality):
        share = gated_share(shares, quality)
        return {"restored": restore_graph(model, checked_pixels(image, max_side=RESTORE_MAX_SIDE), share, tile)}

    return tf.function(restore, autograph=False, input_signature=[
        tf.TensorSpec([None, None, 3], tf.uint8, name="image"), tf.TensorSpec([], tf.int32, name="quality")])


def gate_share(gate: dict | None, path, image: np.ndarray, quality: int | None = None) -> dict:
    """How much of the residual to apply to one image: {"share", "quality", "quality_from", "gated_at"}, where
    "gated_at" is the quality the share is looked up at (``share_table``; UNKNOWN_QUALITY: none), what
    ``restore_function`` takes. Without a gate all of it; with one, the gate's share at the quality given,
    else at the file's own quality or what the pixels show (``gate_quality``); the image is left as it is
    (share 0) when neither is known or a file above QF 50 was saved again from an earlier, coarser JPEG
    ("quality_from": "re-saved")."""
    from keras_irdi.data.jpeg_quality import file_jpeg_quality, quality_from_pixels
    from keras_irdi.models.restoration_gate import gate_quality, share_table

    if gate is None:
        gated_at, shown, source = UNKNOWN_QUALITY, None, None
    elif quality is not None:
        gated_at, shown, source = quality, quality, "given"
    else:
        found = file_jpeg_quality(path)
        pixels, file = quality_from_pixels(image), found.quality if found else None
        chosen = gate_quality(pixels, file)
        source = "file" if chosen is not None and chosen == file else "pixels" if chosen is not None else \
            "re-saved" if pixels is not None and file is not None else None
        gated_at = UNKNOWN_QUALITY if chosen is None else chosen
        shown = pixels if source == "re-saved" else chosen
    return {"share": float(share_table(gate)[gated_at]), "quality": shown, "quality_from": source,
            "gated_at": gated_at}


def output_paths(files, out_dir) -> list[Path]:
    """Where each input's restoration goes: ``out_dir/<stem>.png``, ``<stem>-2.png`` for the second input of
    that stem, and so on. From the names alone, so a file that cannot be read does not move the others'."""
    taken, outputs = set(), []
    for name in files:
        stem, n = Path(name).stem, 1
        while (out := Path(out_dir) / (f"{stem}.png" if n == 1 else f"{stem}-{n}.png")) in taken:
            n += 1
        taken.add(out)
        outputs.append(out)
    return outputs


def refuse_inputs_as_outputs(files, outputs) -> None:
    """InputError if an output would be written over one of the inputs (same path after links, or the same
    file under another name): the input would be lost, so even --overwrite does not allow it."""
    from keras_irdi.errors import InputError

    def identity(path):
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    inputs = {os.path.realpath(f) for f in files} | {i for i in map(identity, files) if i is not None}
    for name, out in zip(files, outputs):
        if os.path.realpath(out) in inputs or identity(out) in inputs:
            raise InputError(f"restoring {name} would write over the input {out}; choose another --out")


def _publish(tmp: Path, out: Path, overwrite: bool) -> None:
    """Give the complete temporary file its final name. ``overwrite``: os.replace. Otherwise a hard link, which
    fails if ``out`` exists, even if it appeared since the last check (FileExistsError); on a file system
    without hard links, os.replace after checking that ``out`` does not exist."""
    if overwrite:
        os.replace(tmp, out)
        return
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise
    except OSError:
        if os.path.lexists(out):
            raise FileExistsError(errno.EEXIST, "exists", str(out)) from None
        os.replace(tmp, out)
        return
    os.unlink(tmp)


def write_png(image: np.ndarray, out: Path, overwrite: bool = False) -> None:
    """Write ``image`` as the PNG ``out`` without ever leaving part of a file under that name: written to a
    hidden temporary name in the same folder (one file system, so the rename is atomic), flushed to disk, then
    renamed. Any failure, Ctrl-C included, removes the temporary file; the file under ``out``, if any, is kept
    as it was. FileExistsError when ``out`` exists and not ``overwrite``."""
    from PIL import Image

    if not overwrite and os.path.lexists(out):
        raise FileExistsError(errno.EEXIST, "exists", str(out))
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask's permissions, as open() gives
    try:
        with os.fdopen(fd, "wb") as f:
            Image.fromarray(image).save(f, format="PNG")
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, out, overwrite)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def restore_files(run_dir, files, out_dir, tile: int = TILE, report=print, gated: bool = True,
                  quality: int | None = None, overwrite: bool = False, report_error=None) -> list[dict]:
    """Restore each file into ``out_dir/<stem>.png`` (``output_paths``); one dict per file, with "output" (and
    the share of the residual applied, with the JPEG quality it was chosen by) or "error".
    ``gated=False``: the whole residual, as the net was trained, even where the run has a quality gate.

    A file that cannot be read or written, or whose output exists (without ``overwrite``), gets an "error"
    and the others are still restored; ``report_error(message)`` is called as each happens. An output that is
    one of the inputs raises InputError before the model loads. A full disk stops the batch: its dict also
    has "disk_full" and is the last one (the later files would fail the same way)."""
    from keras_irdi.data.images import read_input_file
    from keras_irdi.errors import no_space, one_line
    from keras_irdi.runs.directory import RunDir

    outputs = output_paths(files, out_dir)
    refuse_inputs_as_outputs(files, outputs)
    run = RunDir(run_dir)
    model = run.load_stage("restoration")  # its identity first: a foreign stage, not "its gate is missing"
    gate = run.quality_gate() if gated else None
    restore = restore_function(model, gate, tile)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    results = []

    def failed(name, message, **extra):
        results.append({"file": name, "error": message, **extra})
        if report_error is not None:
            report_error(message)

    for i, (name, out) in enumerate(zip(files, outputs)):
        try:
            image = read_input_file(name, max_side=RESTORE_MAX_SIDE)
        except FileNotFoundError:
            failed(name, f"{name}: no such file")
            continue
        except Exception as err:  # noqa: BLE001 - any unreadable file is reported, the rest still run
            msg = one_line(err)
            failed(name, msg if msg.startswith(str(name)) else f"{name}: {msg}")
            continue
        if os.path.isdir(out):  # --overwrite replaces files only
            failed(name, f"{name}: {out} is a folder; move it or choose another --out")
            continue
        if not overwrite and os.path.lexists(out):  # before the net runs: no time spent on a refused file
            failed(name, f"{name}: {out} exists; kept (--overwrite replaces it)")
            continue
        how = gate_share(gate, name, image, quality)
        # A few bytes a pixel at once (bench/results/restore_memory.json): the input is held once, as an array
        # then as a tensor, and is gone before the output is copied out of TensorFlow and into PIL's RGB.
        shape, nbytes = image.shape, image.nbytes
        image = as_tensor(image)
        restored = restore(image, how.pop("gated_at"))["restored"]
        image = None
        restored = restored.numpy()
        try:
            write_png(restored, out, overwrite)
        except FileExistsError:  # created since the check above
            failed(name, f"{name}: {out} exists; kept (--overwrite replaces it)")
            continue
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                left = len(files) - i - 1
                rest = "" if left == 0 else " and the file after it" if left == 1 else f" and the {left} files after it"
                # what to free: the raw pixels' size, which a PNG hardly exceeds
                failed(name, f"{no_space(out_dir, nbytes, exc.errno, out)} for {name}{rest}", disk_full=True)
                break
            failed(name, f"{name}: cannot write {out} ({exc.strerror or one_line(exc)}); nothing written under "
                   "that name")
            continue
        finally:
            restored = None  # not held while the next file loads
        results.append({"file": name, "output": str(out), **how})
        gated_by = "" if gate is None else (
            f"; saved again from an earlier JPEG of quality {how['quality']}" if how["quality_from"] == "re-saved"
            else f"; JPEG quality {how['quality']} ({how['quality_from']})" if how["quality"]
            else "; no JPEG quality found") + f", share of the residual {how['share']:.2f}"
        report(f"{name} -> {out} ({shape[1]}x{shape[0]}{gated_by})")
    return results


def _return_freed_memory() -> None:
    """glibc: buffers of 1 MB and more go to mmap, so each is returned when freed; otherwise the tiles' freed
    buffers stay in the heap's arenas and raise the peak of a large photo (bench/results/restore_memory.json)."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt(-3, 1 << 20)  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc: its own allocator's behaviour stands
        pass


def main(argv=None) -> int:
    from keras_irdi.errors import main_wrapper

    _return_freed_memory()
    return main_wrapper(_main, argv, interrupted="interrupted: the files reported above are restored, no partial "
                                                 "file was left; rerun for the others")


def _main(argv) -> int:
    from keras_irdi.errors import AccessError, MissingError, printable

    parser = argparse.ArgumentParser(prog=prog_name("irdi-restore"), description=(
        "Restore image files at their native resolution with a run's restoration net (tiled with overlap); "
        "writes OUT/<name>.png."))
    parser.add_argument("run_dir", metavar="RUN", help="run directory with a restoration stage")
    parser.add_argument("images", metavar="IMG", nargs="+",
                        help=f"image files (JPEG or PNG, at most {RESTORE_MAX_SIDE} px per side)")
    parser.add_argument("--out", required=True, help="folder for the restored PNG files (created)")
    parser.add_argument("--tile", type=int, default=TILE,
                        help=f"core side of a tile in pixels (default {TILE}); 0: the whole image at once")
    parser.add_argument("--quality", type=int, help="JPEG quality (1..100) to choose the share of the residual "
                        "by, for every image (default: each file's own, from its tables or its pixels)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT/<name>.png (default: "
                        "keep it, report that file and restore the others); an input is never replaced")
    parser.add_argument("--full", action="store_true", help="apply the whole residual, as the net was trained, "
                        "even where the run's quality gate would apply less")
    parser.add_argument("--verbose", action="store_true", help="keep TensorFlow's own log lines on stderr")
    args = parser.parse_args(argv)
    if args.tile < 0:
        parser.error(f"--tile must be 0 or positive, got {args.tile}")
    if args.quality is not None and not 1 <= args.quality <= 100:
        parser.error(f"--quality must be 1..100, got {args.quality}")
    if args.quality is not None and args.full:
        parser.error("--quality chooses a share of the residual and --full applies all of it: give one")
    run = Path(args.run_dir)
    if not (run / "manifest.json").exists():
        raise MissingError(f"{run} is not a run directory (no manifest.json)")
    from keras_irdi.runs.directory import RunDir

    RunDir(run).require("restoration")  # before --out is made: a run without the net leaves nothing behind
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise AccessError(f"--out {out} exists and is not a directory; choose another --out")
    try:  # before the model loads, so an unwritable --out fails at once
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise AccessError(f"cannot write into --out {out} ({exc.strerror or exc}); choose another") from None
    results = restore_files(run, args.images, out, tile=args.tile, gated=not args.full, quality=args.quality,
                            overwrite=args.overwrite, report=lambda line: print(printable(line), flush=True),
                            report_error=lambda message: print(f"error: {printable(message)}", file=sys.stderr,
                                                               flush=True))
    if any(r.get("disk_full") for r in results):
        return 2
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
