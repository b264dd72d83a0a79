"""Restore image files at their own resolution, tiled with overlap: ``irdi-restore RUN IMG... --out DIR``.

The restoration net is fully convolutional with a 33x33 receptive field (``receptive_radius``: 16 pixels),
so an output pixel depends only on the input within 16 pixels of it. Each tile is run with a margin of at
least that radius around its core (clipped at the image border, where the untiled run sees the same zero
padding), and only the core is kept: the tiled output equals the untiled one up to float rounding, while
memory holds one tile's feature maps (tile + 2 margins, squared, x filters) instead of the whole image's.

Files are read as predict reads them (``keras_irdi.data.images.load_image``: 8-bit RGB, grayscale, palette,
16-bit and transparent images converted); each result is written as ``DIR/<file stem>.png`` (8-bit RGB).

A run trained with a quality gate (JPEG, ``restoration.quality_gate``) applies only the share of the net's
residual fitted for the image's JPEG quality: the file's own (its quantisation tables) or, for a PNG, what its
pixels' DCT lattice shows. All of it at low qualities, none on a nearly clean image. An image with neither (a
PNG never compressed, or resized since), or a file above QF 50 saved again from an earlier, coarser JPEG, is
written as it was read. ``--full`` applies all of it regardless.

Exit status: 0 all files restored, 1 some files could not be read (one ``error: PATH: reason`` line each on
stderr, as irdi-predict; the others are still restored), 2 usage error (no run directory, no restoration
stage, unwritable --out).
"""
from __future__ import annotations

import sys

from keras_irdi.tfenv import load_tensorflow

tf = load_tensorflow("--verbose" in sys.argv)  # before anything else loads it: no C++ chatter on stderr

import argparse  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

TILE = 512  # core side of a tile (pixels); memory ~ (TILE + 2 margin)^2 x filters x 4 bytes per layer


def receptive_radius(model) -> int:
    """Pixels on each side that one output pixel sees: sum over the convolutions of dilation x (k - 1) / 2."""
    radius = 0
    for layer in model.layers:
        if hasattr(layer, "kernel_size") and hasattr(layer, "dilation_rate"):
            radius += max(d * (k - 1) // 2 for k, d in zip(layer.kernel_size, layer.dilation_rate))
    return radius


def tile_windows(height: int, width: int, tile: int, margin: int):
    """(core, window) slices per tile: the cores cover the image exactly once; each window is its core
    grown by ``margin`` on every side, clipped to the image."""
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            wt, wl = max(top - margin, 0), max(left - margin, 0)
            wb, wr = min(bottom + margin, height), min(right + margin, width)
            yield (top, bottom, left, right), (wt, wb, wl, wr)


class TiledRestorer:
    """A restoration model (float 0..1 in and out, any HxW) applied to uint8 images of any size by tiles."""

    def __init__(self, model, tile: int = TILE, margin: int | None = None):
        self.model = model
        self.margin = receptive_radius(model) if margin is None else int(margin)
        self.tile = int(tile)  # 0: the whole image at once
        if self.tile < 0:
            raise ValueError(f"tile must be 0 or positive, got {tile}")
        self._run = tf.function(lambda x: model(x, training=False),
                                input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])

    def _cores(self, image: np.ndarray, tile: int | None):
        """(top, bottom, left, right), restored core float32 0..1, tile by tile; tile 0: the whole image."""
        height, width = image.shape[:2]
        tile = self.tile if tile is None else int(tile)
        tile = tile if tile > 0 else max(height, width)
        for (top, bottom, left, right), (wt, wb, wl, wr) in tile_windows(height, width, tile, self.margin):
            window = image[wt:wb, wl:wr].astype(np.float32)[None] / 255.0
            restored = self._run(tf.constant(window)).numpy()[0]
            yield (top, bottom, left, right), restored[top - wt:bottom - wt, left - wl:right - wl]

    def restore_float(self, image: np.ndarray, tile: int | None = None) -> np.ndarray:
        """uint8 (H, W, 3) -> float32 (H, W, 3) in 0..1."""
        image = np.asarray(image)
        out = np.empty(image.shape[:2] + (3,), np.float32)
        for (top, bottom, left, right), core in self._cores(image, tile):
            out[top:bottom, left:right] = core
        return out

    def __call__(self, image: np.ndarray, tile: int | None = None, share: float = 1.0) -> np.ndarray:
        """uint8 (H, W, 3) -> restored uint8 (H, W, 3): only one tile is ever held as float. ``share``: how much
        of the net's residual to apply (the quality gate's alpha; 0 returns the image as it is)."""
        image = np.asarray(image)
        if share == 0:
            return image.copy()
        out = np.empty(image.shape[:2] + (3,), np.uint8)
        for (top, bottom, left, right), core in self._cores(image, tile):
            if share != 1:
                x = image[top:bottom, left:right].astype(np.float32) / 255.0
                core = x + np.float32(share) * (core - x)
            out[top:bottom, left:right] = to_uint8(core)
        return out


def to_uint8(image01) -> np.ndarray:
    """float 0..1 -> uint8, rounded to the nearest level."""
    return np.clip(np.round(np.asarray(image01, np.float32) * 255.0), 0, 255).astype(np.uint8)


def restore_graph(model, image, tile: int = TILE, margin: int = 16):
    """The tiling of ``TiledRestorer`` in TensorFlow ops (loops, no Python): uint8 (H, W, 3) -> uint8
    (H, W, 3). For the SavedModel's ``restore`` signature, so a server holds one tile's feature maps too.

    Each row of tiles is built as (W, tile, 3) (tiles transposed, concatenated along the first axis by a
    TensorArray) and transposed back; the rows are concatenated the same way."""
    image = tf.convert_to_tensor(image, tf.uint8)
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    x = tf.cast(image, tf.float32) / 255.0

    def one_row(top):
        bottom = tf.minimum(top + tile, height)
        wt, wb = tf.maximum(top - margin, 0), tf.minimum(bottom + margin, height)

        def one_tile(j, cols):
            left = j * tile
            right = tf.minimum(left + tile, width)
            wl, wr = tf.maximum(left - margin, 0), tf.minimum(right + margin, width)
            out = model(x[None, wt:wb, wl:wr], training=False)[0]
            core = out[top - wt:bottom - wt, left - wl:right - wl]
            core = tf.cast(tf.clip_by_value(tf.round(core * 255.0), 0.0, 255.0), tf.uint8)
            return j + 1, cols.write(j, tf.transpose(core, [1, 0, 2]))

        n_cols = (width + tile - 1) // tile
        cols = tf.TensorArray(tf.uint8, size=n_cols, infer_shape=False, element_shape=tf.TensorShape([None, None, 3]))
        _, cols = tf.while_loop(lambda j, _: j < n_cols, one_tile, [tf.constant(0), cols])
        return tf.transpose(cols.concat(), [1, 0, 2])

    def one_row_step(i, rows):
        return i + 1, rows.write(i, one_row(i * tile))

    n_rows = (height + tile - 1) // tile
    rows = tf.TensorArray(tf.uint8, size=n_rows, infer_shape=False, element_shape=tf.TensorShape([None, None, 3]))
    _, rows = tf.while_loop(lambda i, _: i < n_rows, one_row_step, [tf.constant(0), rows])
    out = rows.concat()
    out.set_shape([None, None, 3])
    return out


def restore_function(model, tile: int = TILE):
    """The export's ``restore`` signature: ``image`` uint8 [H, W, 3] (any H, W >= 1) -> ``restored`` uint8
    [H, W, 3], tiled as ``irdi-restore`` (same numbers)."""
    margin = receptive_radius(model)
    return tf.function(lambda image: {"restored": restore_graph(model, image, tile, margin)}, autograph=False,
                       input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="image")])


def gate_share(gate: dict | None, path, image: np.ndarray, quality: int | None = None) -> dict:
    """How much of the residual to apply to one image: {"share", "quality", "quality_from"}. Without a gate
    all of it; with one, the gate's share at the quality given, else at the file's own quality or what the
    pixels show (``gate_quality``); the image is left as it is (share 0) when neither is known or a file above
    QF 50 was saved again from an earlier, coarser JPEG ("quality_from": "re-saved")."""
    from keras_irdi.data.jpeg_quality import file_jpeg_quality, quality_from_pixels
    from keras_irdi.models.restoration_gate import alpha_for, gate_quality

    if gate is None:
        return {"share": 1.0, "quality": None, "quality_from": None}
    if quality is not None:
        return {"share": alpha_for(gate, quality), "quality": quality, "quality_from": "given"}
    found = file_jpeg_quality(path)
    pixels, file = quality_from_pixels(image), found.quality if found else None
    chosen = gate_quality(pixels, file)
    source = "file" if chosen is not None and chosen == file else "pixels" if chosen is not None else \
        "re-saved" if pixels is not None and file is not None else None
    return {"share": alpha_for(gate, chosen), "quality": pixels if source == "re-saved" else chosen,
            "quality_from": source}


def restore_files(run_dir, files, out_dir, tile: int = TILE, report=print, gated: bool = True,
                  quality: int | None = None) -> list[dict]:
    """Restore each file into ``out_dir/<stem>.png``; one dict per file, with "output" (and the share of the
    residual applied, with the JPEG quality it was chosen by) or "error". ``gated=False``: the whole residual,
    as the net was trained, even where the run has a quality gate."""
    from PIL import Image

    from keras_irdi.data.images import load_image
    from keras_irdi.errors import one_line
    from keras_irdi.runs.directory import RunDir

    run = RunDir(run_dir)
    restorer = TiledRestorer(run.load_stage("restoration"), tile=tile)
    gate = run.quality_gate() if gated else None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results, taken = [], set()
    for name in files:
        try:
            image = load_image(name)
        except FileNotFoundError:
            results.append({"file": name, "error": f"{name}: no such file"})
            continue
        except Exception as err:  # noqa: BLE001 - any unreadable file is reported, the rest still run
            msg = one_line(err)
            results.append({"file": name, "error": msg if msg.startswith(str(name)) else f"{name}: {msg}"})
            continue
        stem, n = Path(name).stem, 1
        while (out := out_dir / (f"{stem}.png" if n == 1 else f"{stem}-{n}.png")) in taken:
            n += 1
        taken.add(out)
        how = gate_share(gate, name, image, quality)
        Image.fromarray(restorer(image, share=how["share"])).save(out)
        results.append({"file": name, "output": str(out), **how})
        gated_by = "" if gate is None else (
            f"; saved again from an earlier JPEG of quality {how['quality']}" if how["quality_from"] == "re-saved"
            else f"; JPEG quality {how['quality']} ({how['quality_from']})" if how["quality"]
            else "; no JPEG quality found") + f", share of the residual {how['share']:.2f}"
        report(f"{name} -> {out} ({image.shape[1]}x{image.shape[0]}{gated_by})")
    return results


def main(argv=None) -> int:
    from keras_irdi.errors import main_wrapper

    return main_wrapper(_main, argv, interrupted="interrupted")


def _main(argv) -> int:
    from keras_irdi.errors import AccessError, MissingError

    parser = argparse.ArgumentParser(prog="irdi-restore", description=(
        "Restore image files at their native resolution with a run's restoration net (tiled with overlap); "
        "writes OUT/<name>.png."))
    parser.add_argument("run_dir", metavar="RUN", help="run directory with a restoration stage")
    parser.add_argument("images", metavar="IMG", nargs="+", help="image files (8-bit PNG, JPEG, ...)")
    parser.add_argument("--out", required=True, help="folder for the restored PNG files (created)")
    parser.add_argument("--tile", type=int, default=TILE,
                        help=f"core side of a tile in pixels (default {TILE}); 0: the whole image at once")
    parser.add_argument("--quality", type=int, help="JPEG quality (1..100) to choose the share of the residual "
                        "by, for every image (default: each file's own, from its tables or its pixels)")
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
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise AccessError(f"--out {out} exists and is not a directory")
    try:  # before the model loads, so an unwritable --out fails at once
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise AccessError(f"cannot write into --out {out} ({exc.strerror or exc}); choose another") from None
    results = restore_files(run, args.images, out, tile=args.tile, gated=not args.full, quality=args.quality)
    for r in results:
        if "error" in r:
            print(f"error: {r['error']}", file=sys.stderr)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
