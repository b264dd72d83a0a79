"""The maintained benchmarks keep running: each one's ``main`` at its smallest size, in this process, on the
bundled data and tiny random-weight runs, writes the JSON bench/README.md describes (its numbers, the machine,
the command, the date). The numbers at this size mean nothing; that they are there and sane does. Also: every
bench/ and experiments/ path the docs name exists."""
import json
import re
import runpy

import pytest

from helpers import REPO

BENCH = REPO / "bench"


def run_benchmark(monkeypatch, tmp_path, name, *options) -> dict:
    """Run bench/<name>.py's main with ``options`` and --out in ``tmp_path``; its JSON, checked for what every
    benchmark records."""
    monkeypatch.syspath_prepend(str(BENCH))  # the scripts import _common from beside them
    out = tmp_path / f"{name}.json"
    runpy.run_path(str(BENCH / f"{name}.py"))["main"]([*map(str, options), "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["command"].startswith(f"python bench/{name}.py ") and result["date"]
    machine = result["machine"]
    assert machine["cpu_count"] >= 1 and machine["tensorflow"]
    assert len(machine["load_avg_at_start"]) == 3 and len(machine["load_avg_at_end"]) == 3
    return result


def positive_rates(results: dict, key="images_per_second") -> None:
    assert results and all(r[key] > 0 for r in results.values()), results


@pytest.mark.slow
def test_pipeline(monkeypatch, tmp_path, cifar_dir):
    result = run_benchmark(monkeypatch, tmp_path, "pipeline", "--cifar-dir", cifar_dir, "--n", 256, "--repeats", 1,
                           "--no-augmented")
    assert set(result["results"]) == {"pil", "pipeline", "per_image", "parallel"}
    positive_rates(result["results"])
    assert result["n_images"] == 256 and all(r > 0 for r in result["ratios"].values())


@pytest.mark.slow
def test_sweep(monkeypatch, tmp_path, cifar_dir):
    result = run_benchmark(monkeypatch, tmp_path, "sweep", "--cifar-dir", cifar_dir, "--n", 20, "--levels", 10,
                           "--batch-size", 10, "--repeats", 1, "--preset", "smoke")
    assert set(result["results"]) == {"shared", "sum", "naive", "degradation"}
    positive_rates(result["results"])
    # The shared sweep computes what the six composites do, calling each sub-model once per batch.
    assert result["max_abs_diff_shared_vs_composites"] < 1e-4
    shared = result["sub_model_calls_per_pass"]["shared"]
    assert result["batches_per_pass"] == 2 and shared["restoration"] == 2 and shared["estimator"] == 2


@pytest.mark.slow
def test_serving(monkeypatch, tmp_path, cifar_dir):
    result = run_benchmark(monkeypatch, tmp_path, "serving", "--cifar-dir", cifar_dir, "--n", 20, "--batch-sizes", 10,
                           "--repeats", 1, "--preset", "smoke")
    assert set(result["results"]) == {"serving", "sum"} and result["n_images"] == 20
    positive_rates(result["results"])
    assert result["ratios"]["serving_over_sum"] > 0
    # Every backend installed serves the SavedModel's probabilities (the ONNX ones when the onnx extra is in).
    parity = result["parity_max_abs_probability_difference_from_tf_savedmodel"]
    assert "tf_savedmodel" in parity and set(result["backends"]) == set(parity)
    assert max(parity.values()) < 1e-4, parity


@pytest.mark.slow
def test_training_speed(monkeypatch, tmp_path, cifar_dir):
    result = run_benchmark(monkeypatch, tmp_path, "training_speed", "--cifar-dir", cifar_dir, "--images", 256,
                           "--repeats", 1)
    assert set(result["results"]) == {"bare_clean", "bare_jpeg", "stage_clean"}
    positive_rates(result["results"])
    assert set(result["ratios"]) == {"jpeg_over_clean", "stage_over_bare"} and result["val_images"] >= 1


@pytest.mark.slow
def test_dilated_conv(monkeypatch, tmp_path):
    result = run_benchmark(monkeypatch, tmp_path, "dilated_conv", "--filters", 4, "--batch", 8, "--repeats", 2)
    assert set(result["results"]) == {"keras/batch8", "direct/batch8", "undilated/batch8"}
    positive_rates(result["results"], "infer_images_per_s")
    positive_rates(result["results"], "train_images_per_s")
    assert result["max_abs_output_difference_keras_vs_direct"] < 1e-5  # the nets' layer computes Keras's conv


@pytest.mark.slow
def test_multiworker(monkeypatch, tmp_path, cifar_dir):
    result = run_benchmark(monkeypatch, tmp_path, "multiworker", "--cifar-dir", cifar_dir, "--images", 300,
                           "--repeats", 1, "--rounds", 1)
    assert set(result["modes"]) == {"single_fit", "single_fit_1cpu", "one_worker_loop", "two_workers"}
    positive_rates(result["modes"], "median_images_per_s")
    assert result["collective_ms_per_step"] > 0 and result["train_images"] > 0


@pytest.mark.slow
def test_precision(monkeypatch, tmp_path, cifar_dir):
    result = run_benchmark(monkeypatch, tmp_path, "precision", "--cifar-dir", cifar_dir, "--images", 128,
                           "--patches", 32, "--sweep-images", 32, "--repeats", 1, "--widths", "small_v1")
    assert [r["what"].split(":")[0] for r in result["rows"]] == ["fit"] * 3 + ["sweep", "serving"]
    assert "bf16_flags" in result["machine"]
    # Without AVX-512 TensorFlow cannot train the dilated patch nets in bfloat16: their rows, and only they, say so.
    unmeasured = [r["what"] for r in result["rows"] if r["bfloat16"] is None]
    assert unmeasured == ([] if result["machine"]["avx512"] else ["fit: restoration", "fit: estimator"])
    assert all(r["float32"] > 0 and (r["bfloat16"] is None or r["bfloat16"] > 0 and r["ratio"] > 0)
               for r in result["rows"])
    page = (tmp_path / "precision.md").read_text()
    assert result["command"] in page and page.count("| fit: ") == 3
    assert result["machine"]["family_model"] in page.splitlines()[0]  # "AMD EPYC" alone names several CPUs


@pytest.mark.slow
def test_restore_memory(monkeypatch, tmp_path, tiny_run, clean_dir):
    photo = sorted(clean_dir.iterdir())[0]
    result = run_benchmark(monkeypatch, tmp_path, "restore_memory", "--tiny", "--run", tiny_run, "--photo", photo)
    assert result["image"]["size"] == "600x450" and result["image_6000x4000"]["size"] == "300x200"
    for key in ("restore", "restore_6000x4000"):
        assert result[key]["exit"] == 0 and result[key]["peak_rss_mb"] > 0, result[key]
    assert result["too_large"]["exit"] == 1 and len(result["too_large"]["stderr"]) == 1  # refused in one line
    assert result["within_budget"]


@pytest.mark.slow
def test_real_photos(monkeypatch, tmp_path, tiny_run, clean_dir):
    from conftest import make_tiny_run

    noise_run = make_tiny_run(tmp_path / "noise_run", degradation="gaussian")
    result = run_benchmark(monkeypatch, tmp_path, "real_photos", "--photos", clean_dir, "--limit", 1,
                           "--jpeg-run", tiny_run, "--noise-run", noise_run, "--qualities", "10,90",
                           "--sigmas", 20)
    jpeg, noise = result["jpeg"], result["gaussian"]
    assert result["photos"] == 1 and set(jpeg["levels"]) == {"10", "90"} and set(noise["levels"]) == {"20"}
    assert all(r["file_quality_read_exactly"] == 1 for r in jpeg["levels"].values())  # PIL's QF read back
    assert all(r["psnr_degraded"] > 0 for part in (jpeg, noise) for r in part["levels"].values())
    assert set(jpeg["mae_by_band"]) == {"5-10", "80-90"} and set(noise["mae_by_band"]) == {"20-30"}
    assert "## jpeg" in (tmp_path / "real_photos.md").read_text()


@pytest.mark.slow
def test_restoration_quality_gate(monkeypatch, tmp_path, cifar_dir, tiny_run, clean_dir):
    clean = tmp_path / "clean"
    clean.mkdir()
    for name in ("T91", "BSD100", "Urban100"):
        (clean / name).symlink_to(clean_dir, target_is_directory=True)
    result = run_benchmark(monkeypatch, tmp_path, "restoration_quality_gate", "--cifar-dir", cifar_dir,
                           "--clean-dir", clean, "--run-dir", tiny_run, "--limit", 2, "--qualities", "10,95")
    assert result["gate"] == "fitted here"  # the tiny run has no gate of its own
    for key in ("cifar_test", "bsd100", "urban100"):
        assert [r["qf"] for r in result[key]] == [10, 95] and all(r["images"] == 2 for r in result[key])
    assert all(0 <= a <= 1 for gate in result["alpha"].values() for a in gate.values())
    assert "## CIFAR-10 test images" in (tmp_path / "restoration_quality_gate.md").read_text()


# The docs a reader follows; the experiments' own READMEs and result pages are records and quote the paths
# their commands had (under bench/), as does CHANGELOG.md.
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), BENCH / "README.md",
        REPO / "experiments" / "README.md"]
MENTION = re.compile(r"(?<![\w/.])(?:\.\./)*((?:bench|experiments)/[\w./{},*-]*)")
LINK = re.compile(r"\]\(([^)#\s]+)")


def named_paths(doc, root=REPO):
    """Every bench/ or experiments/ path ``doc`` names, as written in the text or as a relative link (resolved
    against ``root``, the repository: the test below puts a document in a layout of its own)."""
    text = doc.read_text()
    for match in MENTION.finditer(text):
        path = match.group(1).rstrip(".,")
        if "*" in path:
            continue
        braces = re.search(r"\{([^}]*)\}", path)  # bench/results/x.{json,md}: both
        for alternative in braces.group(1).split(",") if braces else [None]:
            yield path if alternative is None else path[:braces.start()] + alternative + path[braces.end():]
    for target in LINK.findall(text):
        path = (doc.parent / target).resolve()
        if not target.startswith("http") and path.is_relative_to(root) and \
                path.relative_to(root).parts[0] in ("bench", "experiments"):
            yield str(path.relative_to(root))


def test_every_bench_and_experiments_path_in_the_docs_exists():
    missing = {f"{doc.relative_to(REPO)}: {path}" for doc in DOCS for path in named_paths(doc)
               if not (REPO / path).exists()}
    assert not missing, sorted(missing)


def test_the_link_check_sees_a_missing_path(tmp_path):
    # A page in experiments/probe/ links its sibling as ../gone/README.md: only the link branch sees that path.
    (tmp_path / "experiments" / "probe").mkdir(parents=True)
    doc = tmp_path / "experiments" / "probe" / "README.md"
    doc.write_text("See `bench/results/gone.{json,md}` and [the other probe](../gone/README.md).")
    assert set(named_paths(doc, tmp_path.resolve())) == {"bench/results/gone.json", "bench/results/gone.md",
                                                         "experiments/gone/README.md"}
