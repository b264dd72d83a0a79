"""keras_irdi.serving.native_level: the estimator over a photo's native tiles, and how predict names it."""
import numpy as np

from keras_irdi.data.jpeg_quality import JpegQuality
from keras_irdi.serving.native_level import describe_levels, measured_on, native_level, tile_grid


def test_grid_is_whole_aligned_tiles_capped_and_deterministic():
    grid = tile_grid(100, 70, 32)
    assert sorted(map(tuple, grid)) == [(t, s) for t in (0, 32, 64) for s in (0, 32)]
    big = tile_grid(4000, 6000, 32, max_tiles=256)
    assert len(big) == 256 and (big % 32 == 0).all() and (big.max(axis=0) <= [4000 - 32, 6000 - 32]).all()
    assert (big == tile_grid(4000, 6000, 32, max_tiles=256)).all()
    assert tuple(big[0]) == (0, 0) and tuple(big[-1]) == (3968, 5952)  # spread over the whole photo
    assert len(tile_grid(31, 500, 32)) == 0


def test_native_level_summarises_tile_estimates():
    image = np.zeros((64, 128, 3), np.uint8)
    image[:, 64:] = 100  # tiles: 4 of value 0, 4 of value 100
    seen = []

    def estimate(tiles):
        seen.append(tiles.shape)
        return tiles.reshape(len(tiles), -1).mean(axis=1)

    result = native_level(estimate, image, 32)
    assert seen == [(8, 32, 32, 3)]
    assert result == {"median": 50.0, "iqr": [0.0, 100.0], "tiles": 8, "tile_size": 32}
    assert native_level(estimate, image[:20], 32) is None


def test_each_number_names_its_image():
    plain = measured_on(JpegQuality(10, True), 32)
    assert "quantisation tables" in plain["file_jpeg_quality"] and "native resolution" in plain["level_native"]
    assert "32x32 input" in plain["level_of_input"] and "degrade" not in str(plain)
    degraded = measured_on(None, 32, ("jpeg", 50))
    assert "not a JPEG" in degraded["file_jpeg_quality"] and "not degraded" in degraded["level_native"]
    assert "after --degrade jpeg:50" in degraded["level_of_input"]
    assert "not IJG" in measured_on(JpegQuality(70, False), 32)["file_jpeg_quality"]
    record = {"level_unit": "quality factor", "file_jpeg_quality": 10, "level_of_input": 98.7,
              "level_native": {"median": 9.7, "iqr": [8.0, 11.5], "tiles": 150, "tile_size": 32},
              "degraded": "jpeg:50", "measured_on": degraded}
    text = "\n".join(describe_levels(record))
    assert "file JPEG quality: 10" in text and "median 9.7 (IQR 8.0..11.5, 150 tiles of 32x32) [the file" in text
    assert "input (drives the weights): 98.7 [after --degrade jpeg:50]" in text
