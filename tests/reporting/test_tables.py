"""Tables from hand-made sweep CSVs: expected numbers are worked out by hand and written as literals."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from keras_irdi.degradations import get_degradation
from keras_irdi.reporting import paper_results
from keras_irdi.reporting.claims import claim_verdicts
from keras_irdi.reporting.rendering import to_csv, to_markdown
from keras_irdi.reporting.sweep_files import COLUMNS, NoSweepError, find_sweeps, read_sweep
from keras_irdi.reporting.tables import (cifar_c_table, comparison_table, interval_table, mechanism_table,
                                         psnr_table, write_all_tables)
from sweep_csv import gaussian_row, jpeg_row, write_sweep


@pytest.fixture
def jpeg_csv(tmp_path):
    rows = [jpeg_row(q) for q in range(100, 0, -1)]  # deliberately unsorted
    return write_sweep(tmp_path, "jpeg_cifar10", rows, {"degradation": "jpeg", "dataset": "cifar10",
                                                        "n_images": 1000})


@pytest.fixture
def gaussian_csv(tmp_path):
    levels = list(range(0, 51)) + [10.2, 15.3, 20.4, 22.95, 25.5]
    return write_sweep(tmp_path, "gaussian_cifar10", [gaussian_row(s) for s in levels])


def column(table, name):
    k = table.header.index(name)
    return [row[k] for row in table.rows]


def test_read_sweep_sorts_and_converts(jpeg_csv):
    sweep = read_sweep(jpeg_csv)
    assert set(sweep) == set(COLUMNS)
    assert sweep["level"][0] == 1 and sweep["level"][-1] == 100 and len(sweep["level"]) == 100
    assert sweep["acc_cla_org"][0] == pytest.approx(0.01)
    assert sweep["acc_cla_org"].dtype == np.float64


def test_read_sweep_blank_cells_are_nan(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("level,acc_cla_org\n1,0.5\n2,\n")
    sweep = read_sweep(path)
    assert sweep["acc_cla_org"][0] == 0.5 and np.isnan(sweep["acc_cla_org"][1])


def test_read_sweep_rejects_non_sweep(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="level"):
        read_sweep(path)


def test_interval_table_jpeg_by_hand(jpeg_csv):
    table = interval_table(read_sweep(jpeg_csv), "jpeg")
    assert table.header == ["interval", "Cla(org)", "Cla(jpg)", "Seq(org)", "Seq(res)", "Ens(Cla)", "Proposed",
                            "best"]
    assert column(table, "interval") == ["(1,20)", "(21,40)", "(41,60)", "(61,80)", "(81,100)", "(1,100)"]
    # acc = q/100: mean over 1..20 = 210/20/100 = 0.105, over 21..40 = 610/20/100 = 0.305, ...
    assert column(table, "Cla(org)") == pytest.approx([0.105, 0.305, 0.505, 0.705, 0.905, 0.505])
    # acc = 0.5 + q/400: 0.5 + 10.5/400, 0.5 + 30.5/400, ...
    assert column(table, "Seq(org)") == pytest.approx([0.52625, 0.57625, 0.62625, 0.67625, 0.72625, 0.62625])
    assert column(table, "Proposed") == pytest.approx([0.7] * 6)
    assert column(table, "best") == ["Proposed", "Proposed", "Proposed", "Cla(org)", "Cla(org)", "Proposed"]
    md = table.to_markdown()
    assert "| (1,20) | 0.105 | 0.600 | 0.526 | 0.650 | 0.550 | 0.700 | Proposed |" in md
    assert "| (81,100) | 0.905 | 0.600 | 0.726 | 0.650 | 0.550 | 0.700 | Cla(org) |" in md


def test_comparison_against_table3(jpeg_csv):
    table = comparison_table(read_sweep(jpeg_csv), "jpeg", "cifar10")
    assert table.header == ["interval", "network", "ours", "paper", "diff"]
    assert len(table.rows) == 36
    rows = {(r[0], r[1]): r[2:] for r in table.rows}
    ours, paper, diff = rows[("(1,20)", "Cla(org)")]
    assert (ours, paper, diff) == pytest.approx((0.105, 0.431, -0.326))
    assert rows[("(1,100)", "Proposed")] == pytest.approx([0.7, 0.850, -0.150])
    assert rows[("(81,100)", "Seq(org)")] == pytest.approx([0.72625, 0.902, -0.17575])
    assert rows[("(61,80)", "Cla(jpg)")] == pytest.approx([0.6, 0.866, -0.266])
    md = table.to_markdown()
    assert "| (1,20) | Cla(org) | 0.105 | 0.431 | -0.326 |" in md
    assert "| (1,100) | Proposed | 0.700 | 0.850 | -0.150 |" in md
    assert "Table 3" in md


def test_comparison_without_paper_table(jpeg_csv):
    table = comparison_table(read_sweep(jpeg_csv), "gaussian", "cifar100")
    assert table.rows and all(r[3] is None and r[4] is None for r in table.rows)
    assert "reports no interval table" in table.to_markdown()


@pytest.mark.parametrize("degradation, dataset", sorted(paper_results.INTERVAL_TABLES))
def test_paper_interval_tables_add_up(degradation, dataset):
    """A mistyped number shows: the paper's whole-range row is the level-weighted mean of its sub-interval
    rows (every value printed to 3 decimals, so within 0.001), and the rows are the registry's intervals."""
    deg = get_degradation(degradation)
    values = paper_results.interval_table(degradation, dataset)["values"]
    assert list(values) == list(deg.intervals)
    assert all(len(row) == 6 and all(0 < v < 1 for v in row) for row in values.values())
    counts = np.array([hi - lo + 1 for lo, hi in deg.sub_intervals])  # integer levels in the paper's tables
    weighted = counts @ np.array([values[iv] for iv in deg.sub_intervals]) / counts.sum()
    np.testing.assert_allclose(weighted, values[deg.full_interval], atol=0.001)


@pytest.mark.parametrize("degradation, dataset", sorted(paper_results.CPSNR_TABLES))
def test_paper_cpsnr_tables_are_ordered(degradation, dataset):
    """Restoration gains at every level, and the degraded images get worse as the degradation gets stronger."""
    deg = get_degradation(degradation)
    table = paper_results.cpsnr_table(degradation, dataset)
    assert table["levels"] == deg.psnr_levels
    degraded, restored = np.array(table["degraded"]), np.array(table["restored"])
    assert np.all(restored > degraded)
    assert np.all(np.diff(degraded) > 0) if deg.quality_rises else np.all(np.diff(degraded) < 0)


def test_cifar_c_references_fall_with_severity():
    for degradation in ("jpeg", "gaussian"):
        for accuracies in paper_results.cifar_c_reference(degradation)["models"].values():
            known = [a for a in accuracies if a is not None]
            assert len(accuracies) == 5 and all(0 < a < 1 for a in known)
            assert known == sorted(known, reverse=True)


def test_claim_verdicts_crafted(jpeg_csv):
    verdicts = {c.id: c for c in claim_verdicts(read_sweep(jpeg_csv), "jpeg", "cifar10")}
    holds = {k: c.holds for k, c in verdicts.items()}
    assert holds == {
        "proposed_best": True,          # 0.700 vs Seq(res) 0.650
        "proposed_ge_seq": False,       # Seq(org) 0.72625 at (81,100)
        "seq_org_gt_cla_org": False,    # 0.67625 < 0.705 at (61,80)
        "seq_res_ge_cla_deg": True,     # 0.65 >= 0.6
        "proposed_gt_ens_cla": True,    # 0.7 > 0.55
        "cla_deg_gt_cla_org": True,     # 0.6 > 0.505
        "seq_org_best_hq": False,       # Cla(org) 0.905 at (81,100)
        "psnr_raised": True,            # +1 dB everywhere
        "seq_crossover": True,          # Seq(res) 0.65 above Seq(org) up to QF 60, below it on (81,100)
        "cla_org_top": True,            # 0.975 > 0.6
    }
    # The wording is filled in from the degradation: Cla(deg)'s name, the intervals, the levels.
    assert verdicts["seq_res_ge_cla_deg"].claim == "Seq(res) ≥ Cla(jpg) on every interval"
    assert verdicts["seq_org_best_hq"].claim == ("Seq(org) best at the highest-quality interval (81,100) among "
                                                 "Cla/Seq (JPEG)")
    assert verdicts["seq_crossover"].claim == ("Seq(res) > Seq(org) on intervals below QF 60, Seq(org) > Seq(res) "
                                               "on (81,100) (JPEG)")
    assert verdicts["cla_org_top"].claim == "Cla(org) > Cla(jpg) for QF 95..100 (JPEG, per-level)"
    assert "up to QF 60" in verdicts["seq_crossover"].evidence and "(41,60)" in verdicts["seq_crossover"].evidence
    assert "(61,80)" in verdicts["seq_org_gt_cla_org"].evidence
    assert "(81,100)" in verdicts["seq_org_gt_cla_org"].evidence
    # The paper's own tables satisfy its interval claims (checks the transcription too).
    for c in verdicts.values():
        if c.id == "cla_org_top":
            assert c.evidence.endswith("paper: n/a")
        elif c.id == "psnr_raised":
            assert c.evidence.endswith("paper Table 2: holds")
        else:
            assert c.evidence.endswith("paper Table 3: holds"), c


def test_claim_cpsnr_false(tmp_path):
    rows = [jpeg_row(q) for q in range(1, 101)]
    rows[29]["psnr_restored"] = rows[29]["psnr_degraded"] - 0.5  # QF 30
    verdicts = claim_verdicts(read_sweep(write_sweep(tmp_path, "jpeg_cifar10", rows)), "jpeg", "cifar10")
    (psnr,) = [v for v in verdicts if v.id == "psnr_raised"]
    assert psnr.holds is False and "QF 30" in psnr.evidence


def test_paper_claims_hold_in_all_paper_tables(jpeg_csv, gaussian_csv):
    for path, deg, dataset, table in ((jpeg_csv, "jpeg", "cifar100", "Table 4"),
                                      (gaussian_csv, "gaussian", "cifar10", "Table 6")):
        for c in claim_verdicts(read_sweep(path), deg, dataset):
            if c.id not in ("psnr_raised", "cla_org_top"):
                assert c.evidence.endswith(f"paper {table}: holds"), c


def test_partial_sweep_reports_missing(tmp_path):
    path = write_sweep(tmp_path, "jpeg_cifar10", [jpeg_row(q) for q in (1, 50, 100)])
    sweep = read_sweep(path)
    table = interval_table(sweep, "jpeg")
    assert all(v is None for row in table.rows for v in row[1:])
    assert "| (1,20) | n/a | n/a | n/a | n/a | n/a | n/a | n/a |" in table.to_markdown()
    assert to_csv(table.rows[:1], table.header).splitlines()[1] == '"(1,20)",,,,,,,'
    verdicts = claim_verdicts(sweep, "jpeg", "cifar10")
    assert verdicts and all(c.holds is None for c in verdicts)
    psnr = psnr_table(sweep, "jpeg", "cifar10")
    by_level = {r[0]: r for r in psnr.rows}
    assert by_level[50][1:4] == pytest.approx([25.0, 26.0, 1.0])
    assert by_level[50][6:8] == pytest.approx([-3.25, -3.45])  # 25.0 - 28.25, 26.0 - 29.45
    assert by_level[10][1] is None and by_level[10][4] == 23.28
    cc = cifar_c_table(sweep, "jpeg", "cifar10")
    assert cc.rows[3][1] == 50 and cc.rows[3][7] == pytest.approx(0.7) and cc.rows[0][7] is None
    assert column(cc, "QF") == [80, 65, 58, 50, 40]
    assert column(cc, "Standard WRN-28-10") == [0.864, 0.797, 0.780, 0.742, 0.697]
    assert column(cc, "AugMix WRN-40-2") == [0.913, 0.891, 0.879, 0.869, 0.853]
    assert column(cifar_c_table(sweep, "jpeg", "cifar100"), "AugMix WRN-40-2") == [None] * 5  # CIFAR-10-C only
    written = write_all_tables(tmp_path)
    assert written[-1].name == "SUMMARY.md" and "n/a" in written[-1].read_text()


def test_partial_sweep_can_still_refute(tmp_path):
    # Only QF 1..20 swept, Cla(org) made better than Seq(org) there: "every interval" is already false.
    rows = [dict(jpeg_row(q), acc_cla_org=0.9) for q in range(1, 21)]
    verdicts = {c.id: c.holds for c in claim_verdicts(read_sweep(write_sweep(tmp_path, "jpeg_cifar10", rows)),
                                                 "jpeg", "cifar10")}
    assert verdicts["seq_org_gt_cla_org"] is False
    assert verdicts["seq_res_ge_cla_deg"] is None  # holds where covered, rest missing
    assert verdicts["proposed_best"] is None


def test_gaussian_ignores_non_integer_levels(gaussian_csv):
    sweep = read_sweep(gaussian_csv)
    table = interval_table(sweep, "gaussian", "cifar10")
    assert table.header[2] == "Cla(Gauss)"
    assert column(table, "interval") == ["(0,10)", "(11,20)", "(21,30)", "(31,40)", "(41,50)", "(0,50)"]
    # 1 - s/100 with mean sigma 5, 15.5, 25.5, 35.5, 45.5 and 25 over 0..50
    assert column(table, "Cla(org)") == pytest.approx([0.95, 0.845, 0.745, 0.645, 0.545, 0.75])
    assert column(table, "Proposed") == pytest.approx([0.9] * 6)
    rows = {(r[0], r[1]): r[2:] for r in comparison_table(sweep, "gaussian", "cifar10").rows}
    assert rows[("(0,10)", "Cla(org)")] == pytest.approx([0.95, 0.796, 0.154])
    assert rows[("(0,50)", "Ens(Cla)")] == pytest.approx([0.5, 0.406, 0.094])
    verdicts = {c.id: c for c in claim_verdicts(sweep, "gaussian", "cifar10")}
    assert verdicts["seq_org_gt_cla_org"].holds is False   # 0.85 < 0.95 at (0,10)
    assert verdicts["seq_res_ge_cla_deg"].holds is True    # 0.82 >= 0.8
    assert verdicts["seq_res_ge_cla_deg"].claim == "Seq(res) ≥ Cla(Gauss) on every interval"
    assert verdicts["seq_org_best_hq"].holds is False      # the highest quality is the lowest sigma: (0,10)
    assert verdicts["seq_org_best_hq"].claim.endswith("interval (0,10) among Cla/Seq (Gaussian)")
    assert verdicts["psnr_raised"].holds is True
    assert "seq_crossover" not in verdicts and "cla_org_top" not in verdicts  # JPEG-only claims
    assert len(verdicts) == 8


def test_gaussian_cifar_c_table(gaussian_csv):
    table = cifar_c_table(read_sweep(gaussian_csv), "gaussian", "cifar10")
    assert column(table, "sigma") == [10.2, 15.3, 20.4, 22.95, 25.5]
    assert column(table, "Proposed") == pytest.approx([0.123] * 5)
    assert column(table, "RobustBench reference") == ["not available offline"] * 5
    md = table.to_markdown()
    assert "| 4 | 22.95 | 0.123 |" in md and "not available offline" in md


def test_psnr_table_gaussian(gaussian_csv):
    table = psnr_table(read_sweep(gaussian_csv), "gaussian", "cifar10")
    assert table.header[0] == "sigma" and column(table, "sigma") == [10, 20, 30, 40, 50]
    first = table.rows[0]  # sigma 10: 28.0 / 31.0; paper 28.13 / 33.47
    assert first[1:] == pytest.approx([28.0, 31.0, 3.0, 28.13, 33.47, -0.13, -2.47])
    assert "| 10 | 28.00 | 31.00 | +3.00 | 28.13 | 33.47 | -0.13 | -2.47 |" in table.to_markdown()


def test_to_markdown_and_csv_formats():
    rows = [["a", 0.12345, None, True, 0.0004], ["b", float("nan"), 3, False, -0.0004]]
    header = ["name", "acc", "n", "ok", "diff"]
    md = to_markdown(rows, header, [None, "{:.3f}", None, None, "{:+.3f}"])
    lines = md.splitlines()
    assert lines[0] == "| name | acc | n | ok | diff |"
    assert lines[2] == "| a | 0.123 | n/a | yes | +0.000 |"
    assert lines[3] == "| b | n/a | 3 | no | -0.000 |"
    text = to_csv(rows, header)
    assert text.splitlines() == ["name,acc,n,ok,diff", "a,0.12345,,true,0.0004", "b,,3,false,-0.0004"]
    with pytest.raises(ValueError):
        to_markdown([["x"]], header)


def test_signed_differences_never_negative_zero(tmp_path):
    rows = [dict(jpeg_row(q), acc_proposed=0.8499) for q in range(1, 101)]
    table = comparison_table(read_sweep(write_sweep(tmp_path, "jpeg_cifar10", rows)), "jpeg", "cifar10")
    assert "| (1,100) | Proposed | 0.850 | 0.850 | +0.000 |" in table.to_markdown()


def test_write_all_tables(jpeg_csv, gaussian_csv, tmp_path):
    (tmp_path / "eval" / "jpeg_cifar10_examples.csv").write_text("junk\n")
    (tmp_path / "eval" / "notes.csv").write_text("level\n1\n")
    with pytest.warns(UserWarning, match="notes.csv"):
        written = write_all_tables(tmp_path)
    names = sorted(p.name for p in written)
    expected = sorted(f"{stem}_{kind}.{ext}" for stem in ("jpeg_cifar10", "gaussian_cifar10")
                      for kind in ("intervals", "psnr", "comparison", "claims", "cifar_c", "mechanism")
                      for ext in ("md", "csv")) + ["SUMMARY.md"]
    assert names == sorted(expected)
    assert all(p.parent == tmp_path / "tables" and p.stat().st_size > 0 for p in written)
    summary = (tmp_path / "tables" / "SUMMARY.md").read_text()
    assert "## JPEG CIFAR-10" in summary and "## Gaussian CIFAR-10" in summary
    assert "1000 test images" in summary and "5 non-integer" in summary
    with open(tmp_path / "tables" / "jpeg_cifar10_intervals.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[1][0] == "(1,20)" and float(rows[1][1]) == pytest.approx(0.105)
    out = tmp_path / "elsewhere"
    with pytest.warns(UserWarning):
        assert write_all_tables(tmp_path, out)[-1] == out / "SUMMARY.md"


def test_find_sweeps_names(tmp_path):
    write_sweep(tmp_path, "jpeg_cifar100", [jpeg_row(1)])
    (sf,) = find_sweeps(tmp_path)
    assert (sf.degradation, sf.dataset) == ("jpeg", "cifar100")
    with pytest.raises(NoSweepError, match="run irdi sweep --run-dir"):
        find_sweeps(tmp_path / "nothing")


def test_mechanism_table_levels_weights_and_selection_bound(jpeg_csv, tmp_path):
    """Per-interval means of the estimated level, its error, w_org and the per-level best Seq network."""
    table = mechanism_table(read_sweep(jpeg_csv), "jpeg", "cifar10")
    assert table.header == ["interval", "estimated QF", "QF MAE", "w_org", "best Seq per level", "Proposed",
                            "Cla(jpg)"]
    rows = {r[0]: r[1:] for r in table.rows}
    # QF 1..20: estimate = q, w_org = q/100, Seq(res) 0.65 beats Seq(org) 0.5 + q/400 at every level.
    assert rows["(1,20)"] == pytest.approx([10.5, 1.0, 0.105, 0.65, 0.7, 0.6])
    # QF 81..100: Seq(org) wins at every level: mean of 0.5 + q/400 over 81..100.
    assert rows["(81,100)"][3] == pytest.approx(0.5 + 90.5 / 400)
    assert "| (1,20) | 10.5 | 1.0 | 0.105 | 0.650 | 0.700 | 0.600 |" in table.to_markdown()

    # The bound is a per-level maximum, not the better of two interval means: alternate the winner.
    sweep = read_sweep(jpeg_csv)
    odd = sweep["level"] % 2 == 1
    sweep["acc_seq_org"], sweep["acc_seq_res"] = np.where(odd, 0.9, 0.1), np.where(odd, 0.1, 0.9)
    assert mechanism_table(sweep, "jpeg", "cifar10").rows[0][4] == pytest.approx(0.9)


def test_mechanism_table_needs_every_level_of_an_interval(tmp_path):
    """A coarse sweep (QF 1, 34, 67, 100) must give n/a, as the interval table does, not a one-level mean."""
    sweep = read_sweep(write_sweep(tmp_path, "jpeg_cifar10", [jpeg_row(q) for q in (1, 34, 67, 100)]))
    mechanism, interval = mechanism_table(sweep, "jpeg", "cifar10"), interval_table(sweep, "jpeg", "cifar10")
    assert mechanism.rows and all(v is None for row in mechanism.rows for v in row[1:])
    assert interval.rows and all(v is None for row in interval.rows for v in row[1:7])


def test_mechanism_table_without_weight_columns(tmp_path):
    """An older sweep CSV without the estimator/weight columns gives n/a rows, not an error."""
    path = write_sweep(tmp_path, "jpeg_cifar10", [jpeg_row(q) for q in range(1, 101)])
    sweep = read_sweep(path)
    del sweep["w_org"]
    table = mechanism_table(sweep, "jpeg", "cifar10")
    assert table.rows and all(v is None for row in table.rows for v in row[1:])
    assert "n/a" in table.to_markdown()


def test_oracle_column_is_shown_but_never_the_best(tmp_path):
    """Proposed (true level) sits beside the six, marked as an oracle, and cannot win the 'best' column."""
    rows = [dict(gaussian_row(s), acc_proposed_oracle=0.99) for s in range(0, 51)]
    table = interval_table(read_sweep(write_sweep(tmp_path, "gaussian_cifar10", rows)), "gaussian")
    assert table.header[-2:] == ["best", "Proposed (true level), oracle"]
    assert column(table, "Proposed (true level), oracle") == pytest.approx([0.99] * 6)
    # Among the six, Cla(org) (1 - sigma/100) wins (0,10) and Proposed (0.9) the rest; the oracle never does.
    assert column(table, "best") == ["Cla(org)"] + ["Proposed"] * 5
    assert any("oracle, not a competitor" in n for n in table.notes)


def test_blur_intervals_average_the_tenth_pixel_grid(tmp_path):
    """Blur levels run on a 0.1 grid: (1.1,2) averages the ten levels 1.1, 1.2, ..., 2.0."""
    levels = [round(0.1 * k, 1) for k in range(61)]
    rows = [dict(jpeg_row(1), level=lv, acc_proposed=lv / 10) for lv in levels]
    table = interval_table(read_sweep(write_sweep(tmp_path, "blur_cifar10", rows)), "blur")
    assert table.header[2] == "Cla(blur)"
    assert column(table, "interval") == ["(0,1)", "(1.1,2)", "(2.1,3)", "(3.1,4)", "(4.1,6)", "(0,6)"]
    assert column(table, "Proposed") == pytest.approx([0.05, 0.155, 0.255, 0.355, 0.505, 0.3])
