"""keras_irdi.reporting.reproducibility: new runs' numbers beside a previous run's, verdict changes judged
against the new run's bootstrap CI; evaluate/reproducibility.py writes it, also from a git revision."""
import csv
import subprocess

import pytest

from helpers import REPO, call_cli
from keras_irdi.reporting.reproducibility import Results, comparisons, compare


def _write(folder, kind, rows):
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    with open(folder / "tables" / f"jpeg_cifar10_{kind}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _results(folder, proposed, verdict, diff, low, high):
    _write(folder, "intervals", [{"interval": "(1,100)", "Seq(org)": 0.75, "Proposed": proposed, "best": "x"}])
    _write(folder, "psnr", [{"QF": 10, "degraded": 23.3, "restored": 23.8, "gain": 0.5}])
    _write(folder, "mechanism", [{"interval": "(1,100)", "estimated QF": 50, "QF MAE": 4.5}])
    _write(folder, "claims", [{"claim": "Proposed best", "verdict": verdict,
                               "evidence": f"Proposed {proposed} vs Seq(org) 0.75 ({diff:+.4f}, 95% CI [{low:+.4f}, "
                                           f"{high:+.4f}]) at (1,100) | paper Table 3: holds"}])
    return Results(str(folder))


def test_numbers_and_verdict_changes(tmp_path):
    old = _results(tmp_path / "old", 0.756, "tie", 0.006, -0.001, 0.013)
    near = _results(tmp_path / "near", 0.760, "holds", 0.010, 0.002, 0.018)  # old +0.006 inside [0.002, 0.018]
    far = _results(tmp_path / "far", 0.780, "holds", 0.030, 0.020, 0.040)  # old +0.006 below it
    text = "\n".join(compare(old, [near, far], "jpeg_cifar10"))
    # The paper's Table 3 beside the runs (Proposed .850 on (1,100)); no paper column where it has no table.
    assert "| (1,100) | Proposed | 0.850 | 0.756 | 0.760 | +0.004 | 0.780 | +0.024 |" in text
    assert "| 10 | gain | +0.50 | +0.50 | +0.000 | +0.50 | +0.000 |" in text
    assert "| (1,100) | QF MAE | 4.50 |" in text
    assert "near: tie → holds, inside the new CI" in text
    assert "far: tie → holds, outside the new CI: Proposed vs Seq(org) at (1,100) was +0.0060, now [+0.0200, +0.0400]" \
        in text


def test_comparisons_are_read_from_every_evidence_form():
    fails = ("fails at (21,40): Proposed 0.756 vs Seq(org) 0.762 (-0.0054, 95% CI [-0.0148, +0.0051]); (41,60): "
             "Proposed 0.777 vs Seq(org) 0.789 (-0.0119, 95% CI [-0.0202, -0.0039]) | paper Table 3: holds")
    assert comparisons(fails) == {("(21,40)", "Proposed", "Seq(org)"): (-0.0054, -0.0148, 0.0051),
                                  ("(41,60)", "Proposed", "Seq(org)"): (-0.0119, -0.0202, -0.0039)}
    per_level = "mean over QF 95..100: Cla(org) 0.812 vs Cla(jpg) 0.786 (95% CI [+0.0103, +0.0415]) | paper: n/a"
    assert comparisons(per_level) == {(None, "Cla(org)", "Cla(jpg)"): (pytest.approx(0.026), 0.0103, 0.0415)}


def test_cli_reads_a_committed_folder_from_git(tmp_path, capsys):
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    committed = subprocess.run(["git", "log", "-1", "--diff-filter=AM", "--format=%H", "--",
                                "results/small_jpeg_cifar10/tables"],
                               capture_output=True, text=True, cwd=REPO).stdout.strip()
    if not committed:
        pytest.skip("no committed results folder to read")
    out = tmp_path / "R.md"
    folder = f"{committed}:results/small_jpeg_cifar10"  # in git history, whether or not it is still on disk
    assert call_cli("evaluate/reproducibility.py", "--compare", "jpeg_cifar10", folder, folder, "--out", out) == 0
    text = out.read_text()
    assert "| (1,100) | Proposed |" in text and "| Proposed best on the full interval |" in text
    assert "→" not in text  # the same numbers: no verdict changed
    assert f"| {committed}:small_jpeg_cifar10 |" in text  # a folder read from git is named with its revision
    assert call_cli("evaluate/reproducibility.py", "--compare", "jpeg_cifar10", "only-one") == 2


def test_a_first_run_is_shown_against_nothing_earlier(tmp_path):
    """``none`` as the previous run: the new runs' numbers and verdicts, no differences, no invented change."""
    new = _results(tmp_path / "new", 0.760, "holds", 0.010, 0.002, 0.018)
    text = "\n".join(compare(Results("none"), [new], "jpeg_cifar10"))
    assert "### jpeg_cifar10: `" + str(tmp_path / "new") + "`, the first run of this sweep" in text
    assert "| (1,100) | Proposed | 0.850 | — | 0.760 |  |" in text
    assert "| 10 | gain | — | +0.50 |  |" in text
    assert "| Proposed best | — | holds | — |" in text
    assert "→" not in text


def test_the_committed_page_is_what_its_command_writes(tmp_path):
    """results/REPRODUCIBILITY.md states the command that made it: rerun, it gives the page byte for byte."""
    import shlex

    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the page reads earlier runs from git")
    page = (REPO / "results" / "REPRODUCIBILITY.md").read_text()
    made_by = page.split("Made by `", 1)[1].split("`: every number", 1)[0]
    args = shlex.split(made_by)[2:]
    out = args.index("--out") + 1
    committed, args[out] = args[out], str(tmp_path / "R.md")
    assert call_cli("evaluate/reproducibility.py", *args) == 0
    assert (tmp_path / "R.md").read_text().replace(args[out], committed) == page
