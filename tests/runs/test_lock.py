"""One process at a time per run directory (keras_irdi/runs/lock.py): the second gets one line naming the
holder, and a killed holder leaves no stuck lock."""
import signal
import subprocess
import sys
import time

import pytest

from helpers import REPO, run_script
from keras_irdi.runs.provenance import SCHEMA_VERSION
from keras_irdi.runs.lock import RunLockedError, holding_run, lock_run, unlock_run

HOLD = ("import sys, time; sys.path.insert(0, sys.argv[2]); from keras_irdi.runs.lock import lock_run; "
        "lock_run(sys.argv[1]); print('locked', flush=True); time.sleep(120)")


def _holder(path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(REPO)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_process_is_refused_naming_the_holder_and_a_killed_holder_frees_it(tmp_path):
    holder = _holder(tmp_path)
    try:
        with pytest.raises(RunLockedError, match=rf"in use by pid {holder.pid} .*another --run-dir") as err:
            lock_run(tmp_path)
        assert "\n" not in str(err.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lock_run(tmp_path)  # the kernel dropped the dead process's lock: nothing to clean by hand
    unlock_run(tmp_path)


def test_lock_is_reentrant_in_one_process(tmp_path):
    with holding_run(tmp_path):
        with holding_run(tmp_path):  # train/all.py's sweep runs in the process holding the run
            pass
        lock_run(tmp_path)
    unlock_run(tmp_path)
    holder = _holder(tmp_path)  # released: another process can take it
    holder.kill()
    holder.wait()


@pytest.mark.slow
def test_a_sweep_on_a_run_in_use_is_one_line(tmp_path):
    """The sweep takes the lock too: exit 2 at once, naming the holder, nothing written."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text('{"schema_version": %d, "config": {}}' % SCHEMA_VERSION)
    holder = _holder(run)
    try:
        proc = run_script("evaluate/sweep.py", "--run-dir", run)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert proc.stderr.strip().splitlines() == [
            f"error: run directory {run} is in use by pid {holder.pid} (-c {run} {REPO}); wait for it to finish "
            "(or stop it), or use another --run-dir"], proc.stderr
        assert sorted(p.name for p in run.iterdir()) == [".lock", "manifest.json"]
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_two_train_all_started_at_once(tmp_path):
    """Both commands started together on a new run directory: one trains, the other stops at once naming it."""
    run = tmp_path / "run"
    command = [sys.executable, str(REPO / "train/all.py"), "--preset", "smoke", "--run-dir", str(run), "--no-eval"]
    procs = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    try:
        deadline = time.time() + 300
        while all(p.poll() is None for p in procs) and time.time() < deadline:
            time.sleep(0.2)
        loser = next(p for p in procs if p.poll() is not None)
        winner = next(p for p in procs if p is not loser)
        err = loser.stderr.read()
        assert loser.returncode == 2, err[-2000:]
        assert err.strip().splitlines() == [f"error: run directory {run} is in use by pid {winner.pid} "
                                            f"({' '.join(command[1:])}); wait for it to finish (or stop it), "
                                            "or use another --run-dir"], err
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            p.communicate(timeout=120)
