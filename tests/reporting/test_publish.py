"""Publishing a run (evaluate/publish.py, keras_irdi.reporting.publish): each folder is replaced whole, so an
interrupt leaves the previous one byte for byte and no temporary beside it; the models folder gets a model
card whose numbers are the results folder's tables."""
import csv
import os
import re
import shutil
import signal

import numpy as np
import pytest


from keras_irdi.errors import ExistsError, InputError
from keras_irdi.reporting import confidence
from keras_irdi.reporting import publish as folders
from keras_irdi.reporting.publish import check_destinations, staged
from sweep_csv import jpeg_row, write_sweep

TRAIN = "python train/all.py --preset small_v1 --degradation jpeg --run-dir runs/r --cifar-dir DATA"


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(*parents):
    return [p.name for parent in parents for p in parent.iterdir() if p.name.startswith(".")]


def _interrupt(signum, frame):  # main_wrapper's
    raise KeyboardInterrupt


# ----------------------------------------------------------------------------------------------------
# The folder swap (no TensorFlow)
# ----------------------------------------------------------------------------------------------------

def _published(folder, text):
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(text)
    return folder


def test_an_error_while_filling_keeps_the_old_folder(tmp_path):
    old = _published(tmp_path / "results" / "run", "old")
    with pytest.raises(RuntimeError, match="disk"):
        with staged(old) as (temp,):
            (temp / "manifest.json").write_text("new")
            raise RuntimeError("disk")
    assert _snapshot(old) == {"manifest.json": b"old"} and _leftovers(tmp_path / "results") == []


def test_a_finished_block_replaces_the_folder_whole(tmp_path):
    old = _published(tmp_path / "run", "old")
    (old / "stale.csv").write_text("from the previous publish")
    with staged(old, tmp_path / "new" / "models") as (temp, models):
        (temp / "manifest.json").write_text("new")
        (models / "manifest.json").write_text("models")
    assert _snapshot(old) == {"manifest.json": b"new"} and _snapshot(tmp_path / "new" / "models") == \
        {"manifest.json": b"models"}
    assert _leftovers(tmp_path, tmp_path / "new") == []


def test_an_interrupt_during_the_swap_waits_until_it_is_done(tmp_path, monkeypatch, restore_signals):
    signal.signal(signal.SIGINT, _interrupt)
    old = _published(tmp_path / "run", "old")
    rename, renamed = os.rename, []

    def interrupted_rename(src, dst):  # Ctrl-C once the old folder is aside, before the new one is in
        if renamed:
            os.kill(os.getpid(), signal.SIGINT)
        renamed.append(src)
        rename(src, dst)

    monkeypatch.setattr(folders.os, "rename", interrupted_rename)
    with pytest.raises(KeyboardInterrupt):
        with staged(old) as (temp,):
            (temp / "manifest.json").write_text("new")
    monkeypatch.undo()
    assert _snapshot(old) == {"manifest.json": b"new"} and _leftovers(tmp_path) == []
    assert signal.getsignal(signal.SIGINT) is _interrupt


def test_destinations_that_replacing_would_destroy_are_refused(tmp_path):
    run = _published(tmp_path / "run", "{}")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep")
    with pytest.raises(ExistsError, match="not a published folder .no manifest.json."):
        check_destinations(run, tmp_path / "notes")
    for dests in ([run], [tmp_path / "results", tmp_path / "results" / "models"], [tmp_path / "a", tmp_path / "a"]):
        with pytest.raises(InputError, match="three separate folders"):
            check_destinations(run, *dests)
    check_destinations(run, tmp_path / "results", tmp_path / "models")  # new folders are fine


# ----------------------------------------------------------------------------------------------------
# irdi publish (evaluate/publish.py) on a tiny swept run
# ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def publish():
    from keras_irdi.commands import publish as module

    return module


@pytest.fixture(scope="module")
def swept_run(tiny_run, tmp_path_factory):
    """The tiny run with a sweep over every QF of 60 images (per-image correctness, so the claims have CIs),
    its tables, and the manifest of a small_v1 run."""
    from keras_irdi.presets import get_preset
    from keras_irdi.reporting.tables import write_all_tables
    from keras_irdi.runs.directory import RunDir

    run = tmp_path_factory.mktemp("publish") / "run"
    shutil.copytree(tiny_run, run)
    RunDir(run).update_manifest(config={"degradation": "jpeg", "dataset": "cifar10", "seed": 0,
                                        "preset": get_preset("small_v1").to_dict()},
                                commands=[{"command": TRAIN}], versions={"keras_irdi": "1.0.0", "commit": "c0ffee"},
                                data={"train": 42750, "val": 2250, "test": 60},
                                eval={"jpeg_cifar10": {"levels": 100, "n_images": 60}})
    rng, levels = np.random.default_rng(0), np.arange(1, 101)
    p = {"cla_org": 0.6, "cla_deg": 0.65, "seq_org": 0.62, "seq_res": 0.66, "ens_cla": 0.64, "proposed": 0.8}
    correct = {net: rng.random((levels.size, 60)) < share for net, share in p.items()}
    rows = [dict(jpeg_row(int(q)), **{f"acc_{n}": c[i].mean() for n, c in correct.items()})
            for i, q in enumerate(levels)]
    write_sweep(run, "jpeg_cifar10", rows, {"degradation": "jpeg", "dataset": "cifar10", "n_images": 60})
    confidence.write_correct(run / "eval" / "jpeg_cifar10_correct.npz", levels, correct)
    write_all_tables(run)
    (run / "logs").mkdir()
    (run / "logs" / "cla_org.csv").write_text("epoch,loss\n0,1.0\n")
    return run


@pytest.mark.slow
def test_the_model_card_states_the_runs_numbers(publish, swept_run, tmp_path):
    results, models = tmp_path / "results" / "r", tmp_path / "models" / "r"
    publish.main(["--run-dir", str(swept_run), "--out", str(results), "--models-out", str(models)])
    card = (models / "README.md").read_text()
    for section in ("What it is", "Training data and recipe", "Results", "Intended use and limits", "Licence",
                    "How it was made"):
        assert f"\n## {section}\n" in card, section
    with open(results / "tables" / "jpeg_cifar10_intervals.csv", newline="") as f:
        full = list(csv.DictReader(f))[-1]
    assert full["interval"] == "(1,100)"
    for network in ("Cla(org)", "Cla(jpg)", "Seq(org)", "Seq(res)", "Ens(Cla)", "Proposed"):
        assert f"| {network} | {float(full[network]):.3f} |" in card, network
    with open(results / "tables" / "jpeg_cifar10_claims.csv", newline="") as f:
        best = next(r for r in csv.DictReader(f) if r["claim"] == "Proposed best on the full interval")
    ci = re.search(r"95% CI \[[^]]+\]", best["evidence"]).group()
    assert f"**{best['verdict']}**" in card and ci in card  # Proposed's closest call, with its CI
    assert "[the results page](../../results/r/README.md)" in card and (results / "README.md").is_file()
    assert "(../../results/r/tables/jpeg_cifar10_claims.md)" in card
    assert "32x32 RGB images of the 10 CIFAR-10 classes (airplane," in card and "the paper's restoration 64" in card
    assert "MIT License, as the code" in card and "commit `c0ffee`" in card and TRAIN in card
    # --card-only writes the same card from the published folders alone, and nothing else
    before = _snapshot(models)
    (models / "README.md").write_text("an old card")
    publish.main(["--card-only", "--out", str(results), "--models-out", str(models)])
    assert _snapshot(models) == before


@pytest.mark.slow
def test_an_interrupted_republish_leaves_the_previous_folders_as_they_were(publish, swept_run, tmp_path, monkeypatch,
                                                                          capsys, restore_signals):
    results, models = tmp_path / "results" / "r", tmp_path / "models" / "r"
    argv = ["--run-dir", str(swept_run), "--out", str(results), "--models-out", str(models)]
    copy, copies = publish.copy_file, []

    def copy_stopping_at(stop):
        """publish's copy, interrupted (as Ctrl-C would) at its ``stop``-th file; counting them all."""
        def copy_file(src, dst):
            copies.append(dst)
            if len(copies) == stop:
                raise KeyboardInterrupt
            copy(src, dst)
        copies.clear()
        return copy_file

    monkeypatch.setattr(publish, "copy_file", copy_stopping_at(None))
    assert publish.run(argv) == 0
    n_results = sum(results.parent in p.parents for p in copies)  # into its temporary sibling
    assert 0 < n_results < len(copies)  # copies into both folders: the interrupts below hit each
    (results / "stale.csv").write_text("left by an older publish")
    published = {folder: _snapshot(folder) for folder in (results, models)}
    new_log = swept_run / "logs" / "new.csv"
    new_log.write_text("epoch\n0\n")  # the republish has something new to publish
    try:
        for stop in (2, n_results + 1):  # in the results folder; in the models folder, with the results done
            monkeypatch.setattr(publish, "copy_file", copy_stopping_at(stop))
            capsys.readouterr()
            assert publish.run(argv) == 130
            assert {folder: _snapshot(folder) for folder in published} == published, stop
            assert _leftovers(results.parent, models.parent) == []
            message = capsys.readouterr().err.strip().splitlines()[-1]
            assert message.startswith("interrupted: nothing was left half-published")
            assert message.endswith(f"rerun publish to finish: python evaluate/publish.py --run-dir {swept_run} "
                                    f"--out {results} --models-out {models}")
        monkeypatch.setattr(publish, "copy_file", copy)
        assert publish.run(argv) == 0  # rerun: the new folders whole, the older publish's file gone
        assert (results / "logs" / "new.csv").is_file() and not (results / "stale.csv").exists()
        assert _snapshot(models).keys() == published[models].keys()
    finally:
        new_log.unlink()
