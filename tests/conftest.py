"""Shared fixtures. Real data comes from the shared folder (never copied into the repo): `$IRDI_DATA`, else
`../shared/data` next to the repository; tests that need it are skipped when it is absent."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("IRDI_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory):
    """The real CIFAR-10 copy, unpacked once per session into the official python layout."""
    unpack = SHARED_DATA / "cifar10" / "unpack.py"
    if not unpack.is_file():
        pytest.skip(f"real CIFAR-10 not available ({unpack} missing; set IRDI_DATA to the shared data folder)")
    dest = tmp_path_factory.mktemp("cifar10")
    subprocess.run([sys.executable, str(unpack), str(dest)], check=True, capture_output=True)
    return dest


@pytest.fixture(scope="session")
def clean_dir():
    """The T91 clean photographs (Yang91 in the paper)."""
    folder = SHARED_DATA / "clean" / "T91"
    if not folder.is_dir():
        pytest.skip(f"clean images not available ({folder} missing; set IRDI_DATA to the shared data folder)")
    return folder
