"""A real full disk: the smoke run trained into a 2 MB tmpfs stops with one line and exit status 2, leaves no
temporary file or folder (in the run directory or the temporary folder), and once space is freed the same
command finishes without retraining a stage it had finished (docs/RELIABILITY.md, "a full disk").

Mounting needs root (or CAP_SYS_ADMIN); elsewhere the test says so and skips. The patched-writer tests
(test_full_disk.py) cover each write site without a mount."""
import os
import re
import subprocess
import sys

import pytest

from helpers import REPO

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs at tmp_path/disk, unmounted afterwards; ``remount(size)`` frees space keeping the files."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'mount failed'})")

    def remount(size):
        subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True)

    yield disk, remount
    subprocess.run(["umount", str(disk)], check=False)


def _train(run_dir, tmp):
    """train/all.py --preset smoke, its temporary files in ``tmp`` (TMPDIR)."""
    env = {**os.environ, "TMPDIR": str(tmp)}
    env.pop("IRDI_CIFAR_DIR", None)
    return subprocess.run([sys.executable, str(REPO / "train/all.py"), "--preset", "smoke", "--run-dir", str(run_dir)],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=3600)


def _finished(run_dir) -> dict:
    """{stage: model.keras's modification time} of the stages saved whole."""
    return {d.name: (d / "model.keras").stat().st_mtime_ns for d in run_dir.iterdir()
            if (d / "identity.json").is_file() and (d / "model.keras").is_file()}


def test_smoke_run_on_a_full_disk_stops_with_one_line_and_resumes(small_disk, tmp_path):
    disk, remount = small_disk
    run, tmp = disk / "run", tmp_path / "tmp"
    tmp.mkdir()
    failed = _train(run, tmp)
    assert failed.returncode == 2, failed.stderr[-3000:]
    assert re.fullmatch(rf"error: no space left on {re.escape(str(disk))} \(writing {re.escape(str(run))}/\S+\): "
                        r"free \d+ MB and rerun\n", failed.stderr), failed.stderr[-3000:]
    leftovers = [p for p in run.rglob("*") if ".tmp" in p.name or p.name.endswith(".old")]
    assert leftovers == [] and list(tmp.iterdir()) == []
    kept = _finished(run)
    assert kept, "the disk filled before any stage finished: the resume check below would check nothing"

    remount("64m")
    rerun = _train(run, tmp)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    for stage in kept:
        assert f"[{stage}] up to date, skipped" in rerun.stdout
    assert {s: t for s, t in _finished(run).items() if s in kept} == kept  # not retrained
    assert (run / "tables" / "SUMMARY.md").is_file() and list((run / "figures").glob("*.pdf"))
    assert list(tmp.iterdir()) == []
