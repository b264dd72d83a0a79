"""irdi-restore destroys nothing: an output that is an input is refused, an existing file is kept without
--overwrite, a failed or interrupted write leaves neither a partial file under the final name nor a temporary
file, a full disk is one line with exit 2, and the good files of a batch are restored when one fails."""
import errno
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_irdi.serving.restore import _publish, main, write_png


ORIGINAL_SAVE = Image.Image.save  # failing_save's patch may be made twice in one test


def noisy(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def png_bytes(image) -> bytes:
    buf = io.BytesIO()
    ORIGINAL_SAVE(Image.fromarray(image), buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i, name in enumerate(("a.png", "b.png", "c.jpg")):
        Image.fromarray(noisy(20 + i, 30, seed=i)).save(folder / name)
    return [folder / n for n in ("a.png", "b.png", "c.jpg")]


def cli(run, *args) -> int:
    return main([str(run), *map(str, args)])


def listing(folder: Path) -> list[str]:
    """Every name in ``folder``, hidden temporary files included."""
    return sorted(os.listdir(folder))


def failing_save(monkeypatch, exc, fail_at=lambda call: True):
    """Patch PIL's Image.save so that the calls ``fail_at`` picks write half of the PNG, then raise ``exc``: a
    disk that fills, or a Ctrl-C, in the middle of a save."""
    original, calls = ORIGINAL_SAVE, []

    def save(self, fp, format=None, **params):
        calls.append(fp)
        if not fail_at(len(calls)):
            return original(self, fp, format, **params)
        buf = io.BytesIO()
        original(self, buf, "PNG")
        half = buf.getvalue()[:len(buf.getvalue()) // 2]
        if isinstance(fp, (str, os.PathLike)):
            Path(fp).write_bytes(half)
        else:
            fp.write(half)
            fp.flush()
        raise exc

    monkeypatch.setattr(Image.Image, "save", save)
    return calls


def test_an_output_that_is_an_input_is_refused(tiny_run, inputs, tmp_path, capsys, restore_signals):
    folder = inputs[0].parent
    before = {p: p.read_bytes() for p in folder.iterdir()}
    assert cli(tiny_run, inputs[0], "--out", folder) == 2  # in/a.png -> in/a.png
    err = capsys.readouterr().err.splitlines()
    assert err == [f"error: restoring {inputs[0]} would write over the input {folder / 'a.png'}; "
                   "choose another --out"]
    # --overwrite does not allow it; nor does another spelling of the folder or a second input of that name
    (tmp_path / "link").symlink_to(folder)
    Image.fromarray(noisy(8, 8)).save(folder / "c.png")
    before[folder / "c.png"] = (folder / "c.png").read_bytes()
    for args in ((inputs[0], "--out", folder, "--overwrite"), (inputs[0], "--out", tmp_path / "link"),
                 (inputs[2], folder / "c.png", "--out", folder)):
        assert cli(tiny_run, *args) == 2, args
        assert "would write over the input" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in folder.iterdir()} == before  # every input as it was, nothing added


def test_an_existing_file_is_kept_without_overwrite(tiny_run, inputs, tmp_path, capsys, restore_signals):
    out = tmp_path / "out"
    out.mkdir()
    kept = png_bytes(noisy(5, 7, seed=9))
    (out / "a.png").write_bytes(kept)  # restoring in/a.png would replace it
    assert cli(tiny_run, *inputs, "--out", out) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"error: {inputs[0]}: {out / 'a.png'} exists; kept (--overwrite "
                                         "replaces it)"]
    assert (out / "a.png").read_bytes() == kept
    assert listing(out) == ["a.png", "b.png", "c.png"] and captured.out.count(" -> ") == 2  # the others restored
    assert cli(tiny_run, *inputs, "--out", out, "--overwrite") == 0
    with Image.open(out / "a.png") as replaced:
        assert replaced.size == (30, 20)  # in/a.png's restoration
    assert listing(out) == ["a.png", "b.png", "c.png"]


def test_a_folder_in_the_outputs_place_is_named_whatever_the_overwrite(tiny_run, inputs, tmp_path, capsys,
                                                                       restore_signals):
    out = tmp_path / "out"
    (out / "a.png").mkdir(parents=True)  # where in/a.png's restoration would go: --overwrite cannot replace it
    for extra in ((), ("--overwrite",)):
        assert cli(tiny_run, *inputs, "--out", out, *extra) == 1
        assert capsys.readouterr().err.splitlines() == [
            f"error: {inputs[0]}: {out / 'a.png'} is a folder; move it or choose another --out"]
        assert (out / "a.png").is_dir()


def test_a_full_disk_leaves_no_partial_file(tiny_run, inputs, tmp_path, capsys, monkeypatch, restore_signals):
    out = tmp_path / "out"
    failing_save(monkeypatch, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), fail_at=lambda call: call >= 2)
    assert cli(tiny_run, *inputs, "--out", out) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: no space left on /"), err
    assert err[0].endswith(f"(writing {out / 'b.png'}): free 1 MB and rerun for {inputs[1]} and the file after it")
    # a.png written before the disk filled, nothing under b.png, no temporary file; the batch stopped there
    assert listing(out) == ["a.png"]
    with Image.open(out / "a.png") as first:
        first.load()
    # with --overwrite, the file a failed save would replace is kept as it was (not truncated)
    kept = png_bytes(noisy(5, 7, seed=9))
    (out / "b.png").write_bytes(kept)
    failing_save(monkeypatch, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), fail_at=lambda call: call >= 2)
    assert cli(tiny_run, *inputs, "--out", out, "--overwrite") == 2
    assert f"(writing {out / 'b.png'})" in capsys.readouterr().err
    assert listing(out) == ["a.png", "b.png"] and (out / "b.png").read_bytes() == kept


def test_an_interrupt_mid_save_leaves_no_partial_file(tiny_run, inputs, tmp_path, capsys, monkeypatch,
                                                      restore_signals):
    out = tmp_path / "out"
    failing_save(monkeypatch, KeyboardInterrupt())
    assert cli(tiny_run, inputs[0], "--out", out) == 130
    assert capsys.readouterr().err.startswith("interrupted")
    assert listing(out) == []  # nothing there before: nothing there after
    kept = png_bytes(noisy(5, 7, seed=9))
    (out / "a.png").write_bytes(kept)
    assert cli(tiny_run, *inputs, "--out", out, "--overwrite") == 130
    assert listing(out) == ["a.png"] and (out / "a.png").read_bytes() == kept


def test_a_batch_restores_every_good_file(tiny_run, inputs, tmp_path, capsys, monkeypatch, restore_signals):
    out = tmp_path / "out"
    failing_save(monkeypatch, OSError(errno.EIO, os.strerror(errno.EIO)), fail_at=lambda call: call == 2)
    assert cli(tiny_run, inputs[0], tmp_path / "missing.png", *inputs[1:], "--out", out) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"error: {tmp_path / 'missing.png'}: no such file",
        f"error: {inputs[1]}: cannot write {out / 'b.png'} (Input/output error); nothing written under that name"]
    assert listing(out) == ["a.png", "c.png"] and captured.out.count(" -> ") == 2
    for name, size in (("a.png", (30, 20)), ("c.png", (30, 22))):
        with Image.open(out / name) as image:
            assert image.size == size


def test_write_png_never_replaces_a_file_it_was_not_asked_to(tmp_path):
    image = noisy(4, 4)
    write_png(image, tmp_path / "x.png")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "x.png").stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would create it
    with pytest.raises(FileExistsError):
        write_png(noisy(4, 4, seed=1), tmp_path / "x.png")
    # a file that appears between the check and the rename is kept too
    (tmp_path / "tmp").write_bytes(b"new")
    (tmp_path / "late.png").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        _publish(tmp_path / "tmp", tmp_path / "late.png", overwrite=False)
    assert (tmp_path / "late.png").read_bytes() == b"old"
    assert (np.asarray(Image.open(tmp_path / "x.png")) == image).all()
    assert listing(tmp_path) == ["late.png", "tmp", "x.png"]
