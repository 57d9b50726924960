import os
from pathlib import Path

import pytest


@pytest.fixture()
def kgbd_root():
    """The data folder holding kgbd/KGBD.tar.gz (from HIMPC_DATA); skip when absent."""
    root = os.environ.get("HIMPC_DATA")
    if not root or not (Path(root) / "kgbd" / "KGBD.tar.gz").exists():
        pytest.skip("HIMPC_DATA does not point at a folder with kgbd/KGBD.tar.gz")
    return root
