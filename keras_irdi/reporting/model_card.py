"""``models/<run>/README.md``: the model card of a shipped run, generated from the published folders.

What the models are, what they were trained on and how, the headline numbers with their confidence interval,
what they are for and not, the licence, and the commit and commands that made them. The recipe comes from the
models folder's manifest, the numbers from the results folder's tables (through :func:`run_readme.headline`,
the results page's own headline), so the card cannot disagree with either; it links to the results page for
the rest.
"""
from __future__ import annotations

import json
import posixpath
from pathlib import Path

from keras_irdi.degradations import get_degradation
from keras_irdi.network_ids import NETWORKS, display_names
from keras_irdi.preset_sections import Preset
from keras_irdi.presets import get_preset
from keras_irdi.reporting.reproducibility import Results
from keras_irdi.reporting.publish import write_atomically
from keras_irdi.reporting.run_readme import headline
from keras_irdi.datasets import display_name as dataset_display
from keras_irdi.reporting.sweep_files import display_name
from keras_irdi.stage_registry import all_stages

# What each stage folder holds; filled from the run's preset and the degradation's network names.
ROLES = {
    "restoration": "restoration net: degraded image in, restored image out; 7 dilated 3x3 convolutions, "
                   "{p.restoration.filters} filters",
    "estimator": "level estimator: the image's {level_name}; the restoration net's body, {p.estimator.filters} filters",
    "cla_base": "warm-start base: the clean-image classifier the three below are fine-tuned from",
    "cla_org": "Cla(org): classifier fine-tuned on clean images",
    "cla_deg": "{cla_deg}: classifier fine-tuned on degraded images",
    "cla_res": "Cla(res): classifier fine-tuned on restored images",
    "weight_net": "weight net: the estimated level in, the weights of {members} out; hidden layers {hidden}",
}


def licence_name(licence_file: Path) -> str | None:
    """The licence's name: the first line of the repository's LICENSE file (None without one)."""
    path = Path(licence_file)
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    return lines[0] if lines else None


def _schedule(cfg) -> str:
    steps = f" x {cfg.steps_per_epoch} steps" if cfg.steps_per_epoch else ""
    shape = ", warm-up + cosine" if cfg.schedule == "warmup_cosine" else ""
    return (f"{cfg.epochs} epochs{steps}, batch {cfg.batch_size}, {cfg.optimizer.capitalize()} "
            f"{cfg.learning_rate:g}{shape}")


def _schedules(preset: Preset) -> dict:
    """Each stage's training schedule, as the preset resolves it."""
    return {stage.name: preset.schedule(stage.name) for stage in all_stages()}


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 / 10 else f"{n / 2**10:.0f} KB"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _widths(p: Preset) -> str:
    return (f"restoration {p.restoration.filters} and estimator {p.estimator.filters} filters, classifiers "
            f"{p.classifier.filters} + {p.classifier.dense}")


def _stage_rows(models: Path, manifest: dict, preset: Preset, deg) -> list[str]:
    names = dict(zip(NETWORKS, display_names(deg.name)))
    fields = {"p": preset, "level_name": deg.level_name, "cla_deg": names["cla_deg"],
              "members": ", ".join(names[m] for m in preset.weight_net.members), "hidden": preset.weight_net.hidden}
    schedules, stages = _schedules(preset), manifest.get("stages", {})
    rows = ["| stage | what it is | schedule | trained | size |", "|:---|:---|:---|:---|---:|"]
    for stage, role in ROLES.items():
        model = models / stage / "model.keras"
        if not model.is_file():
            continue
        entry = stages.get(stage, {})
        trained = (f"reused from `{Path(entry['reused_from']).name}`" if entry.get("reused_from")
                   else f"{entry['seconds'] / 60:.1f} min" if entry.get("seconds") is not None else "n/a")
        rows.append(f"| `{stage}` | {role.format(**fields)} | {_schedule(schedules[stage])} | {trained} | "
                    f"{_size(model.stat().st_size)} |")
    return rows


def _paper_number(results: Results, stem: str, interval: str):
    """The paper's accuracy of Proposed on ``interval`` and ours (the comparison table's), or None when either
    is missing (a sweep that does not cover the interval leaves ours empty)."""
    for row in results.table(stem, "comparison"):
        if row["interval"] == interval and row["network"] == "Proposed" and row["paper"] and row["ours"]:
            return float(row["paper"]), float(row["ours"])
    return None


def model_card(models, results, models_name: str, results_link: str, licence: str | None) -> str:
    """The card of the models folder ``models`` (its manifest) whose results folder is ``results`` (its tables).

    ``models_name``: the folder as a user types it in a command; ``results_link``: the results page relative
    to the models folder; ``licence``: :func:`licence_name`'s."""
    models, results = Path(models), Path(results)
    manifest = json.loads((models / "manifest.json").read_text())
    config = manifest["config"]
    deg, dataset = get_degradation(config["degradation"]), config["dataset"]
    preset = Preset.from_dict(config["preset"]).for_degradation(deg.name)
    paper = get_preset("paper")
    stem, data = f"{deg.name}_{dataset}", manifest.get("data", {})
    data_name = dataset_display(dataset)
    span = f"{deg.short} {deg.full_interval[0]:g} to {deg.full_interval[1]:g}"
    claims = posixpath.join(posixpath.dirname(results_link), f"tables/{stem}_claims.md")
    names, size = manifest.get("class_names", []), manifest.get("input_size", 32)
    classes = ", ".join(names) if len(names) <= 10 else "listed in `manifest.json`"
    sweep = manifest.get("eval", {}).get(stem, {})
    table = Results(str(results))
    intervals = table.table(stem, "intervals")
    full = intervals[-1]["interval"] if intervals else None
    paper_number = _paper_number(table, stem, full) if full else None
    versions, commands = manifest.get("versions", {}), manifest.get("commands", [])
    last = commands[-1] if commands else {}
    precision = last.get("precision", {}).get("resolved") or preset.precision
    machine = last.get("machine")

    lines = [f"# {display_name(deg.name, dataset)} models: preset `{preset.name}`, seed {config.get('seed')}", "",
             "## What it is", "",
             "The trained stages of one keras-irdi run, a reimplementation of Endo, Tanaka and Okutomi, \"Classifying "
             "degraded images over various levels of degradation\" (ICIP 2020). Together they classify a "
             f"{size}x{size} {data_name} image degraded by {deg.display} at any {span}: the network Proposed "
             "restores the image, estimates its level and mixes the classifiers' answers with weights the weight net "
             "gives that level. "
             "The folder is a run directory, so every tool that takes a run takes it:", "",
             "```bash", f"irdi-predict {models_name} photo.png --json    # class, level, ensemble weights",
             f"irdi-restore {models_name} photo.png --out restored/", "```", "",
             *_stage_rows(models, manifest, preset, deg), "",
             f"Each classifier: convolutions of {preset.classifier.filters} filters and a {preset.classifier.dense}"
             "-unit dense layer. Each stage folder has `model.keras` (weights, no optimizer state), `config.json` "
             "and `identity.json` (what it was trained on, the file's sha256).", "",
             "## Training data and recipe", "",
             f"- Classifiers: the {data_name} training set, {data.get('train', '?')} images, {data.get('val', '?')} "
             f"held out for validation (copy sha256 `{data.get('sha256', data.get('cifar_sha256', 'not recorded'))}`).",
             f"- Restoration net and estimator: {preset.patches.size}x{preset.patches.size} patches (source "
             f"`{preset.patches.source}`, at most {preset.patches.max_patches}) degraded over {span}.",
             f"- Weight net: {preset.weight_net.train_images} images of the `{preset.weight_net.train_split}` split, "
             f"{_count(preset.weight_net.levels_per_image, 'random level')} each.",
             f"- Preset `{preset.name}` (the whole of it in `manifest.json`); each stage's schedule is in the table "
             "above.", "",
             "## Results", "",
             f"The run's sweep: the six networks at {sweep.get('levels', 'every')} levels of {span}, on "
             f"{sweep.get('n_images', data.get('test', '?'))} {data_name} test images no stage was trained on. "
             "Mean accuracy over the whole range:", "",
             *[line.replace("(table below)", f"([table]({claims}))") for line in headline(results, stem)], "",
             f"Intervals, CPSNR, the level estimate, the claims with their CIs, figures and costs: "
             f"[the results page]({results_link}).", "",
             "## Intended use and limits", "",
             "- For trying the method and the repository's tools (predict, restore, the TF Serving export, the sweep) "
             "and as a baseline for new runs: not a classifier to rely on.",
             f"- Inputs: {size}x{size} RGB images of the "
             f"{len(names)} {data_name} classes ({classes}); the tools fit a larger photo to that size first, and "
             "an image of any other class still gets one of these.",
             f"- Degradation: {deg.display} over {span}; the level estimate and the weights mean nothing for others.",
             f"- CPU scale: {_widths(preset)} against the paper's {_widths(paper)}, and short schedules"
             + (f"; Proposed reaches {paper_number[1]:.3f} over {full}, the paper's {paper_number[0]:.3f}."
                if paper_number else "."), "",
             "## Licence", "",
             f"{licence}, as the code (the repository's LICENSE file)." if licence else
             "The repository's licence, as the code (there was no LICENSE file to name it when this card was made).",
             "",
             "## How it was made", "",
             f"keras-irdi {versions.get('keras_irdi', '?')} at commit `{versions.get('commit') or 'unknown'}`, "
             f"TensorFlow {versions.get('tensorflow', '?')}, Keras {versions.get('keras', '?')}, Python "
             f"{versions.get('python', '?')}, {precision}"
             + (f", on {machine.get('cpu', '?')} ({machine.get('cores', '?')} cores)" if machine else "")
             + ". The commands, as typed:", "",
             "```bash", *([c["command"] for c in commands] or ["(not recorded)"]), "```", "",
             f"Published by `evaluate/publish.py` from the run directory `{manifest.get('shipped_from', '?')}`.", ""]
    return "\n".join(lines)


def write_model_card(models, results, models_name: str, results_link: str, licence_file) -> Path:
    """Write ``models/README.md`` (whole: a reader never sees half a card); see :func:`model_card`."""
    return write_atomically(Path(models) / "README.md",
                            model_card(models, results, models_name, results_link, licence_name(licence_file)))
