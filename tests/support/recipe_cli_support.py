"""The job configs `python -m verl.trainer.main_ppo --config-path=pkg://verl_anomseer.recipes --config-name=NAME
--cfg job` prints, for many recipes in one process: verl's `main_ppo.main` (Hydra's CLI entry, which parses
`sys.argv`) called once per recipe, so the import cost (about 15 s of CPU) is paid once, not per recipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

_MARK = "#### anomseer recipe: "
_SCRIPT = f"""
import sys
from hydra.core.global_hydra import GlobalHydra
from verl.trainer import main_ppo

names, overrides = sys.argv[1:sys.argv.index("--")], sys.argv[sys.argv.index("--") + 1:]
for name in names:
    GlobalHydra.instance().clear()
    sys.argv = ["main_ppo.py", "--config-path=pkg://verl_anomseer.recipes", "--config-name=" + name, "--cfg", "job",
                *overrides]
    print({_MARK!r} + name, flush=True)
    main_ppo.main()
"""


def printed_job_configs(names: list[str], cwd: Path, overrides: tuple[str, ...] = ()) -> dict[str, dict]:
    """Recipe name -> the job config main_ppo's CLI prints for it with `overrides` (unresolved, as YAML parsed
    to a dict)."""
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *names, "--", *overrides],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env={**os.environ, "HYDRA_FULL_ERROR": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    chunks = proc.stdout.split(_MARK)[1:]
    printed = {}
    for chunk in chunks:
        name, _, text = chunk.partition("\n")
        printed[name] = yaml.safe_load(text)
    assert sorted(printed) == sorted(names), proc.stdout[-3000:]
    return printed
