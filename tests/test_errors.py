"""keras_irdi.errors: main_wrapper, the one error boundary of every command, and how Ctrl-C and SIGTERM
end one."""
import os
import signal
import time

import pytest

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
