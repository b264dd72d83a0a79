"""keras_irdi.errors: main_wrapper, the one error boundary of every command, and how Ctrl-C and SIGTERM
end one."""
import errno
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from keras_irdi import errors
from keras_irdi.errors import main_wrapper
from keras_irdi.errors import AccessError, InputError, MissingError, UserError


def _raising(exc):
    def body(argv):
        raise exc
    return body


@pytest.mark.parametrize("exc, line", [(InputError("bad level 300\nuse 1..100"), "error: bad level 300 use 1..100"),
                                       (MissingError("no CIFAR in /x"), "error: no CIFAR in /x"),
                                       (AccessError("cannot write /y"), "error: cannot write /y")])
def test_user_errors_are_one_line_and_exit_2(exc, line, capsys):
    assert main_wrapper(_raising(exc), []) == 2
    assert capsys.readouterr().err == line + "\n"


@pytest.mark.parametrize("exc", [RuntimeError("a bug"), OSError("disk on fire"), ValueError("a shape bug"),
                                 KeyError("oops")])
def test_anything_else_is_a_bug_and_keeps_its_traceback(exc):
    with pytest.raises(type(exc)):
        main_wrapper(_raising(exc), [])


def test_exit_status_and_interrupt(capsys):
    assert main_wrapper(lambda argv: None, []) == 0
    assert main_wrapper(lambda argv: 1, []) == 1  # e.g. predict: some files unreadable
    assert main_wrapper(_raising(KeyboardInterrupt()), [], interrupted="stopped") == 130
    assert capsys.readouterr().err.strip() == "stopped"


def test_library_errors_keep_their_builtin_bases():
    """Callers that catch ValueError / FileNotFoundError keep working."""
    from keras_irdi.runs.directory import MissingStageError
    from keras_irdi.degradations import degrade

    with pytest.raises(ValueError):
        degrade(__import__("numpy").zeros((4, 4, 3), "uint8"), "jpeg", 0)
    assert issubclass(MissingStageError, FileNotFoundError) and issubclass(MissingStageError, UserError)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signals_exit_130_with_the_resume_hint(signum, restore_signals, capsys):
    """Also when the shell started the job in the background with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reached = []

    def body(argv):
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler interrupts this
        reached.append("after sleep")

    start = time.time()
    assert main_wrapper(body) == 130
    assert not reached and time.time() - start < 4
    assert "interrupted: rerun the same command to resume" in capsys.readouterr().err


# -- a full disk: one line, exit status 2, wherever it is met ----------------------------------------------
def _tf_error(message):
    import tensorflow as tf

    return tf.errors.ResourceExhaustedError(None, None, message)


@pytest.mark.parametrize("exc, line", [
    (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/"), "error: no space left on /: free some space and rerun"),
    (OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)), "error: disk quota exceeded on /: free some space and rerun"),
    # h5py: the errno, and the C library's text inside its own
    (OSError(errno.ENOSPC, "Can't synchronously write data (errno = 28, error message = 'No space left on "
                           "device')"), "error: no space left on /: free some space and rerun"),
    # TensorFlow's writers (model.export, checkpoints, summaries): "PATH; No space left on device"
    (_tf_error("{{function_node __wrapped__WriteFile}} /tmp/x.bin; No space left on device [Op:WriteFile]"),
     "error: no space left on /tmp: free some space and rerun"),
])
def test_a_full_disk_anywhere_is_one_line_and_exit_2(exc, line, capsys, monkeypatch):
    monkeypatch.chdir("/")
    monkeypatch.setattr(errors, "mount_point", lambda path: "/tmp" if str(path).startswith("/tmp") else "/")
    assert main_wrapper(_raising(exc), []) == 2
    assert capsys.readouterr().err == line + "\n"


def test_out_of_memory_is_not_a_full_disk():
    """TensorFlow raises ResourceExhaustedError for both; an OOM keeps its traceback."""
    oom = _tf_error("OOM when allocating tensor with shape[1000000,1000000] and type float on /job:localhost")
    assert errors.disk_full_code(oom) is None
    with pytest.raises(type(oom)):
        main_wrapper(_raising(oom), [])


def test_a_full_disk_says_what_to_free(tmp_path, monkeypatch):
    """N is what the write lacks once it has cleaned up: what it needs minus what is free, rounded up."""
    monkeypatch.setattr(errors, "free_bytes", lambda path: 300_000)
    with pytest.raises(errors.DiskFullError) as caught:
        errors.ensure_space(tmp_path, 2_500_000, writing=tmp_path / "x.h5")
    assert str(caught.value) == (f"no space left on {errors.mount_point(tmp_path)} (writing {tmp_path / 'x.h5'}): "
                                 "free 3 MB and rerun")
    errors.ensure_space(tmp_path, 300_000)  # fits: nothing raised

    with pytest.raises(errors.DiskFullError, match=r": free 1 MB and rerun$"):
        with errors.full_disk_is_user_error(tmp_path, 1_000_000):
            raise _tf_error(f"{tmp_path}/a; No space left on device")
    with pytest.raises(ValueError, match="a bug"):  # anything else passes unchanged
        with errors.full_disk_is_user_error(tmp_path, 1_000_000):
            raise ValueError("a bug")


# -- temporary files: a folder of the command's own, removed however it ends ---------------------------------
def test_temporary_files_go_to_a_folder_removed_however_the_command_ends(tmp_path, monkeypatch, restore_signals):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen = []

    def body(argv):
        seen.append(tempfile.gettempdir())
        tempfile.NamedTemporaryFile(prefix="__autograph_generated_file", suffix=".py", delete=False).close()
        raise argv[0]

    for exc, code in ((errors.InputError("bad"), 2), (KeyboardInterrupt(), 130)):
        assert main_wrapper(body, [exc]) == code
    with pytest.raises(RuntimeError):
        main_wrapper(body, [RuntimeError("a bug")])
    assert all(Path(d).parent == tmp_path and Path(d).name.startswith(f"keras_irdi-{os.getpid()}-") for d in seen)
    assert list(tmp_path.iterdir()) == [] and tempfile.gettempdir() == str(tmp_path)


def test_the_folder_of_a_killed_command_is_removed_by_the_next(tmp_path, monkeypatch, restore_signals):
    """SIGKILL or a crash runs no cleanup: the next command removes the folders whose process is gone."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead, alive = tmp_path / f"keras_irdi-{gone.pid}-x", tmp_path / f"keras_irdi-{os.getppid()}-y"
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "__autograph_generated_file1.py").write_text("")
    assert main_wrapper(lambda argv: None, []) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name]
