"""The CPU backend's hooks into verl 0.9.1 internals, each checked against the real verl code path.

These break loudly when verl changes what the backend relies on: the pinned version, the platform
registry and device helpers, the gloo process group, the rollout registries, the GPU-less refusal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from verl_anomseer.cpu import ENABLE_HINT, ENV_FLAG, _starts_training

VERL_VERSION = "0.9.1"


def _run(code: str, flag: bool = True, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERL_")}
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


def test_verl_is_the_version_the_backend_was_built_against():
    import verl

    assert verl.__version__ == VERL_VERSION, (
        f"the CPU backend relies on verl {VERL_VERSION} internals (platform registry, rollout registries, "
        f"process-group backend string); found verl {verl.__version__}: re-check verl_anomseer/cpu/"
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERL_")}
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


@pytest.mark.parametrize(
    ("argv", "trains"),
    [
        (["python", "-m", "verl.trainer.main_ppo", "trainer.n_gpus_per_node=1"], True),
        (["python", "-u", "-m", "verl.trainer.main_ppo"], True),
        (["python", "/x/site-packages/verl/trainer/main_ppo.py", "a=b"], True),
        (["python", "-m", "verl.trainer.main_ppo", "--cfg", "job"], False),
        (["python", "-m", "verl.trainer.main_ppo", "--help"], False),
        (["python", "-m", "verl.trainer.main_generation_server"], False),
        (["python", "-m", "pytest", "-m", "e2e"], False),
        (["python", "-c", "import verl"], False),
    ],
)
def test_only_a_main_ppo_training_command_counts_as_starting_training(argv, trains):
    assert _starts_training(argv) is trains
