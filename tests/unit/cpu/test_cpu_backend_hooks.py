"""The CPU backend's hooks into verl 0.9.1 internals, each checked against the real verl code path.

These break loudly when verl changes what the backend relies on: the platform registry and device helpers, the
gloo process group, the rollout registries, the GPU-less refusal (the version and the signatures of every internal
are checked by tests/integration/test_verl_internals.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import pytest
from env_support import clean_env

from verl_anomseer.cpu import ENABLE_HINT, ENV_FLAG


def _run(code: str, flag: bool = True, timeout: int = 240) -> subprocess.CompletedProcess:
    env = clean_env()
    if flag:
        env[ENV_FLAG] = "1"
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_entry_point_activates_platform_rollout_and_gloo_process_group():
    """`import verl` with the flag set: the plugin entry point activates the backend, and verl's own helpers
    then resolve the cpu platform, the hf rollout classes and a working gloo process group."""
    result = _run(
        """
        import json, os
        import verl
        import torch, torch.distributed as dist
        from verl.utils import device
        from verl.utils.distributed import initialize_global_process_group_ray
        from verl.workers.rollout.base import get_rollout_class
        from verl.workers.rollout.replica import get_rollout_replica_class
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29617", RANK="0", WORLD_SIZE="1")
        initialize_global_process_group_ray()
        t = torch.ones(3)
        dist.all_reduce(t)
        torch_device = device.get_torch_device()
        torch_device.manual_seed(3)
        print(json.dumps({
            "platform": type(device.get_platform()).__name__,
            "device": device.get_device_name(), "backend": device.get_nccl_backend(),
            "resource": device.get_resource_name(), "device_id": device.get_device_id(),
            "pg_backend": dist.get_backend(), "all_reduce": t.tolist(),
            "seeded": torch.initial_seed(), "mem": list(torch_device.mem_get_info()),
            "noop": torch_device.empty_cache(),
            "adapter": get_rollout_class("hf", "async").__qualname__,
            "replica": get_rollout_replica_class("hf").__qualname__,
            "env": {k: os.environ[k] for k in ("VERL_PLATFORM", "VERL_ENGINE_DEVICE", "VERL_ENGINE_VENDOR")},
        }))
        dist.destroy_process_group()
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["platform"] == "PlatformCPU"
    assert (got["device"], got["backend"], got["resource"], got["device_id"]) == ("cpu", "gloo", "GPU", "cpu")
    assert got["pg_backend"] == "gloo" and got["all_reduce"] == [1.0, 1.0, 1.0]
    assert got["seeded"] == 3 and got["mem"][0] > 0 and got["noop"] == 0
    assert (got["adapter"], got["replica"]) == ("HFServerAdapter", "HFReplica")
    assert got["env"] == {"VERL_PLATFORM": "cpu", "VERL_ENGINE_DEVICE": "cuda", "VERL_ENGINE_VENDOR": "nvidia"}


def test_without_the_flag_nothing_is_registered():
    result = _run(
        """
        import sys, verl
        from verl.plugin.platform import PlatformRegistry
        from verl.workers.rollout.base import _ROLLOUT_REGISTRY
        print(PlatformRegistry.get("cpu"), ("hf", "async") in _ROLLOUT_REGISTRY,
              "verl_anomseer.cpu.rollout" in sys.modules)
        """,
        flag=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["None", "False", "False"]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without a GPU")
def test_gpu_less_training_run_without_the_flag_fails_with_one_message():
    env = clean_env()
    result = subprocess.run(
        [sys.executable, "-m", "verl.trainer.main_ppo", "algorithm.adv_estimator=grpo"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 2
    assert ENABLE_HINT in result.stderr and f"{ENV_FLAG}=1" in ENABLE_HINT
    assert "Traceback" not in result.stderr


def test_printing_the_config_without_a_gpu_is_not_refused():
    env = clean_env()
    result = subprocess.run(
        [sys.executable, "-m", "verl.trainer.main_ppo", "--cfg", "job", "algorithm.adv_estimator=grpo"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "adv_estimator: grpo" in result.stdout


RANK_SCRIPT = """
import json, os, sys
import verl
import psutil, torch, torch.distributed as dist
from verl.utils.distributed import initialize_global_process_group_ray
initialize_global_process_group_ray()
t = torch.full((2,), float(dist.get_rank() + 1))
dist.all_reduce(t)
listening = sorted({c.laddr.ip for c in psutil.Process().net_connections("inet") if c.status == psutil.CONN_LISTEN})
dist.barrier()
print(json.dumps({"rank": dist.get_rank(), "world": dist.get_world_size(), "sum": t.tolist(), "listening": listening}))
dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_local_process_group_listens_on_the_loopback_only():
    """Two ranks through verl's own process-group helper with MASTER_ADDR=127.0.0.1: they reduce together, and
    no socket of either rank (torch's store on rank 0 included) listens beyond the loopback."""
    port = _free_port()
    ranks = [
        subprocess.Popen(
            [sys.executable, "-c", RANK_SCRIPT],
            env=clean_env(
                **{ENV_FLAG: "1"}, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2"
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [proc.communicate(timeout=240) for proc in ranks]
    for proc, (_, err) in zip(ranks, outputs):
        assert proc.returncode == 0, err[-3000:]
    got = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert [(g["rank"], g["world"], g["sum"]) for g in got] == [(0, 2, [3.0, 3.0]), (1, 2, [3.0, 3.0])]
    assert got[0]["listening"], "rank 0 hosts the store, so it listens somewhere"
    for g in got:
        assert set(g["listening"]) <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, g


@pytest.mark.parametrize(
    ("env", "kwargs"),
    [
        ({"MASTER_ADDR": "10.0.0.7", "RANK": "0"}, {}),  # another node must reach the store: torch's own path
        ({"MASTER_ADDR": "127.0.0.1", "RANK": "1"}, {}),  # a client rank
        ({"MASTER_ADDR": "127.0.0.1", "RANK": "0"}, {"init_method": "tcp://127.0.0.1:1"}),  # the caller chose
        ({"MASTER_ADDR": "127.0.0.1", "RANK": "0"}, {"store": object()}),
    ],
)
def test_every_other_rendezvous_is_left_to_torch(monkeypatch, env, kwargs):
    from verl_anomseer.cpu.platform import loopback_store

    monkeypatch.setenv("MASTER_PORT", "29999")
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert loopback_store(kwargs) is None
