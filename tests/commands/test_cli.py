"""The command-line scripts (train/, evaluate/, figures/) over keras_irdi.commands.cli: options and user
errors end in one line and exit status 2, before any work. In-process (helpers.call_cli): no interpreter or
TensorFlow start-up per check."""
import errno
import io
import os

import pytest

from keras_irdi.runs import directory
from keras_irdi.runs.directory import RunDir
from keras_irdi.training import stages
from helpers import call_cli
from sweep_csv import jpeg_row, write_sweep

TRAIN_SCRIPTS = ["train/restoration.py", "train/estimator.py", "train/ensemble.py", "train/all.py"]


@pytest.fixture(autouse=True)
def _signals(restore_signals):
    """call_cli runs main_wrapper, which installs SIGINT/SIGTERM handlers: put pytest's back."""


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") or "usage:" in err, err
    assert "Traceback" not in err
    return err


# -- the training CLIs' options ---------------------------------------------------------------------------
@pytest.mark.parametrize("script", TRAIN_SCRIPTS)
@pytest.mark.parametrize("option, value", [("--preset", "smal"), ("--degradation", "motion"),
                                           ("--dataset", "mnist"), ("--strategy", "tpu")])
def test_train_clis_list_the_choices(tmp_path, capsys, script, option, value):
    assert call_cli(script, "--run-dir", tmp_path / "r", option, value) == 2
    err = _one_line_error(capsys)
    if option == "--dataset":  # a registered name or NAME:PATH
        assert "unknown dataset 'mnist'; choose one of: cifar10, cifar100, folder" in err
    else:
        assert f"invalid choice: '{value}'" in err and "choose from" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args,expected", [
    (["--preset", "smal"], "invalid choice: 'smal'"),
    (["--degradation", "motion"], "invalid choice: 'motion'"),
    (["--dataset", "mnist"], "unknown dataset 'mnist'; choose one of"),
    (["--data", "noisy"], "invalid choice: 'noisy'"),
])
def test_classifier_cli_lists_the_choices(tmp_path, capsys, args, expected):
    base = ["--run-dir", tmp_path / "r"] + ([] if "--data" in args else ["--data", "clean"])
    assert call_cli("train/classifier.py", *base, *args) == 2
    err = _one_line_error(capsys)
    assert expected in err and ("choose from" in err or "choose one of" in err)


def test_train_cli_bad_numbers(tmp_path, capsys):
    assert call_cli("train/restoration.py", "--run-dir", tmp_path / "r", "--epochs", "ten") == 2
    assert "--epochs: must be a whole number >= 1, got 'ten'" in _one_line_error(capsys)
    assert call_cli("train/all.py", "--run-dir", tmp_path / "r", "--epochs", "3") == 2
    assert "--epochs and --batch-size set one stage's schedule: give --stage too" in _one_line_error(capsys)
    assert call_cli("train/restoration.py", "--run-dir", tmp_path / "r", "--epochs", "0") == 2
    assert "--epochs: must be a whole number >= 1, got '0'" in _one_line_error(capsys)
    for seed in ("-1", str(2 ** 32), "1.5"):  # Keras's seeding refuses them: they must not reach a manifest
        assert call_cli("train/all.py", "--run-dir", tmp_path / "r", "--seed", seed) == 2
        assert f"--seed: must be a whole number in 0..2147483647, got '{seed}'" in _one_line_error(capsys)
    assert not (tmp_path / "r").exists()


# -- user errors: one line, exit 2, says what to do -------------------------------------------------------
def test_missing_prerequisite_names_the_command(tmp_path, cifar_dir, capsys):
    assert call_cli("train/classifier.py", "--data", "restored", "--run-dir", tmp_path / "r", "--preset", "smoke",
                    "--cifar-dir", cifar_dir) == 2
    assert "irdi train --stage restoration" in _one_line_error(capsys)
    assert call_cli("train/ensemble.py", "--run-dir", tmp_path / "r") == 2
    assert "irdi train --stage estimator" in _one_line_error(capsys)


def test_no_data_and_no_network_says_how_to_point_at_a_copy(tmp_path, capsys):
    assert call_cli("train/classifier.py", "--data", "clean", "--run-dir", tmp_path / "r", "--preset", "smoke",
                    "--cifar-dir", tmp_path / "nowhere") == 2
    assert "nowhere" in _one_line_error(capsys)


def test_unwritable_run_dir_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert call_cli("train/restoration.py", "--run-dir", blocker / "run", "--preset", "smoke") == 2
    assert "not writable" in _one_line_error(capsys)


def test_bad_path_fails_before_any_work_and_leaves_no_run(tmp_path, capsys):
    assert call_cli("train/all.py", "--preset", "smoke", "--run-dir", tmp_path / "R",
                    "--clean-dir", tmp_path / "nope") == 2
    assert "nope" in _one_line_error(capsys)
    assert not (tmp_path / "R").exists(), "a command that failed validation must leave no run behind"
    assert call_cli("train/all.py", "--preset", "smoke", "--run-dir", tmp_path / "R",
                    "--cifar-dir", tmp_path / "none") == 2
    assert "none" in _one_line_error(capsys) and not (tmp_path / "R").exists()


# -- an unwritable run directory: fails before any training ----------------------------------------------
class _FullDiskFile(io.BytesIO):
    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["open", "write"])
def test_disk_full_fails_before_training(tmp_path, monkeypatch, where, capsys):
    def full_open(path, mode="r", *args, **kwargs):
        if where == "open":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return _FullDiskFile()

    monkeypatch.setattr(directory, "open", full_open, raising=False)  # shadows the builtin there only
    with pytest.raises(PermissionError, match=r"run directory .* is not writable \(No space left on device\); "
                                              r"choose another --run-dir or free disk space"):
        RunDir(tmp_path / "a").ensure_writable()

    started = []
    monkeypatch.setattr(stages, "train_restoration", lambda *a: started.append(a))
    code = call_cli("train/restoration.py", "--run-dir", tmp_path / "b", "--preset", "smoke")
    err = capsys.readouterr().err
    assert code == 2 and not started
    assert err.strip().splitlines() == [f"error: run directory {tmp_path / 'b'} is not writable (No space left "
                                        "on device); choose another --run-dir or free disk space"]
    assert not (tmp_path / "b" / "manifest.json").exists()


def test_run_dir_below_a_file_fails_before_training(tmp_path, monkeypatch, capsys):
    started = []
    monkeypatch.setattr(stages, "train_classifier", lambda *a, **kw: started.append(a))
    (tmp_path / "file").write_text("a file, not a folder")
    code = call_cli("train/classifier.py", "--run-dir", tmp_path / "file" / "run", "--data", "clean",
                    "--preset", "smoke")
    assert code == 2 and "is not writable (Not a directory)" in capsys.readouterr().err
    assert not started


# -- the evaluation and report CLIs -----------------------------------------------------------------------
def test_sweep_cli_without_stages_names_train_all(tmp_path, capsys):
    assert call_cli("evaluate/sweep.py", "--run-dir", tmp_path) == 2
    assert "irdi train --run-dir" in _one_line_error(capsys)


@pytest.mark.parametrize("script", ["evaluate/tables.py", "figures/make_figures.py"])
def test_report_clis_without_a_sweep_say_what_to_run(tmp_path, capsys, script):
    (tmp_path / "eval").mkdir()
    assert call_cli(script, "--run-dir", tmp_path) == 2
    err = _one_line_error(capsys)
    assert err.strip().count("\n") == 0
    assert f"run irdi sweep --run-dir {tmp_path} first" in err


def test_tables_cli_writes_tables(tmp_path, capsys):
    write_sweep(tmp_path, "jpeg_cifar10", [jpeg_row(q) for q in range(1, 101)],
                {"degradation": "jpeg", "dataset": "cifar10", "n_images": 1000})
    assert call_cli("evaluate/tables.py", "--run-dir", tmp_path) == 0
    assert capsys.readouterr().out.strip() == f"wrote 13 files into {tmp_path / 'tables'}"
    assert (tmp_path / "tables" / "jpeg_cifar10_claims.md").is_file()
