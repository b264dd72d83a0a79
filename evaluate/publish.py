#!/usr/bin/env python
"""Copy a run's small, shareable results into the repository: tables (md/csv), figures (png), the sweep
CSV/JSON, per-image correctness and the manifest (without this machine's paths) -- never data. With
--models-out, also the six stage models (and the warm-start base) as a minimal run directory that
`irdi-predict`, `irdi-restore`, `evaluate/sweep.py` and `--reuse-from` accept.

    python evaluate/publish.py --run-dir RUN --out results/small_v1_jpeg_cifar10 --models-out models/small_v1_jpeg_cifar10
"""
import argparse
import json
import shutil
import sys
from pathlib import Path

from keras_irdi.commands.cli import ArgumentParser, main_wrapper
from keras_irdi.errors import MissingError
from keras_irdi.reporting.run_readme import write_run_readme
from keras_irdi.runs.json_files import write_json
from keras_irdi.runs.provenance import public_manifest

PATTERNS = ("tables/*.md", "tables/*.csv", "figures/*.png", "eval/*.csv", "eval/*.json", "eval/*_correct.npz",
            "manifest.json",
            "logs/*.csv")


def ship_models(run: Path, out: Path) -> list:
    """``out/<stage>/model.keras`` (weights only: the optimizer state is dropped, a third of the size),
    ``out/<stage>/config.json``, ``out/<stage>/identity.json`` (when the stage has one: the same training,
    the re-saved file's digest), the restoration's quality gate (when it has one) and ``out/manifest.json``
    without the machine-specific data paths. The warm-start base goes too when the run has one: the runs of
    the other degradations of the same commit take it (and Cla(org)) with ``--reuse-from out``."""
    from keras_irdi.runs.directory import BASE_STAGE, QUALITY_GATE_FILE, STAGES, RunDir
    from keras_irdi.runs.config import RunConfig
    from keras_irdi.runs.stage_identity import file_sha256, read_identity

    src = RunDir(run)
    src.require(*STAGES)
    written = []
    for stage in STAGES + ((BASE_STAGE,) if src.has_stage(BASE_STAGE) else ()):
        model = src.load_stage(stage)  # compile=False: no optimizer variables
        (out / stage).mkdir(parents=True, exist_ok=True)
        model.save(out / stage / "model.keras")
        shutil.copy2(src.stage_dir(stage) / "config.json", out / stage / "config.json")
        written += [out / stage / "model.keras", out / stage / "config.json"]
        if stage == "restoration" and (gate := src.stage_dir(stage) / QUALITY_GATE_FILE).is_file():
            shutil.copy2(gate, out / stage / QUALITY_GATE_FILE)  # what irdi-restore applies
            written.append(out / stage / QUALITY_GATE_FILE)
        identity = read_identity(src.stage_dir(stage))
        if identity:  # same training (token, inputs), the re-saved file's digest
            write_json(out / stage / "identity.json",
                       dict(identity, model_sha256=file_sha256(out / stage / "model.keras")))
            written.append(out / stage / "identity.json")
    manifest = json.loads(src.manifest_path.read_text())
    manifest["config"] = RunConfig.from_dict(manifest["config"]).to_dict()
    manifest["shipped_from"] = run.name
    write_json(out / "manifest.json", public_manifest(manifest))  # the user's data copies, not ours
    return written + [out / "manifest.json"]


def main(argv=None) -> None:
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--models-out", default=None, help="also ship the six stage models into this folder")
    args = ap.parse_args(argv)
    run, out = Path(args.run_dir), Path(args.out)
    if not (run / "manifest.json").is_file():
        raise MissingError(f"{run} is not a run directory (no manifest.json)")
    copied = []
    for pattern in PATTERNS:
        for src in sorted(run.glob(pattern)):
            dst = out / src.relative_to(run)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.name == "manifest.json":  # committed: no path of this machine in it
                write_json(dst, public_manifest(json.loads(src.read_text())))
            else:
                shutil.copy2(src, dst)
            copied.append(dst)
    if not any(p.match("eval/*.csv") for p in copied):
        raise MissingError(f"{run}/eval has no sweep results; run evaluate/sweep.py --run-dir {run} first")
    write_run_readme(out)  # the folder's own page, from the files just copied
    print(f"copied {len(copied)} files into {out}, with its README.md")
    if args.models_out:
        shipped = ship_models(run, Path(args.models_out))
        size = sum(p.stat().st_size for p in shipped) / 2**20
        print(f"shipped {len(shipped)} model files ({size:.1f} MB) into {args.models_out}")


if __name__ == "__main__":
    sys.exit(main_wrapper(main))
