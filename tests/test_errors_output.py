"""stderr stays quiet unless --verbose (keras_irdi/errors.py main_wrapper): the library's notes are hidden,
and each Python warning is one line "warning: ...", printed once, without its source line."""
import logging
import subprocess
import sys
import warnings

import numpy as np

import pytest
from PIL import Image

from helpers import REPO
from keras_irdi.data.images import load_image_folder
from keras_irdi.errors import main_wrapper


def _noisy(folder):
    def fn(argv):
        logging.getLogger("keras_irdi").info("a note for --verbose only")
        load_image_folder(folder)  # the bad file: a warning ...
        load_image_folder(folder)  # ... the same one again (a clean folder is read by two stages)
        warnings.warn("second\nline", UserWarning)
    return fn


def _folder(tmp_path):
    Image.fromarray(np.full((8, 8), 9, np.uint8)).save(tmp_path / "gray.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    return tmp_path


def test_warnings_are_one_line_each_and_once(tmp_path, capsys, restore_signals):
    show = warnings.showwarning
    assert main_wrapper(_noisy(_folder(tmp_path)), []) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"warning: skipping {tmp_path / 'bad.png'}: not a readable image (cannot identify image file "
                   f"{str(tmp_path / 'bad.png')!r})", "warning: second line"], err
    assert warnings.showwarning is show  # put back for library callers


def test_verbose_keeps_the_notes_and_pythons_format(tmp_path, capsys, restore_signals, caplog, recwarn):
    with caplog.at_level(logging.INFO):
        assert main_wrapper(_noisy(_folder(tmp_path)), ["--verbose"]) == 0
    assert "warning: " not in capsys.readouterr().err  # Python's own display (here: pytest's record)
    assert "second\nline" in [str(w.message) for w in recwarn] and "a note for --verbose only" in caplog.text


@pytest.mark.slow
def test_predict_converting_a_gray_png_prints_nothing_on_stderr(tiny_run, tmp_path):
    gray = tmp_path / "gray.png"
    Image.fromarray(np.full((8, 8), 9, np.uint8)).save(gray)
    quiet = subprocess.run([sys.executable, "-m", "keras_irdi.serving.predict", str(tiny_run), str(gray)],
                           capture_output=True, text=True, cwd=REPO, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr  # the note shows with --verbose (above)
