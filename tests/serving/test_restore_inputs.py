"""irdi-restore on images with no JPEG lattice (left alone) and on images over the pixel-count limit it shares
with irdi-predict (refused in one line, the other files still restored)."""
import numpy as np
import pytest
from PIL import Image

from keras_irdi.data import images
from keras_irdi.serving import predict
from keras_irdi.serving.restore import gate_share, main
from odd_images import screenshot

GATE = {10: 1.0, 50: 0.5, 95: 0.25, 100: 0.0}  # as RunDir.quality_gate reads it


def _decoded(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_flat_and_synthetic_images_are_left_alone(tmp_path):
    solid = np.full((240, 320, 3), (40, 120, 200), np.uint8)
    Image.fromarray(solid).save(tmp_path / "solid.png")
    Image.fromarray(screenshot()).save(tmp_path / "screenshot.png")
    Image.fromarray(solid).save(tmp_path / "solid_q95.jpg", quality=95)
    Image.fromarray(screenshot()).save(tmp_path / "screenshot_q75.jpg", quality=75)
    Image.fromarray(_decoded(tmp_path / "screenshot_q75.jpg")).save(tmp_path / "screenshot_q75_pixels.png")

    def how(name):
        return gate_share(GATE, tmp_path / name, _decoded(tmp_path / name))

    for name in ("solid.png", "screenshot.png"):  # never compressed: no lattice, share 0 (was QF 26 and 25)
        assert how(name) == {"share": 0.0, "quality": None, "quality_from": None, "gated_at": 0}, name
    # Its own tables, not "saved again from an earlier JPEG of quality 27".
    assert how("solid_q95.jpg") == {"share": 0.25, "quality": 95, "quality_from": "file", "gated_at": 95}
    # Real JPEGs keep their reading, from the file or from the pixels alone.
    assert how("screenshot_q75.jpg")["quality_from"] == "file"
    assert how("screenshot_q75_pixels.png") == {"share": 0.25, "quality": 75, "quality_from": "pixels",
                                                "gated_at": 75}


def test_one_pixel_limit_for_restore_and_predict(tiny_run, tmp_path, capsys, monkeypatch, restore_signals):
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(tmp_path / "big.png")  # 1200
    Image.fromarray(rng.integers(0, 256, (20, 50, 3), dtype=np.uint8)).save(tmp_path / "small.png")  # 1000
    expected = (f"error: {tmp_path / 'big.png'}: not a readable image, refused as too large (1200 pixels, more "
                "than the 1000 accepted: keras_irdi.data.images.MAX_PIXELS, a guard against decompression bombs)")
    out = tmp_path / "out"
    assert main([str(tiny_run), str(tmp_path / "big.png"), str(tmp_path / "small.png"), "--out", str(out)]) == 1
    assert capsys.readouterr().err.splitlines() == [expected]
    assert sorted(p.name for p in out.iterdir()) == ["small.png"]
    assert predict.main([str(tiny_run), str(tmp_path / "big.png"), str(tmp_path / "small.png")]) == 1
    assert expected in capsys.readouterr().err.splitlines()


@pytest.mark.slow
def test_restore_memory_result_is_within_the_budget():
    """bench/restore_memory.py's committed figure for a 12000x9000 JPEG (issue 36: at most 1.5 GB)."""
    import json

    from helpers import REPO

    result = json.loads((REPO / "bench" / "results" / "restore_memory.json").read_text())
    assert result["image"]["size"] == "12000x9000" and result["budget_mb"] == 1536
    assert result["restore"]["exit"] == 0 and result["restore"]["peak_rss_mb"] <= 1536
