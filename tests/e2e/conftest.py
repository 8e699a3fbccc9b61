"""End-to-end runs of the demo (`main_ppo` on the CPU backend), one Ray cluster at a time, shared per session."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

RAY_LOCK = Path(os.environ.get("ANOMSEER_RAY_LOCK", Path(tempfile.gettempdir()) / "anomseer-e2e.lock"))
RUN_TIMEOUT = 600  # seconds per demo run (hard limit, enforced by the demo and by subprocess)
RAY_EXIT_GRACE = 60  # seconds Ray may take to wind down after the driver exits
SMOKE_ARGS = ("--steps", "2", "--prompts", "2")  # the demo's loop, short: 2 steps of 2 prompts (later args win)
_RAY_NAMES = ("raylet", "gcs_server", "ray::", "dashboard", "plasma_store", "default_worker.py")


def ray_processes() -> dict[int, str]:
    """Live (not zombie) Ray processes of this machine, by pid."""
    found = {}
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            if proc.info["status"] != psutil.STATUS_ZOMBIE and any(name in cmdline for name in _RAY_NAMES):
                found[proc.info["pid"]] = cmdline[:120]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@dataclass
class DemoRun:
    out: Path
    returncode: int
    stdout: str
    leftover_ray: dict[int, str]

    @property
    def metrics(self) -> dict[int, dict]:
        lines = (self.out / "metrics.jsonl").read_text().splitlines()
        return {rec["step"]: rec["data"] for rec in map(json.loads, filter(None, lines))}

    def generations(self) -> list[dict]:
        rows = []
        for path in sorted((self.out / "rollouts").glob("*.jsonl")):
            rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return rows


@contextmanager
def ray_lock():
    """Hold the machine-wide lock: one Ray cluster of these tests at a time."""
    RAY_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with RAY_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def machine_ray_lock():
    """`ray_lock`, for the tests that start a Ray cluster themselves."""
    return ray_lock


def run_demo(out: Path, *args: str) -> DemoRun:
    """`python -m verl_anomseer.demo --out OUT ARGS` under the machine-wide Ray lock; Ray processes that
    appear during the run and are still alive `RAY_EXIT_GRACE` s after it are reported (and then killed)."""
    with ray_lock():
        before = set(ray_processes())
        proc = subprocess.run(
            [sys.executable, "-m", "verl_anomseer.demo", "--out", str(out), "--no-progress", *SMOKE_ARGS, *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT + 120,
        )
        deadline, leftover = time.monotonic() + RAY_EXIT_GRACE, {}
        while time.monotonic() < deadline:
            leftover = {pid: cmd for pid, cmd in ray_processes().items() if pid not in before}
            if not leftover:
                break
            time.sleep(2)
        for pid in leftover:  # never leave our own cluster behind for the next test
            with _ignored():
                psutil.Process(pid).kill()
    return DemoRun(out, proc.returncode, proc.stdout + proc.stderr, leftover)


class _ignored:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], psutil.Error)


@pytest.fixture(scope="session")
def demo_timerpo(tmp_path_factory) -> DemoRun:
    """The demo as `make demo` runs it: TimerPO grounded in the policy's hidden states, then evaluation."""
    return run_demo(tmp_path_factory.mktemp("demo_timerpo"))


@pytest.fixture(scope="session")
def demo_timerpo_reward(tmp_path_factory, demo_timerpo) -> DemoRun:
    """The ablation source: grounding by the frozen MiniLM encoder in the reward function, without evaluation."""
    shared = ("--data", str(demo_timerpo.out / "data"), "--model", str(demo_timerpo.out / "model"), "--steps", "2")
    return run_demo(tmp_path_factory.mktemp("demo_timerpo_reward"), "--grounding", "reward", "--no-eval", *shared)


@pytest.fixture(scope="session")
def demo_grpo(tmp_path_factory, demo_timerpo) -> DemoRun:
    """The same data and model with verl's own GRPO estimator and no grounding term, without evaluation."""
    shared = ("--data", str(demo_timerpo.out / "data"), "--model", str(demo_timerpo.out / "model"))
    return run_demo(tmp_path_factory.mktemp("demo_grpo"), "--algorithm", "grpo", "--no-eval", *shared)


@pytest.fixture(scope="session")
def demo_runner():
    """`run_demo`, for test modules that start demo runs of their own (one Ray cluster at a time)."""
    return run_demo
