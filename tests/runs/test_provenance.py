"""keras_irdi.runs.provenance: the commit and command a run records, the manifest it publishes (no path of
this machine), and RunDir.update_manifest's replace-or-merge rule."""
import json
import re

import pytest

from helpers import REPO
from keras_irdi.runs.directory import RunDir
from keras_irdi.runs.provenance import SCHEMA_VERSION, code_commit, public_manifest, typed_command


def test_public_manifest_drops_this_machine_s_paths():
    manifest = {"schema_version": 2,
                "config": {"degradation": "jpeg",
                           "runtime": {"cifar_dir": "/home/me/cifar", "clean_dirs": ["/home/me/T91"],
                                       "strategy": "default"}},
                "data": {"cifar_source": "/home/me/cifar/cifar-10-batches-py", "cifar_sha256": "ab", "train": 3},
                "commands": [{"command": "python train/all.py --cifar-dir ../data"}]}
    public = public_manifest(manifest)
    assert "/home/me" not in json.dumps(public)
    assert public["config"]["runtime"] == {"data_dir": None, "clean_dirs": None, "strategy": "default"}
    assert public["data"] == {"cifar_sha256": "ab", "train": 3}
    assert public["commands"] == manifest["commands"] and public["config"]["degradation"] == "jpeg"
    assert manifest["config"]["runtime"]["cifar_dir"] == "/home/me/cifar"  # the run's own is untouched
    # Today's names (--data-dir): the same.
    manifest["config"]["runtime"] = {"data_dir": "/home/me/photos", "clean_dirs": None, "strategy": "default"}
    manifest["data"] = {"source": "/home/me/cifar/cifar-10-batches-py", "sha256": "ab"}
    public = public_manifest(manifest)
    assert "/home/me" not in json.dumps(public) and public["data"] == {"sha256": "ab"}


def test_a_manifest_that_names_the_data_dir_by_cifar_still_opens():
    from keras_irdi.runs.config import RunConfig

    stored = RunConfig().to_dict()
    stored["runtime"] = {"cifar_dir": "/data/cifar", "clean_dirs": None, "strategy": "default"}
    assert RunConfig.from_dict(stored).runtime.data_dir == "/data/cifar"


def test_commit_and_command():
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", code_commit())
    assert typed_command(["train/all.py", "--cifar-dir", "../my data"]) == \
        "python train/all.py --cifar-dir '../my data'"


def test_update_manifest_replaces_fields_and_merges_entries(tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.update_manifest(schema_version=SCHEMA_VERSION, config={"seed": 0, "removed": 1},
                        stages={"restoration": {"seconds": 1}})
    run.update_manifest(config={"seed": 1}, stages={"estimator": {"seconds": 2}})
    manifest = run.manifest()
    assert manifest["config"] == {"seed": 1}  # a field no longer written leaves the manifest
    assert set(manifest["stages"]) == {"restoration", "estimator"}  # one entry per stage


@pytest.mark.slow
def test_a_run_records_its_schema_commit_and_commands(smoke_run, tmp_path):
    run, _ = smoke_run
    rd = RunDir(run)
    manifest = rd.manifest()
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["commands"][0]["command"].startswith("irdi train --preset smoke")  # as the README types it
    assert manifest["versions"]["commit"] == code_commit() == manifest["stages"]["restoration"]["commit"]
    assert json.loads((rd.stage_dir("weight_net") / "config.json").read_text())["schema_version"] == SCHEMA_VERSION
    from keras_irdi.commands import publish

    publish.main(["--run-dir", str(run), "--out", str(tmp_path / "results"), "--models-out", str(tmp_path / "models")])
    page = (tmp_path / "results" / "README.md").read_text()  # the run's own page, from its files
    assert "irdi train --preset smoke" in page and "| Proposed |" in page and "## Cost" in page
    assert "![accuracy of the six networks at every level](figures/accuracy_jpeg_cifar10.png)" in page
    for published in (tmp_path / "results" / "manifest.json", tmp_path / "models" / "manifest.json"):
        text = published.read_text()
        assert "cifar10_subset.npz" not in text and str(REPO) not in text, published  # the data paths went


def test_a_run_of_another_schema_is_refused_with_one_line(tmp_path, capsys):
    from keras_irdi.errors import InputError

    run = RunDir(tmp_path / "old")
    run.path.mkdir()
    (run.path / "manifest.json").write_text(json.dumps({"config": {"degradation": "jpeg"}}))  # before 1.0
    with pytest.raises(InputError, match=rf"written by keras-irdi before 1.0; this version reads run schema "
                                         rf"{SCHEMA_VERSION}: train it again into a new --run-dir"):
        run.manifest()
    (run.path / "manifest.json").write_text(json.dumps({"schema_version": 99, "config": {}}))
    with pytest.raises(InputError, match="with run schema 99"):
        run.update_manifest(seed=1)  # nothing is written into it either
    assert RunDir(tmp_path / "new").manifest() == {}  # a new run is not refused


def test_published_commands_keep_relative_paths_and_hide_absolute_ones():
    from keras_irdi.runs.provenance import public_manifest

    typed = ["python train/all.py --preset wide_v1 --run-dir /work/runs/w --cifar-dir /tmp/data --clean-dir '/x y/T91'",
             "python evaluate/sweep.py --run-dir ../runs/w --cifar-dir ../data",
             "irdi train --dataset folder:/home/me/photos --run-dir r"]
    manifest = {"commands": [{"command": c, "commit": "abc"} for c in typed]}
    public = public_manifest(manifest)["commands"]
    assert [c["command"] for c in public] == [
        "python train/all.py --preset wide_v1 --run-dir RUN --cifar-dir DATA --clean-dir CLEAN", typed[1],
        "irdi train --dataset folder:DATA --run-dir r"]
    assert all(c["commit"] == "abc" for c in public) and manifest["commands"][0]["command"] == typed[0]
