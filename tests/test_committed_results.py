"""Every published folder (results/, models/) is what a named preset at HEAD made: its manifest has today's
schema, names a preset that exists, the folder is named after it, and no path of the machine that made it."""
import json

import pytest

from helpers import REPO
from keras_irdi.presets import PRESETS
from keras_irdi.runs.provenance import SCHEMA_VERSION

FOLDERS = sorted(p.parent for top in ("results", "models") for p in (REPO / top).glob("*/manifest.json"))


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_there_are_published_runs():
    assert {p.parent.name for p in FOLDERS} == {"results", "models"}


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_published_folder_is_a_named_preset_s_run(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    config = manifest["config"]
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert config["preset"]["name"] in PRESETS
    stem = f"{config['preset']['name']}_{config['degradation']}_{config['dataset']}"
    assert folder.name in (stem, f"{stem}_seed{config['seed']}"), folder.name
    assert manifest["versions"]["commit"] and not manifest["versions"]["commit"].endswith("+dirty")
    absolute = [s for s in _strings(manifest) if s.startswith("/") or "/work/" in s or "/home/" in s]
    assert not absolute, absolute
    if folder.parent.name == "results":
        assert (folder / "README.md").is_file()


def test_seed_folders_share_everything_but_the_seed():
    for seed_folder in (REPO / "results").glob("*_seed*"):
        base = REPO / "results" / seed_folder.name.rsplit("_seed", 1)[0]
        a, b = (json.loads((f / "manifest.json").read_text()) for f in (base, seed_folder))
        # The experiment alone (the runtime, where a machine kept the data, is not part of it: RunConfig). A preset
        # recorded before the precision option (1.0) has none: it trained in float32.
        for config in (a["config"], b["config"]):
            config["preset"]["precision"] = config["preset"].get("precision") or "float32"
        assert {k for k in a["config"] if k != "runtime" and a["config"][k] != b["config"][k]} == {"seed"}, \
            seed_folder.name
        # The same libraries; the commit may differ only where the page says the training code did not.
        same = {k: v for k, v in a["versions"].items() if k not in ("commit", "keras_irdi")}
        assert same == {k: b["versions"][k] for k in same}, seed_folder.name
        if a["versions"]["commit"] != b["versions"]["commit"]:
            page = (REPO / "docs" / "DECISIONS.md").read_text()
            assert f"commit {b['versions']['commit'][:7]}, the same training code" in page, seed_folder.name
