"""Figures from hand-made sweep CSVs: every figure is written as a valid PNG of the expected size and a PDF."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from keras_irdi.reporting.plots import make_figures
from keras_irdi.reporting.sweep_files import NoSweepError
from sweep_csv import gaussian_row, jpeg_row, write_sweep

KINDS = ("accuracy", "intervals", "cpsnr", "level_estimate", "weights")


@pytest.fixture(scope="module")
def figure_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    write_sweep(run, "jpeg_cifar10", [jpeg_row(q) for q in range(1, 101)],
                {"degradation": "jpeg", "dataset": "cifar10", "n_images": 1000})
    # partial noise sweep with the extra CIFAR-10-C sigmas
    write_sweep(run, "gaussian_cifar10", [gaussian_row(s) for s in (0, 10, 10.2, 25.5, 30, 50)])
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    degraded = rng.integers(0, 256, (3, 2, 32, 32, 3), dtype=np.uint8)
    np.savez(run / "eval" / "jpeg_cifar10_examples.npz", clean=clean, levels=np.array([10, 50, 90]),
             degraded=degraded, restored=degraded)
    return run, make_figures(run)


def test_all_figures_written(figure_run):
    run, written = figure_run
    names = {p.name for p in written}
    for stem in ("jpeg_cifar10", "gaussian_cifar10"):
        for kind in KINDS:
            assert {f"{kind}_{stem}.png", f"{kind}_{stem}.pdf"} <= names
    assert {"examples_jpeg_cifar10.png", "examples_jpeg_cifar10.pdf"} <= names
    assert not any(n.startswith("examples_gaussian") for n in names)  # no npz: skipped silently
    assert all(p.parent == run / "figures" and p.stat().st_size > 1000 for p in written)


def test_png_valid_with_expected_size(figure_run):
    _, written = figure_run
    expected = (960, 630)  # 6.4 x 4.2 inches at 150 dpi, uncropped
    for path in written:
        if path.suffix == ".png":
            with Image.open(path) as img:
                img.verify()
            with Image.open(path) as img:
                assert img.format == "PNG"
                if not path.name.startswith("examples_"):
                    assert img.size == expected, path.name
                img.load()
                assert np.asarray(img).std() > 0  # not a blank canvas
        else:
            assert path.read_bytes()[:5] == b"%PDF-"


def test_missing_columns_skip_figures(tmp_path):
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    (eval_dir / "jpeg_cifar100.csv").write_text("level,acc_proposed\n1,0.5\n50,0.6\n100,0.7\n")
    written = make_figures(tmp_path, tmp_path / "out")
    assert sorted(p.name for p in written) == ["accuracy_jpeg_cifar100.pdf", "accuracy_jpeg_cifar100.png",
                                               "intervals_jpeg_cifar100.pdf", "intervals_jpeg_cifar100.png"]


def test_no_sweep_raises(tmp_path):
    with pytest.raises(NoSweepError):
        make_figures(tmp_path)
