"""Driver-side cluster checks and the runtime-env forwarding on the composed cpu_smoke recipe, merged the way
verl's `run_ppo` merges them before `ray.init`. verl (and with it the plugin) is imported at collection, before a
test sets the CPU flag, so the flag never activates the backend in this process."""

from __future__ import annotations

import logging
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf
from recipe_support import compose_recipe
from verl.trainer.constants_ppo import get_ppo_ray_runtime_env

from verl_anomseer import cluster
from verl_anomseer.cluster import ClusterConfigError

ABSOLUTE = (
    "actor_rollout_ref.model.path=/shared/model",
    "data.train_files=/shared/train.parquet",
    "data.val_files=/shared/test.parquet",
)
JOIN = (
    "+ray_kwargs.ray_init.address=10.0.0.1:6379",
    "ray_kwargs.ray_init.num_cpus=null",
    "ray_kwargs.ray_init.num_gpus=null",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in (
        *cluster.FORWARDED_ENV_VARS,
        *cluster.VERL_ENV_VARS,
        *cluster.LOOPBACK_ENV,
        "RAY_ADDRESS",
        "RAY_AUTH_MODE",
    ):
        monkeypatch.delenv(name, raising=False)


def _smoke(*overrides: str):
    return compose_recipe("cpu_smoke", "actor_rollout_ref.model.path=tiny", *overrides)


def _runtime_env_as_verl_merges_it(config) -> dict:
    """`verl.trainer.main_ppo.run_ppo`: verl's defaults, then `ray_kwargs.ray_init.runtime_env` on top."""
    merged = OmegaConf.merge(get_ppo_ray_runtime_env(config), config.ray_kwargs.ray_init.get("runtime_env", {}))
    return OmegaConf.to_container(merged)


def test_project_variables_reach_the_jobs_runtime_env(monkeypatch):
    monkeypatch.setenv("VERL_ANOMSEER_CPU", "1")
    monkeypatch.delenv("NCCL_DEBUG", raising=False)
    cfg = _smoke()
    assert cluster.forward_env(cfg) == {"VERL_ANOMSEER_CPU": "1"}
    env_vars = _runtime_env_as_verl_merges_it(cfg)["env_vars"]
    assert env_vars["VERL_ANOMSEER_CPU"] == "1"
    assert env_vars["NCCL_DEBUG"] == "WARN"  # verl's own defaults are kept


def test_a_value_the_user_passed_wins_and_other_user_variables_stay(monkeypatch):
    monkeypatch.setenv("VERL_ANOMSEER_CPU", "1")
    cfg = _smoke(
        "+ray_kwargs.ray_init.runtime_env.env_vars.VERL_ANOMSEER_CPU='0'",
        "+ray_kwargs.ray_init.runtime_env.env_vars.OTHER='x'",
    )
    assert cluster.forward_env(cfg) == {}
    env_vars = _runtime_env_as_verl_merges_it(cfg)["env_vars"]
    assert (env_vars["VERL_ANOMSEER_CPU"], env_vars["OTHER"]) == ("0", "x")


def test_nothing_is_forwarded_when_unset_or_without_ray_kwargs(monkeypatch):
    cfg = _smoke()
    before = OmegaConf.to_container(cfg.ray_kwargs)
    assert cluster.forward_env(cfg) == {} and OmegaConf.to_container(cfg.ray_kwargs) == before
    monkeypatch.setenv("VERL_ANOMSEER_CPU", "1")
    assert cluster.forward_env(OmegaConf.create({"trainer": {"nnodes": 1}})) == {}


def test_address_from_config_then_ray_address_and_local_means_a_new_cluster(monkeypatch):
    assert cluster.cluster_address(_smoke()) is None
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.2:6379")
    assert cluster.cluster_address(_smoke()) == "10.0.0.2:6379"
    assert cluster.cluster_address(_smoke("+ray_kwargs.ray_init.address=10.0.0.1:6379")) == "10.0.0.1:6379"
    assert cluster.cluster_address(_smoke("+ray_kwargs.ray_init.address=local")) is None


@pytest.mark.parametrize("key", ["num_cpus", "num_gpus"])
def test_joining_with_node_resources_is_refused_naming_the_key(key):
    overrides = [o for o in JOIN if not o.startswith(f"ray_kwargs.ray_init.{key}=")]
    cfg = _smoke(*overrides)
    with pytest.raises(ClusterConfigError, match=rf"^ray_kwargs\.ray_init\.{key}=\d+: Ray refuses node resources"):
        cluster.check_join_kwargs(cfg, "10.0.0.1:6379")
    cluster.check_join_kwargs(_smoke(*JOIN), "10.0.0.1:6379")


def test_the_loopback_switch_is_refused_for_a_cluster_elsewhere(monkeypatch):
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    with pytest.raises(ClusterConfigError, match=r"^RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 binds this driver to 127"):
        cluster.check_join_kwargs(_smoke(*JOIN), "10.0.0.1:6379")
    for here in ("127.0.0.1:6379", "localhost:6379", "[::1]:6379", "auto"):
        cluster.check_join_kwargs(_smoke(*JOIN), here)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("actor_rollout_ref.model.path=models/qwen", "actor_rollout_ref.model.path"),
        ("actor_rollout_ref.model.path=Qwen/Qwen2.5-VL-7B-Instruct", "actor_rollout_ref.model.path"),
        ("+actor_rollout_ref.model.tokenizer_path=tok", "actor_rollout_ref.model.tokenizer_path"),
        ("data.train_files=[/shared/a.parquet,b.parquet]", "data.train_files"),
        ("data.val_files='~/test.parquet'", "data.val_files"),
        ("reward.custom_reward_function.path=my_reward.py", "reward.custom_reward_function.path"),
    ],
)
def test_multi_node_refuses_a_relative_input_path_naming_the_key(override, key):
    cfg = _smoke(*ABSOLUTE, override, "trainer.nnodes=2")
    with pytest.raises(ClusterConfigError, match=rf"^{key}=.* is a relative path: with trainer\.nnodes=2"):
        cluster.check_shared_paths(cfg)


def test_one_node_accepts_relative_paths_and_warns_about_nothing(caplog):
    with caplog.at_level(logging.WARNING, logger="verl_anomseer.cluster"):
        assert cluster.check_shared_paths(_smoke("data.train_files=rel.parquet")) == []
    assert caplog.records == []


def test_multi_node_warns_naming_every_output_folder(caplog):
    cfg = _smoke(
        *ABSOLUTE,
        "trainer.nnodes=2",
        "trainer.rollout_data_dir=/shared/rollouts",
        "trainer.validation_data_dir=hdfs://nn/val",
    )
    with caplog.at_level(logging.WARNING, logger="verl_anomseer.cluster"):
        warnings = cluster.check_shared_paths(cfg)
    assert [w.split("=")[0] for w in warnings] == [
        "verl_anomseer: trainer.default_local_dir",
        "verl_anomseer: trainer.rollout_data_dir",
    ]
    assert "(relative: resolved in each worker's working directory)" in warnings[0]
    assert "mounted at this same path on every node" in warnings[1] and "relative" not in warnings[1]
    assert [r.getMessage() for r in caplog.records] == warnings


def test_uris_are_not_local_paths():
    cluster.check_shared_paths(
        _smoke(
            "actor_rollout_ref.model.path=hdfs://nn/model",
            "data.train_files=s3://b/t",
            "data.val_files=/shared/v.parquet",
            "trainer.nnodes=2",
        )
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_address_exits_2_with_one_line(capsys):
    address = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(SystemExit) as exit_info:
        cluster.check_reachable(address)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"verl_anomseer: no Ray cluster answers at {address}"), err


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_a_listening_address_passes(scheme):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        cluster.check_reachable(f"{scheme}127.0.0.1:{server.getsockname()[1]}")


def test_auto_and_an_address_without_port_are_left_to_ray():
    cluster.check_reachable("auto")
    cluster.check_reachable("head-node")


@given(
    host=st.one_of(st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True), st.ip_addresses().map(str)),
    port=st.integers(0, 65535),
    scheme=st.sampled_from(["", "ray://"]),
)
def test_host_port_round_trip(host, port, scheme):
    shown = f"[{host}]" if ":" in host else host
    assert cluster._host_port(f"{scheme}{shown}:{port}") == (host, port)


def test_joining_driver_is_warned_about_the_token_and_verl_variables_left_behind(monkeypatch):
    monkeypatch.setenv("VERL_FILE_LOGGER_PATH", "/tmp/metrics.jsonl")
    warnings = cluster.warn_driver_env(_smoke(*JOIN), "10.0.0.1:6379")
    assert len(warnings) == 2 and "RAY_AUTH_MODE is not 'token'" in warnings[0]
    assert "'+ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH=...'" in warnings[1]
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    passed = "+ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH=/tmp/metrics.jsonl"
    assert cluster.warn_driver_env(_smoke(*JOIN, passed), "10.0.0.1:6379") == []
    monkeypatch.delenv("RAY_AUTH_MODE")
    assert cluster.warn_driver_env(_smoke(*JOIN, passed), "auto") == []


def test_a_local_one_node_run_is_only_forwarded(monkeypatch):
    monkeypatch.setenv("VERL_ANOMSEER_CPU", "1")
    cfg = _smoke()
    cluster.prepare_driver_config(cfg)
    assert cfg.ray_kwargs.ray_init.runtime_env.env_vars.VERL_ANOMSEER_CPU == "1"
