"""evaluate/sweep.py's options are checked before anything is loaded or written, and a sweep never replaces
a fuller one without --force (keras_irdi/evaluation.py run_sweep)."""
import json
import shutil

import pytest

from helpers import run_script
from keras_irdi.runs.provenance import SCHEMA_VERSION
from keras_irdi.runs.directory import RunDir
from keras_irdi.errors import ExistsError, InputError
from keras_irdi.evaluation.level_sweep import run_sweep
from keras_irdi.reporting.sweep_files import COLUMNS


def _run_with_full_sweep(path, tiny_run, cifar_dir, stages=True):
    """A run directory (tiny random stages, smoke preset, bundled CIFAR-10) holding a committed 100-level sweep."""
    from keras_irdi.presets import get_preset
    from keras_irdi.runs.config import RunConfig, RuntimeConfig

    if stages:
        shutil.copytree(tiny_run, path)
    run = RunDir(path)
    config = RunConfig(degradation="jpeg", preset=get_preset("smoke"), runtime=RuntimeConfig(data_dir=str(cifar_dir)))
    run.update_manifest(schema_version=SCHEMA_VERSION, config=config.to_dict())
    (path / "eval").mkdir(exist_ok=True)
    rows = "\n".join(",".join([str(q)] + ["0.5"] * (len(COLUMNS) - 1)) for q in range(1, 101))
    (path / "eval" / "jpeg_cifar10.csv").write_text(",".join(COLUMNS) + "\n" + rows + "\n")
    (path / "eval" / "jpeg_cifar10.json").write_text(json.dumps({"n_images": 10000, "rows": []}))
    return path / "eval" / "jpeg_cifar10.csv"


@pytest.mark.parametrize("option", [("--levels", "abc"), ("--levels", "5,nan"), ("--step", "-3"), ("--step", "0"),
                                    ("--limit", "0"), ("--batch-size", "0")])
def test_bad_options_are_one_line_and_write_nothing(tmp_path, tiny_run, cifar_dir, option):
    csv_path = _run_with_full_sweep(tmp_path / "run", tiny_run, cifar_dir, stages=False)
    before = csv_path.read_bytes()
    proc = run_script("evaluate/sweep.py", "--run-dir", tmp_path / "run", *option)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert option[0] in proc.stderr and proc.stderr.strip().splitlines()[-1].startswith("sweep.py: error:")
    assert csv_path.read_bytes() == before


def test_out_of_range_levels_fail_before_the_stages_load(tmp_path, tiny_run, cifar_dir):
    _run_with_full_sweep(tmp_path / "run", tiny_run, cifar_dir, stages=False)  # no stage at all
    with pytest.raises(InputError, match="1..100"):
        run_sweep(tmp_path / "run", levels=[0, 50], verbose=False)
    with pytest.raises(InputError, match="--step must be a whole number >= 1, got -3"):
        run_sweep(tmp_path / "run", step=-3, verbose=False)


def test_a_smaller_sweep_does_not_replace_a_fuller_one_without_force(tmp_path, tiny_run, cifar_dir):
    csv_path = _run_with_full_sweep(tmp_path / "run", tiny_run, cifar_dir)
    before = csv_path.read_bytes()
    with pytest.raises(ExistsError, match=r"fuller sweep \(100 levels x 10000 images\).*3 levels x 10 images.*--force"):
        run_sweep(tmp_path / "run", levels=[5, 60, 100], limit=10, verbose=False)
    assert csv_path.read_bytes() == before
    result = run_sweep(tmp_path / "run", levels=[5, 60, 100], limit=10, verbose=False, force=True)
    assert len(result["rows"]) == 3 and csv_path.read_bytes() != before
    run_sweep(tmp_path / "run", levels=[5, 60, 100], limit=10, verbose=False)  # as full as the one in place: fine


def test_a_bfloat16_sweep_runs_the_convolutional_stages_reduced(tmp_path, tiny_run, cifar_dir, monkeypatch):
    """--precision bfloat16: every convolutional stage computes in mixed bfloat16, the weight net in float32;
    the accuracies stay near float32's and the precision is recorded. float32 (the default) runs the saved
    stages as they are."""
    from keras_irdi.models import forward

    _run_with_full_sweep(tmp_path / "run", tiny_run, cifar_dir)
    seen = {}
    original = forward.SharedForward.__init__

    def spy(self, stages):
        seen.update({name: {layer.dtype_policy.name for layer in model.layers} for name, model in stages.items()})
        original(self, stages)

    monkeypatch.setattr(forward.SharedForward, "__init__", spy)
    kw = dict(levels=[5, 60], limit=40, verbose=False, force=True)
    full = run_sweep(tmp_path / "run", **kw)
    assert full["precision"] == "float32" and all(policies == {"float32"} for policies in seen.values())
    reduced = run_sweep(tmp_path / "run", precision="bfloat16", **kw)
    assert reduced["precision"] == "bfloat16"
    assert RunDir(tmp_path / "run").manifest()["eval"]["jpeg_cifar10"]["precision"] == "bfloat16"
    assert seen["weight_net"] == {"float32"}
    assert all("mixed_bfloat16" in seen[s] for s in ("restoration", "estimator", "cla_org", "cla_deg", "cla_res"))
    for a, b in zip(full["rows"], reduced["rows"]):
        assert abs(a["acc_proposed"] - b["acc_proposed"]) <= 0.1  # 40 images: a few may change class
        # The continuous outputs show that the reduced stages are the saved ones, rounded (random weights, so
        # the accuracies alone sit near chance either way).
        assert abs(a["psnr_restored"] - b["psnr_restored"]) <= 0.3 and a["psnr_restored"] != a["psnr_degraded"]
        assert abs(a["level_est_mean"] - b["level_est_mean"]) <= 2.0  # QF units
        assert abs(a["w_org"] - b["w_org"]) <= 0.02
    with pytest.raises(InputError, match="precision must be one of float32, bfloat16, float16, got 'auto'"):
        run_sweep(tmp_path / "run", precision="auto", **kw)
