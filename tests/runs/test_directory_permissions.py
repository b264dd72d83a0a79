"""Artefacts are written with the umask's permissions (keras_irdi/runs/directory.py write_json): a serving account
or a colleague can read manifest.json and every stage's config.json."""
import os
import stat

import pytest

from keras_irdi.runs.provenance import SCHEMA_VERSION
from keras_irdi.runs.directory import RunDir, write_json


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_json_artefacts_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        run = RunDir(tmp_path / "run")
        run.update_manifest(schema_version=SCHEMA_VERSION, config={"degradation": "jpeg"})
    finally:
        os.umask(old)
    for path in (tmp_path / "a.json", run.manifest_path):
        assert stat.S_IMODE(path.stat().st_mode) == mode, oct(path.stat().st_mode)
