"""A cluster run that cannot work stops in the driver, before `ray.init`, naming the key or the address.

Real processes: `python -m verl.trainer.main_ppo` on the cpu_smoke recipe, where verl's own `main` calls
`verl.utils.config.validate_config` (checked by `verl_anomseer.plugin`) before it starts or joins Ray."""

from __future__ import annotations

import socket

import pytest
from main_ppo_support import assert_refused_before_ray, run_cpu_smoke

pytestmark = pytest.mark.integration
NO_NODE_RESOURCES = ("ray_kwargs.ray_init.num_cpus=null", "ray_kwargs.ray_init.num_gpus=null")


def _error_line(stderr: str) -> str:
    return next((line for line in stderr.splitlines() if line.startswith("verl_anomseer.")), "")


def test_two_nodes_with_a_relative_model_path_fail_naming_the_key(tmp_path):
    result = run_cpu_smoke(tmp_path, "trainer.nnodes=2")  # the helper's model path is relative
    assert_refused_before_ray(result, tmp_path)
    assert _error_line(result.stderr).startswith(
        "verl_anomseer.cluster.ClusterConfigError: actor_rollout_ref.model.path='never-loaded' is a relative path: "
        "with trainer.nnodes=2"
    ), result.stderr[-3000:]


def test_joining_a_cluster_with_node_resources_fails_naming_the_key(tmp_path):
    result = run_cpu_smoke(tmp_path, "+ray_kwargs.ray_init.address=127.0.0.1:1")
    assert_refused_before_ray(result, tmp_path)
    assert _error_line(result.stderr).startswith(
        "verl_anomseer.cluster.ClusterConfigError: ray_kwargs.ray_init.num_cpus=16: Ray refuses node resources"
    ), result.stderr[-3000:]


def test_an_unreachable_address_fails_with_one_line_and_exit_code_2(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"  # nothing listens once the socket closes
    result = run_cpu_smoke(tmp_path, f"+ray_kwargs.ray_init.address={address}", *NO_NODE_RESOURCES)
    assert_refused_before_ray(result, tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    ours = [line for line in result.stderr.splitlines() if "verl_anomseer" in line]
    assert len(ours) == 1 and ours[0].startswith(f"verl_anomseer: no Ray cluster answers at {address}"), ours
    assert "Traceback" not in result.stderr
