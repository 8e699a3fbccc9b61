"""The expcot domain package stays free of verl (and of stumpy until a discord is asked for)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_expcot_loads_neither_verl_nor_stumpy():
    code = (
        "import sys, verl_anomseer.expcot; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'verl', 'stumpy', 'torch'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
