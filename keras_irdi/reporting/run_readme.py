"""``results/<run>/README.md``: one published run on one page, generated from its own files.

The repository's README keeps one headline table per degradation and links here for the rest: who made the
run (preset, seed, commit, the commands as typed), the six networks over the full range with Proposed's lead
and its 95 % CI, the tables by interval, the restoration and the level estimate, the paper's claims, the
figures and what each stage cost. Every number is read from the folder's manifest and tables, so the page
cannot disagree with them.
"""
from __future__ import annotations

import json
from pathlib import Path

from keras_irdi.reporting.reproducibility import Results
from keras_irdi.reporting.sweep_files import display_name

FIGURES = (("accuracy", "accuracy of the six networks at every level"),
           ("weights", "the weight net's weights against the level"),
           ("level_estimate", "the estimated level against the true one"),
           ("cpsnr", "CPSNR of degraded and restored test images"),
           ("intervals", "interval mean accuracy"),
           ("examples", "test images degraded, restored, and what each network says"))


def _read(folder: Path, name: str) -> str | None:
    path = folder / name
    return path.read_text() if path.is_file() else None


def _demoted(markdown: str) -> str:
    """A table file's Markdown one heading level lower (its ``## title`` becomes ``### title``)."""
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.splitlines())


def _minutes(seconds) -> str:
    return "n/a" if seconds is None else f"{seconds / 60:.1f} min"


def headline(folder: Path, stem: str) -> list[str]:
    """The full-range accuracy of every network and Proposed's lead over the others: the claim compares it with
    each and names the comparison closest to failing (the lowest CI bound), not always the best point estimate."""
    results = Results(str(folder))
    rows = results.table(stem, "intervals")
    if not rows:
        return []
    full = rows[-1]  # the tables end with the whole range
    networks = [c for c in full if c not in ("interval", "best") and "true level" not in c]
    out = [f"| network | {full['interval']} |", "|:---|---:|"]
    out += [f"| {n} | {float(full[n]):.3f} |" for n in networks if full[n]]
    claims = {r["claim"]: r for r in results.table(stem, "claims")}
    best = claims.get("Proposed best on the full interval")
    if best:
        out += ["", f"Proposed against each of the others, the closest call: **{best['verdict']}** "
                    f"({best['evidence'].split(' | ')[0]}; 95 % paired bootstrap CI over the test images)."]
    if claims:
        counts = {v: sum(c["verdict"] == v for c in claims.values()) for v in ("holds", "tie", "fails", "n/a")}
        out += ["", f"The paper's {len(claims)} claims on this run (table below): "
                    + ", ".join(f"{v} {n}" for v, n in counts.items() if n) + "."]
    return out


def write_run_readme(folder) -> Path:
    """Write ``folder/README.md`` for a published results folder (manifest.json, tables/, figures/)."""
    folder = Path(folder)
    manifest = json.loads(_read(folder, "manifest.json") or "{}")
    config = manifest.get("config", {})
    degradation, dataset = config.get("degradation", "?"), config.get("dataset", "?")
    stem = f"{degradation}_{dataset}"
    versions = manifest.get("versions", {})
    lines = [f"# {display_name(degradation, dataset)}: preset `{config.get('preset', {}).get('name')}`, "
             f"seed {config.get('seed')}", "",
             f"Made by keras-irdi {versions.get('keras_irdi', '?')} at commit `{versions.get('commit') or 'unknown'}` "
             f"with TensorFlow {versions.get('tensorflow', '?')} and Keras {versions.get('keras', '?')}; "
             f"{manifest.get('data', {}).get('train', '?')} training, {manifest.get('data', {}).get('val', '?')} "
             f"validation and {manifest.get('data', {}).get('test', '?')} test images. The commands, as typed:", ""]
    commands = [c["command"] for c in manifest.get("commands", [])] or ["(not recorded: made before keras-irdi 1.0)"]
    lines += ["```bash", *commands, "```", ""]
    lines += ["## Headline", "", *headline(folder, stem), ""]
    for kind in ("intervals", "psnr", "mechanism", "claims"):
        table = _read(folder, f"tables/{stem}_{kind}.md")
        if table:
            lines += [_demoted(table).replace("### ", "## ", 1), ""]
    figures = [(f"figures/{name}_{stem}.png", what) for name, what in FIGURES
               if (folder / "figures" / f"{name}_{stem}.png").is_file()]
    if figures:
        lines += ["## Figures", ""] + [f"![{what}]({path})" for path, what in figures] + [""]
    stages = manifest.get("stages", {})
    if stages:
        lines += ["## Cost", "", "| stage | time | trained |", "|:---|---:|:---|"]
        for stage, entry in stages.items():
            source = f"reused from `{entry['reused_from']}`" if entry.get("reused_from") else "in this run"
            lines.append(f"| {stage} | {_minutes(entry.get('seconds'))} | {source} |")
        lines += ["", f"Training {_minutes(manifest.get('training_seconds'))} (each stage's own time, reused ones "
                      f"included), training and sweep {_minutes(manifest.get('total_seconds'))}; the last command on "
                      f"this run took {_minutes(manifest.get('command_seconds'))}.", ""]
    others = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                    if p.is_file() and p.suffix in (".md", ".csv", ".json") and p.name != "README.md")
    lines += ["## Files", "", *[f"- [`{p}`]({p})" for p in others], ""]
    out = folder / "README.md"
    out.write_text("\n".join(lines))
    return out
