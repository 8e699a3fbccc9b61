"""A local run's Ray is closed: the cluster of a short training run (cpu_smoke, started by `main_ppo` as the demo
starts it, no auth setting anywhere) listens on the loopback only, refuses a client without the token while the
run trains, lets in one with the token, and the run finishes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from env_support import clean_env
from main_ppo_support import cpu_smoke_command

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]
RUN_TIMEOUT = 900
PROBE = textwrap.dedent(
    """
    import sys, ray
    try:
        ray.init(address=sys.argv[1], log_to_driver=False)
    except Exception as exc:
        print("REFUSED", type(exc).__name__, exc)
        sys.exit(3)
    print("JOINED", len(ray.nodes()))
    """
)


@dataclass
class ProbedRun:
    without_token: subprocess.CompletedProcess
    with_token: subprocess.CompletedProcess
    trained_through_probes: bool
    returncode: int
    log: str
    listening: set[str]


def _no_auth_settings() -> dict[str, str]:
    return clean_env("RAY_AUTH")


def _gcs_port(ray_tmp: Path, run: subprocess.Popen, timeout: float) -> int | None:
    """The port Ray's GCS listens on (`session_*/gcs_server_port_*` under RAY_TMPDIR), once the run started it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        for path in (ray_tmp / "ray").glob("session_*/gcs_server_port_*"):
            text = path.read_text().strip()
            if text.isdigit():
                return int(text)
        time.sleep(1)
    return None


def _listening(run: subprocess.Popen) -> set[str]:
    """The addresses the run's processes (Ray's GCS, raylet, agents and workers among them) listen on now."""
    found = set()
    try:
        children = psutil.Process(run.pid).children(recursive=True)
    except psutil.Error:
        return found
    for proc in children:
        try:
            found |= {c.laddr.ip for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
        except psutil.Error:
            continue
    return found


class ListeningWatch(threading.Thread):
    """Every address the run's processes listen on at any time from start to exit, sampled every `PERIOD_S`:
    the workers' sockets (torch's process-group store among them) open late, so one look can miss them."""

    PERIOD_S = 0.5

    def __init__(self, run: subprocess.Popen):
        super().__init__(daemon=True)
        self.process, self.seen = run, set()

    def run(self) -> None:
        while self.process.poll() is None:
            self.seen |= _listening(self.process)
            time.sleep(self.PERIOD_S)


def _probe(address: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROBE, address], env=env, capture_output=True, text=True, timeout=180, check=False
    )


@pytest.fixture(scope="module")
def local_run_probed(demo_timerpo, machine_ray_lock):
    """One TimerPO step of cpu_smoke on a new local cluster; both probes run while it trains."""
    data, model = demo_timerpo.out / "data", demo_timerpo.out / "model"
    out = Path(tempfile.mkdtemp(prefix="anomseer-auth-"))  # short: Ray's socket paths live under it
    env = {**_no_auth_settings(), "VERL_ANOMSEER_CPU": "1", "RAY_TMPDIR": str(out)}
    command = cpu_smoke_command(
        data,
        model,
        "trainer.total_training_steps=1",
        "trainer.save_freq=-1",
        f"trainer.default_local_dir={out / 'checkpoints'}",
        f"hydra.run.dir={out / 'hydra'}",
    )
    with machine_ray_lock(), (out / "train.log").open("w") as log:
        started = time.monotonic()
        run = subprocess.Popen(command, env=env, cwd=out, stdout=log, stderr=subprocess.STDOUT)
        watch = ListeningWatch(run)
        watch.start()
        try:
            port = _gcs_port(out, run, timeout=300)
            assert port is not None, (out / "train.log").read_text()[-3000:]
            address = f"127.0.0.1:{port}"
            (out / "home").mkdir()  # no ~/.ray/auth_token there
            without = _probe(address, {**_no_auth_settings(), "HOME": str(out / "home"), "RAY_TMPDIR": str(out)})
            with_token = _probe(address, {**_no_auth_settings(), "RAY_AUTH_MODE": "token", "RAY_TMPDIR": str(out)})
            trained_through_probes = run.poll() is None
            returncode = run.wait(timeout=RUN_TIMEOUT)
            watch.join(timeout=30)
            print(f"local run with probes: {time.monotonic() - started:.0f} s")
        finally:
            if run.poll() is None:
                run.kill()
    log_text = (out / "train.log").read_text()
    yield ProbedRun(without, with_token, trained_through_probes, returncode, log_text, watch.seen)
    shutil.rmtree(out, ignore_errors=True)


def test_a_client_without_the_token_is_refused(local_run_probed):
    run, without = local_run_probed, local_run_probed.without_token
    assert run.trained_through_probes, "the run ended before both probes were done"
    assert without.returncode == 3 and without.stdout.startswith("REFUSED"), without.stdout + without.stderr[-2000:]
    assert "Authentication token is missing or incorrect" in without.stderr, without.stderr[-2000:]


def test_a_client_with_the_token_joins_and_the_run_finishes(local_run_probed):
    with_token = local_run_probed.with_token
    assert with_token.returncode == 0 and with_token.stdout.startswith("JOINED"), with_token.stderr[-2000:]
    assert local_run_probed.returncode == 0, local_run_probed.log[-4000:]


def test_its_ray_listens_on_the_loopback_only(local_run_probed):
    listening = local_run_probed.listening
    assert listening and listening <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, listening
