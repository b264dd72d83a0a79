"""`irdi publish`: copy a run's small, shareable results into the repository: tables (md/csv), figures (png), the sweep
CSV/JSON, per-image correctness and the manifest (without this machine's paths) -- never data. With
--models-out, also the six stage models (and the warm-start base) as a minimal run directory that
`irdi predict`, `irdi restore`, `irdi sweep` and `--reuse-from` accept, with its model card
(README.md). Each folder is replaced whole: an interrupt leaves the previous one as it was.

    irdi publish --run-dir RUN --out results/small_v1_jpeg_cifar10 --models-out models/small_v1_jpeg_cifar10
    irdi publish --card-only --out results/small_v1_jpeg_cifar10 --models-out models/small_v1_jpeg_cifar10
"""
import argparse
import os
import shutil
from pathlib import Path

from keras_irdi.commands.cli import ArgumentParser, command_line, main_wrapper
from keras_irdi.errors import InputError, MissingError
from keras_irdi.reporting.model_card import write_model_card
from keras_irdi.reporting.publish import check_destinations, staged
from keras_irdi.reporting.run_readme import write_run_readme
from keras_irdi.json_files import write_json
from keras_irdi.runs.provenance import public_manifest
from keras_irdi.stage_registry import all_stages, delivered_stages

LICENCE = Path(__file__).resolve().parents[2] / "LICENSE"  # the models' licence: the repository's

PATTERNS = ("tables/*.md", "tables/*.csv", "figures/*.png", "eval/*.csv", "eval/*.json", "eval/*_correct.npz",
            "manifest.json",
            "logs/*.csv")


def copy_file(src: Path, dst: Path) -> None:
    """Every file publish copies goes through here (the interrupt tests stop it after N files)."""
    shutil.copy2(src, dst)


def copy_results(run: Path, out: Path) -> list:
    """The run's files of PATTERNS into ``out``, the manifest without this machine's paths."""
    from keras_irdi.runs.directory import RunDir

    copied = []
    for pattern in PATTERNS:
        for src in sorted(run.glob(pattern)):
            dst = out / src.relative_to(run)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.name == "manifest.json":  # committed: no path of this machine in it
                write_json(dst, public_manifest(RunDir(src.parent).manifest()))
            else:
                copy_file(src, dst)
            copied.append(dst)
    return copied


def ship_models(run: Path, out: Path) -> list:
    """``out/<stage>/model.keras`` (weights only: the optimizer state is dropped, a third of the size),
    ``out/<stage>/config.json``, ``out/<stage>/identity.json`` (when the stage has one: the same training,
    the re-saved file's digest), the restoration's quality gate (when it has one) and ``out/manifest.json``
    without the machine-specific data paths. The warm-start base goes too when the run has one: the runs of
    the other degradations of the same commit take it (and Cla(org)) with ``--reuse-from out``."""
    from keras_irdi.runs.directory import QUALITY_GATE_FILE, RunDir
    from keras_irdi.runs.config import RunConfig
    from keras_irdi.runs.stage_identity import file_sha256, read_identity

    src = RunDir(run)
    src.require(*delivered_stages())
    written = []
    for stage in delivered_stages() + tuple(s.name for s in all_stages() if not s.delivered and src.has_stage(s.name)):
        model = src.load_stage(stage)  # compile=False: no optimizer variables
        (out / stage).mkdir(parents=True, exist_ok=True)
        model.save(out / stage / "model.keras")
        copy_file(src.stage_dir(stage) / "config.json", out / stage / "config.json")
        written += [out / stage / "model.keras", out / stage / "config.json"]
        if stage == "restoration" and (gate := src.stage_dir(stage) / QUALITY_GATE_FILE).is_file():
            copy_file(gate, out / stage / QUALITY_GATE_FILE)  # what irdi-restore applies
            written.append(out / stage / QUALITY_GATE_FILE)
        identity = read_identity(src.stage_dir(stage))
        if identity:  # same training (token, inputs), the re-saved file's digest
            write_json(out / stage / "identity.json",
                       dict(identity, model_sha256=file_sha256(out / stage / "model.keras")))
            written.append(out / stage / "identity.json")
    manifest = src.manifest()
    manifest["config"] = RunConfig.from_dict(manifest["config"]).to_dict()
    manifest["shipped_from"] = run.name
    write_json(out / "manifest.json", public_manifest(manifest))  # the user's data copies, not ours
    return written + [out / "manifest.json"]


def main(argv=None) -> None:
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default=None, help="the run to publish (not with --card-only)")
    ap.add_argument("--out", required=True, help="the results folder (replaced whole)")
    ap.add_argument("--models-out", default=None,
                    help="also ship the six stage models and their model card into this folder (replaced whole)")
    ap.add_argument("--card-only", action="store_true",
                    help="only rewrite MODELS_OUT/README.md, the model card, from the published --out and --models-out")
    args = ap.parse_args(argv)
    out, models_out = Path(args.out), Path(args.models_out) if args.models_out else None
    link = models_out and Path(os.path.relpath(out.resolve() / "README.md", models_out.resolve())).as_posix()
    if args.card_only:
        if models_out is None or args.run_dir:
            raise InputError("--card-only rewrites the card of a published --models-out from --out: give both, "
                             "without --run-dir")
        for folder in (out, models_out):
            if not (folder / "manifest.json").is_file():
                raise MissingError(f"{folder} is not a published folder (no manifest.json): publish the run first")
        print(f"wrote {write_model_card(models_out, out, args.models_out, link, LICENCE)}")
        return
    if not args.run_dir:
        raise InputError("--run-dir is required (the run to publish), unless --card-only")
    run = Path(args.run_dir)
    if not (run / "manifest.json").is_file():
        raise MissingError(f"{run} is not a run directory (no manifest.json)")
    if not any(run.glob("eval/*.csv")):
        raise MissingError(f"{run}/eval has no sweep results; run irdi sweep --run-dir {run} first")
    destinations = [out] + ([models_out] if models_out else [])
    check_destinations(run, *destinations)
    with staged(*destinations) as (results, *models):
        copied = copy_results(run, results)
        write_run_readme(results)  # the folder's own page, from the files just copied
        if models:
            shipped = ship_models(run, models[0])
            size = sum(p.stat().st_size for p in shipped) / 2**20
            write_model_card(models[0], results, args.models_out, link, LICENCE)
    print(f"published {out}: {len(copied)} files and their README.md")
    if models_out:
        print(f"published {models_out}: {len(shipped)} model files ({size:.1f} MB) and the model card README.md")


def run(argv=None) -> int:
    """main behind the commands' error boundary, whose interrupt message says to rerun publish."""
    command = command_line("evaluate/publish.py", argv)
    return main_wrapper(main, argv, interrupted="interrupted: nothing was left half-published: each folder holds "
                                                "its previous content, or the new one whole if a 'published' line "
                                                f"above names it; rerun publish to finish: {command}")

