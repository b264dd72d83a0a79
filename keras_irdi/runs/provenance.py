"""Where a run's numbers came from, in words that hold on any machine: the code's commit, the command as
typed, and a manifest with no path of this machine in it (what `irdi publish` commits).

SCHEMA_VERSION numbers the layout of the manifest and of the stage configs; it changes when a field is
renamed or removed (added fields take their defaults when read).
"""
from __future__ import annotations

import functools
import os
import shlex
import subprocess
import sys
from pathlib import Path

SCHEMA_VERSION = 2  # runs before keras-irdi 1.0 had none


@functools.lru_cache(maxsize=1)
def code_commit() -> str | None:
    """The git commit of the keras_irdi source this process runs, "+dirty" when its files differ from it;
    None for an installed copy outside a git checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        run = lambda *args: subprocess.run(["git", "-C", str(root), *args], capture_output=True,  # noqa: E731
                                           text=True, timeout=10, check=True).stdout.strip()
        commit = run("rev-parse", "HEAD")
        dirty = run("status", "--porcelain", "--untracked-files=no", "--", "keras_irdi", "train", "evaluate",
                    "figures", "setup.cfg")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def typed_command(argv=None) -> str:
    """The command line as the user typed it (script path and options, relative paths kept relative); an
    installed command (``irdi train ...``) by its name."""
    argv = sys.argv if argv is None else argv
    script = argv[0]
    if not script.endswith(".py"):  # a console script, found on PATH
        return shlex.join([os.path.basename(script), *argv[1:]])
    try:
        script = os.path.relpath(script)
    except ValueError:
        pass
    return shlex.join(["python", script, *argv[1:]])


# What an absolute path in a published command stands for, by the option it follows (README's placeholders).
_PATH_PLACEHOLDERS = {"--run-dir": "RUN", "--cifar-dir": "DATA", "--data-dir": "DATA", "--clean-dir": "CLEAN",
                      "--reuse-from": "OTHER_RUN", "--out": "OUT", "--models-out": "MODELS_OUT"}


def _without_machine_paths(command: str) -> str:
    """``command`` with each absolute path replaced by the placeholder of its option (PATH otherwise): a
    relative path says how the run was laid out, an absolute one only where this machine keeps things."""
    import shlex

    words = shlex.split(command)
    out = [(_PATH_PLACEHOLDERS.get(words[i - 1], "PATH") if i and w.startswith("/") else w)
           for i, w in enumerate(words)]
    out = [w.split(":", 1)[0] + ":DATA" if i and words[i - 1] == "--dataset" and ":/" in w else w
           for i, w in enumerate(out)]  # --dataset folder:/home/me/photos
    return shlex.join(out) if out != words else command


def public_manifest(manifest: dict) -> dict:
    """The manifest without this machine's paths: the runtime data locations (the command, kept in
    ``commands``, says which options were given), the data source path and absolute paths in the commands
    (placeholders instead) go; the rest is unchanged."""
    out = dict(manifest)
    if "commands" in out:
        out["commands"] = [dict(c, command=_without_machine_paths(c["command"])) if "command" in c else c
                           for c in out["commands"]]
    config = dict(out.get("config", {}))
    if "runtime" in config:
        config["runtime"] = {**{k: v for k, v in config["runtime"].items() if k != "cifar_dir"}, "data_dir": None,
                             "clean_dirs": None}
    out["config"] = config
    if "data" in out:
        out["data"] = {k: v for k, v in out["data"].items() if k not in ("source", "cifar_source", "clean_dirs")}
    return out
