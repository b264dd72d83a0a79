"""irdi-predict says what it measured: the file's JPEG quality, the level at native resolution, the level of
the classifier's 32x32 input, and which image each refers to (issue 28)."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_irdi.serving.predict import main

MODELS = Path(__file__).resolve().parents[2] / "models"


def photo(seed=0, height=100, width=150):
    """A smooth photo-like image (so JPEG quality matters) of an odd size."""
    y, x = np.mgrid[0:height, 0:width]
    base = 128 + 60 * np.sin(x / 9.0 + seed) * np.cos(y / 13.0)
    noise = np.random.default_rng(seed).normal(0, 8, (height, width, 3))
    return np.clip(base[..., None] + noise + [0, 20, -20], 0, 255).astype(np.uint8)


def run_json(capsys, *args):
    code = main([*map(str, args), "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_each_number_is_named_for_its_image(tiny_run, tmp_path, capsys):
    jpeg, png, small = tmp_path / "q30.jpg", tmp_path / "p.png", tmp_path / "small.png"
    Image.fromarray(photo()).save(jpeg, quality=30)
    Image.fromarray(photo(1)).save(png)
    Image.fromarray(photo(2, 20, 40)).save(small)
    code, results, _ = run_json(capsys, tiny_run, jpeg, png, small)
    assert code == 0
    q30, p, s = results
    assert q30["file_jpeg_quality"] == 30 and p["file_jpeg_quality"] is None and "estimated_level" not in q30
    assert q30["level_native"]["tiles"] == 3 * 4 and q30["level_native"]["tile_size"] == 32
    lo, hi = q30["level_native"]["iqr"]
    assert lo <= q30["level_native"]["median"] <= hi and np.isfinite(q30["level_of_input"])
    assert s["level_native"] is None  # smaller than one tile
    assert set(q30["measured_on"]) == {"file_jpeg_quality", "level_native", "level_of_input"}
    assert "degrade" not in json.dumps(q30["measured_on"])

    code, (degraded,), _ = run_json(capsys, tiny_run, jpeg, "--degrade", "jpeg:10")
    assert degraded["file_jpeg_quality"] == 30 and degraded["level_native"] == q30["level_native"]
    assert "not degraded" in degraded["measured_on"]["level_native"]
    assert "after --degrade jpeg:10" in degraded["measured_on"]["level_of_input"]

    assert main([str(tiny_run), str(jpeg), "--degrade", "jpeg:10"]) == 0
    text = capsys.readouterr().out
    assert "file JPEG quality: 30" in text and "12 tiles of 32x32) [the file, not degraded]" in text
    assert "(drives the weights): " in text and "[after --degrade jpeg:10]" in text


@pytest.mark.slow  # loads the six shipped stages and runs them on a BSD-sized photo at three qualities
def test_shipped_jpeg_run_reads_the_file_s_quality(tmp_path, capsys):
    """The issue's report: the 32x32 input's level is ~99 whatever the file; the native level is not."""
    image = photo(3, 320, 480)
    paths = []
    for quality in (10, 50, 90):
        paths.append(tmp_path / f"q{quality}.jpg")
        Image.fromarray(image).save(paths[-1], quality=quality)
    code, results, _ = run_json(capsys, MODELS / "small_v1_jpeg_cifar10", *paths)
    assert code == 0
    medians = [r["level_native"]["median"] for r in results]
    assert [r["file_jpeg_quality"] for r in results] == [10, 50, 90]
    assert medians[0] < medians[1] < medians[2] and abs(medians[0] - 10) < 10 and abs(medians[2] - 90) < 15
