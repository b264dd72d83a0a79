"""The paper's published numbers (and a few outside reference numbers) as data, each with its source.

Everything here is copied from ``PAPER_NOTES.md`` / the paper text (Endo, Tanaka, Okutomi, ICIP 2020,
arXiv 2006.08145), nothing is recomputed. Accuracies are fractions in [0, 1] (the paper prints them with
three decimals), CPSNR is in dB. Tables are keyed by ``(degradation, dataset)`` using the names of the
degradation registry (``"jpeg"``, ``"gaussian"``) and of the datasets (``"cifar10"``, ``"cifar100"``).

This module imports nothing but the standard library so that tables and figures can be rebuilt anywhere.
"""
from __future__ import annotations

PAPER = "Endo, Tanaka, Okutomi, ICIP 2020 (arXiv 2006.08145)"


def _rows(*rows):
    return {(lo, hi): tuple(vals) for (lo, hi), *vals in rows}


# Interval mean accuracy, columns in keras_irdi.network_ids.NETWORKS order (the paper's).
INTERVAL_TABLES: dict[tuple[str, str], dict] = {
    ("jpeg", "cifar10"): {
        "table": "Table 3",
        "source": f"{PAPER}, Table 3 (interval mean accuracy of JPEG CIFAR-10)",
        "values": _rows(
            ((1, 20), 0.431, 0.724, 0.569, 0.736, 0.677, 0.737),
            ((21, 40), 0.700, 0.844, 0.802, 0.852, 0.825, 0.855),
            ((41, 60), 0.763, 0.857, 0.849, 0.864, 0.844, 0.870),
            ((61, 80), 0.799, 0.866, 0.874, 0.870, 0.858, 0.883),
            ((81, 100), 0.861, 0.874, 0.902, 0.878, 0.885, 0.903),
            ((1, 100), 0.711, 0.833, 0.799, 0.840, 0.818, 0.850)),
    },
    ("jpeg", "cifar100"): {
        "table": "Table 4",
        "source": f"{PAPER}, Table 4 (interval mean accuracy of JPEG CIFAR-100)",
        "values": _rows(
            ((1, 20), 0.202, 0.448, 0.324, 0.453, 0.391, 0.454),
            ((21, 40), 0.407, 0.561, 0.493, 0.564, 0.540, 0.572),
            ((41, 60), 0.465, 0.577, 0.545, 0.579, 0.567, 0.594),
            ((61, 80), 0.504, 0.583, 0.582, 0.586, 0.580, 0.611),
            ((81, 100), 0.582, 0.591, 0.628, 0.592, 0.616, 0.637),
            ((1, 100), 0.432, 0.552, 0.514, 0.555, 0.539, 0.573)),
    },
    ("gaussian", "cifar10"): {
        "table": "Table 6",
        "source": f"{PAPER}, Table 6 (interval mean accuracy of Gaussian CIFAR-10)",
        "values": _rows(
            ((0, 10), 0.796, 0.851, 0.903, 0.862, 0.838, 0.904),
            ((11, 20), 0.328, 0.844, 0.883, 0.852, 0.509, 0.889),
            ((21, 30), 0.138, 0.829, 0.848, 0.838, 0.271, 0.865),
            ((31, 40), 0.106, 0.809, 0.797, 0.821, 0.198, 0.835),
            ((41, 50), 0.101, 0.785, 0.740, 0.798, 0.173, 0.804),
            ((0, 50), 0.304, 0.824, 0.835, 0.835, 0.406, 0.860)),
    },
}

# CPSNR [dB] of the degraded and the restored CIFAR-10 test images at the paper's levels.
CPSNR_TABLES: dict[tuple[str, str], dict] = {
    ("jpeg", "cifar10"): {
        "table": "Table 2",
        "source": f"{PAPER}, Table 2 (CPSNR of JPEG CIFAR-10 and its restoration)",
        "levels": (10, 30, 50, 70, 90),
        "degraded": (23.28, 26.73, 28.25, 29.82, 33.65),
        "restored": (24.29, 27.91, 29.45, 31.00, 34.51),
    },
    ("gaussian", "cifar10"): {
        "table": "Table 5",
        "source": f"{PAPER}, Table 5 (CPSNR of Gaussian CIFAR-10 and its restoration)",
        "levels": (10, 20, 30, 40, 50),
        "degraded": (28.13, 22.11, 18.59, 16.09, 14.15),
        "restored": (33.47, 29.74, 27.58, 26.05, 24.87),
    },
}

ROBUSTBENCH_SOURCE = ("RobustBench CIFAR-10-C leaderboard, per-corruption numbers as quoted in "
                      "PAPER_NOTES.md")
NOT_AVAILABLE = "not available offline"

# Accuracy of outside models on CIFAR-10-C, per severity 1..5 (fractions). ``None`` = no number known
# offline; such numbers are deliberately not invented.
CIFAR_C_REFERENCES: dict[str, dict] = {
    "jpeg": {
        "dataset": "cifar10",
        "source": ROBUSTBENCH_SOURCE,
        "note": "CIFAR-10-C JPEG severities 1-5 are PIL qualities 80, 65, 58, 50, 40",
        "models": {
            "Standard WRN-28-10": (0.864, 0.797, 0.780, 0.742, 0.697),
            "AugMix WRN-40-2": (0.913, 0.891, 0.879, 0.869, 0.853),
        },
    },
    "gaussian": {
        "dataset": "cifar10",
        "source": NOT_AVAILABLE,
        "note": ("CIFAR-10-C Gaussian-noise severities 1-5 are sigma 0.04, 0.06, 0.08, 0.09, 0.10 on [0,1]; "
                 "per-severity reference accuracies are " + NOT_AVAILABLE),
        "models": {
            "RobustBench reference": (None, None, None, None, None),
        },
    },
}


def interval_table(degradation: str, dataset: str) -> dict | None:
    """``{"source": str, "values": {(lo, hi): (6 accuracies)}}`` or None if the paper has no such table."""
    return INTERVAL_TABLES.get((degradation, dataset))


def cpsnr_table(degradation: str, dataset: str) -> dict | None:
    """``{"source", "levels", "degraded", "restored"}`` or None if the paper reports no CPSNR for it."""
    return CPSNR_TABLES.get((degradation, dataset))


def cifar_c_reference(degradation: str) -> dict | None:
    """Outside reference accuracies on CIFAR-10-C for this degradation (see ``CIFAR_C_REFERENCES``)."""
    return CIFAR_C_REFERENCES.get(degradation)
