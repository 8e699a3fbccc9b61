"""TimerPO on a two-node Ray cluster: `main_ppo` with trainer.nnodes=2 joins a cluster started without any of
this project's variables (two raylets on this machine, one logical GPU slot each, token authentication on),
so the CPU backend reaches the workers only through the runtime env the plugin builds."""

from __future__ import annotations

import json
import math
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
from env_support import clean_env
from main_ppo_support import cpu_smoke_command

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
CLUSTER_SCRIPT = Path(__file__).parents[1] / "support" / "two_node_ray_cluster.py"
CPUS_PER_NODE = 8  # logical: TransferQueue, agent-loop, reward and worker actors each take one
RUN_TIMEOUT = 900
STEPS = 2


def _without_project_env() -> dict[str, str]:
    """This environment without the project's, verl's and Hydra's variables or any Ray address or token (the
    tests' loopback switch stays: both nodes listen on 127.0.0.1)."""
    return clean_env("RAY_AUTH", "RAY_ADDRESS", "RAY_TMPDIR")


def _token_env(tmp: Path) -> dict[str, str]:
    """Token authentication as on a shared cluster: one token file, readable by its owner only."""
    token = tmp / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "RAY_TMPDIR": str(tmp)}


def _readline(stream, timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else ""


@dataclass
class Cluster:
    process: subprocess.Popen
    address: str
    nodes: list[str]
    env: dict[str, str]
    left_running: list[str] = field(default_factory=list)  # its processes alive after it ended (then killed)

    def actors(self) -> list[dict]:
        self.process.stdin.write("actors\n")
        self.process.stdin.flush()
        return json.loads(_readline(self.process.stdout, 60) or "[]")


@contextmanager
def two_node_cluster(tmp: Path):
    """The cluster process (tests/support/two_node_ray_cluster.py); it and everything it started are gone after
    the block, whatever happens inside it."""
    env = {**_without_project_env(), **_token_env(tmp)}
    log = (tmp / "cluster.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(CLUSTER_SCRIPT), str(CPUS_PER_NODE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
    )
    cluster = None
    try:
        line = _readline(proc.stdout, 180)
        assert line, f"the cluster did not start: {(tmp / 'cluster.log').read_text()[-3000:]}"
        info = json.loads(line)
        cluster = Cluster(proc, info["address"], info["nodes"], env)
        yield cluster
    finally:
        started = _descendants(proc.pid)
        proc.stdin.close()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
        alive = _alive(started, grace=30)
        if cluster is not None:
            cluster.left_running = [p.name() for p in alive]
        for child in alive:
            child.kill()
        log.close()


def _alive(processes: list[psutil.Process], grace: float) -> list[psutil.Process]:
    deadline = time.monotonic() + grace
    while True:
        alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(2)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@dataclass
class TwoNodeRun:
    out: Path
    returncode: int
    output: str
    nodes: list[str]
    actors: list[dict]
    left_running: list[str]

    @property
    def metrics(self) -> dict[int, dict]:
        lines = (self.out / "metrics.jsonl").read_text().splitlines()
        return {rec["step"]: rec["data"] for rec in map(json.loads, filter(None, lines))}


def _train_command(data: Path, model: Path, out: Path, address: str) -> list[str]:
    return cpu_smoke_command(
        data,
        model,
        "trainer.nnodes=2",
        "trainer.n_gpus_per_node=1",
        f"+ray_kwargs.ray_init.address={address}",
        "ray_kwargs.ray_init.num_cpus=null",
        "ray_kwargs.ray_init.num_gpus=null",  # the nodes declare them
        f"+ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH={out / 'metrics.jsonl'}",
        f"trainer.total_training_steps={STEPS}",
        f"trainer.total_epochs={STEPS}",
        f"trainer.save_freq={STEPS}",
        f"trainer.default_local_dir={out / 'checkpoints'}",
        "trainer.experiment_name=two_nodes",
        f"hydra.run.dir={out / 'hydra'}",
    )


@pytest.fixture(scope="module")
def two_node_run(demo_timerpo, machine_ray_lock) -> Iterator[TwoNodeRun]:
    """2 TimerPO steps of cpu_smoke on the demo's data and model, driven from a shell with only the CPU flag."""
    data, model = demo_timerpo.out / "data", demo_timerpo.out / "model"
    out = Path(tempfile.mkdtemp(prefix="anomseer-2n-"))  # short: Ray's socket paths live under it
    with machine_ray_lock(), two_node_cluster(out) as cluster:
        started = time.monotonic()
        proc = subprocess.run(
            _train_command(data, model, out, cluster.address),
            cwd=out,
            capture_output=True,
            env={**cluster.env, "VERL_ANOMSEER_CPU": "1"},
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        print(f"two-node run: {time.monotonic() - started:.0f} s")
        actors = cluster.actors()
    yield TwoNodeRun(out, proc.returncode, proc.stdout + proc.stderr, cluster.nodes, actors, cluster.left_running)
    shutil.rmtree(out, ignore_errors=True)


def _finished(run: TwoNodeRun) -> Iterator[TwoNodeRun]:
    assert run.returncode == 0, run.output[-4000:]
    return run


def test_actor_ranks_ran_on_both_nodes(two_node_run):
    run = _finished(two_node_run)
    workers = [a for a in run.actors if "WorkerDict" in a["class"]]
    assert len(workers) == 2, run.actors
    assert sorted(a["node"] for a in workers) == sorted(run.nodes), (workers, run.nodes)


def test_timerpo_metrics_of_both_steps_are_finite(two_node_run):
    metrics = _finished(two_node_run).metrics
    assert sorted(metrics) == list(range(1, STEPS + 1))
    for step, values in metrics.items():
        timerpo = {k: v for k, v in values.items() if k.startswith("timerpo/")}
        assert "timerpo/grounding_mean" in timerpo, (step, sorted(values))
        assert all(math.isfinite(v) for v in timerpo.values()), (step, timerpo)


def test_checkpoint_of_the_last_step_holds_both_ranks(two_node_run):
    checkpoints = _finished(two_node_run).out / "checkpoints"
    assert (checkpoints / "latest_checkpointed_iteration.txt").read_text().strip() == str(STEPS)
    actor = checkpoints / f"global_step_{STEPS}" / "actor"
    assert {p.name for p in actor.glob("model_world_size_2_rank_*.pt")} == {
        "model_world_size_2_rank_0.pt",
        "model_world_size_2_rank_1.pt",
    }
    assert (actor / "huggingface" / "model.safetensors").is_file()


def test_the_driver_named_the_shared_checkpoint_folder(two_node_run):
    run = _finished(two_node_run)
    assert f"verl_anomseer: trainer.default_local_dir={run.out / 'checkpoints'}: with trainer.nnodes=2" in run.output


def test_the_cluster_is_gone(two_node_run):
    assert two_node_run.left_running == []
