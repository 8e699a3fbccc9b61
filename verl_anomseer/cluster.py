"""A run on an existing (multi-node) Ray cluster: what the driver carries to the workers, and what it checks
before `ray.init` (docs/cluster.md). `prepare_driver_config` is the plugin's driver check (`DRIVER_CHECKS`).

The workers of a cluster started by someone else do not inherit the driver's environment, so
`forward_env` adds each variable of `FORWARDED_ENV_VARS` set in the driver to the job's Ray runtime env,
`ray_kwargs.ray_init.runtime_env.env_vars` (a value the user set there wins). With A = the address `ray.init`
will join (`ray_kwargs.ray_init.address`, else `RAY_ADDRESS`; none or `local` starts a new local cluster):
  - A set: no node resources in `ray_kwargs.ray_init` (Ray refuses them when joining), no `LOOPBACK_ENV`
    unless A is a loopback address, A answers a TCP connection within `PROBE_TIMEOUT_S` (else one line and
    exit code 2), a warning without `RAY_AUTH_MODE=token` (Ray sends a token to an explicit address only then;
    `auto` finds it itself) and for each of `VERL_ENV_VARS` set here but not passed on;
  - trainer.nnodes > 1: model, tokenizer, data and reward-function paths absolute (or URIs), since each node
    resolves a relative one in its own working directory; a warning naming the output folders
    (`trainer.default_local_dir`, ...) that every node must see as one storage.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from verl_anomseer import cpu
from verl_anomseer.netaddr import is_loopback

logger = logging.getLogger(__name__)

# every environment variable this project (plugin, backends) reads; each travels with the job when set
FORWARDED_ENV_VARS: tuple[str, ...] = (cpu.ENV_FLAG,)
# verl's variables a user passes the same way, by hand (`+ray_kwargs.ray_init.runtime_env.env_vars.NAME=...`)
VERL_ENV_VARS: tuple[str, ...] = (
    "VERL_FILE_LOGGER_PATH",
    "VERL_LOGGING_LEVEL",
    "VERL_USE_EXTERNAL_PLUGINS",
    "VERL_USE_EXTERNAL_MODULES",
)
# Ray's switch (meant for macOS/Windows) that makes a new local cluster bind its GCS, raylets and agents to
# 127.0.0.1 instead of every interface; for single-machine runs (the demo, the tests): no other node can join
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
RUNTIME_ENV_VARS = "ray_kwargs.ray_init.runtime_env.env_vars"
PROBE_TIMEOUT_S = 5.0
_NEW_LOCAL_CLUSTER = (None, "", "local")
# ray.init arguments a joining driver may not pass: the nodes declared their resources at `ray start`
_NODE_ONLY_INIT_KEYS = ("num_cpus", "num_gpus", "resources", "labels", "object_store_memory", "_system_config")
_SHARED_INPUT_KEYS = (
    "actor_rollout_ref.model.path",
    "actor_rollout_ref.model.tokenizer_path",
    "data.train_files",
    "data.val_files",
    "reward.custom_reward_function.path",
)
_SHARED_OUTPUT_KEYS = ("trainer.default_local_dir", "trainer.rollout_data_dir", "trainer.validation_data_dir")


class ClusterConfigError(ValueError):
    """A config that cannot run on the Ray cluster it names; the message names the key to change."""


def _select(config: Any, key: str) -> Any:
    return OmegaConf.select(config, key, default=None)


def cluster_address(config: Any) -> str | None:
    """The address `ray.init` joins (`ray_kwargs.ray_init.address`, else `RAY_ADDRESS`); None: a new local one."""
    address = _select(config, "ray_kwargs.ray_init.address") or os.environ.get("RAY_ADDRESS")
    return None if address in _NEW_LOCAL_CLUSTER else str(address)


def forward_env(config: Any) -> dict[str, str]:
    """Add the `FORWARDED_ENV_VARS` set in this process to the job's runtime env (user values win); return them."""
    wanted = {name: os.environ[name] for name in FORWARDED_ENV_VARS if name in os.environ}
    ray_init = _select(config, "ray_kwargs.ray_init")
    if not wanted or ray_init is None:
        return {}
    with open_dict(ray_init):
        if ray_init.get("runtime_env") is None:
            ray_init.runtime_env = {}
    with open_dict(ray_init.runtime_env):
        if ray_init.runtime_env.get("env_vars") is None:
            ray_init.runtime_env.env_vars = {}
    env_vars = ray_init.runtime_env.env_vars
    added = {name: value for name, value in wanted.items() if name not in env_vars}
    with open_dict(env_vars):
        env_vars.update(added)
    return added


def check_join_kwargs(config: Any, address: str) -> None:
    """Raise `ClusterConfigError` for a node resource in `ray_kwargs.ray_init` while joining `address`, or for
    `LOOPBACK_ENV` set while `address` is not on this machine's loopback (the nodes could not reach the driver)."""
    target = _host_port(address)
    for name, value in LOOPBACK_ENV.items():
        if os.environ.get(name) == value and target is not None and not is_loopback(target[0]):
            raise ClusterConfigError(
                f"{name}={value} binds this driver to 127.0.0.1, where the nodes of {address} cannot reach it: unset "
                "it to join a cluster (it is meant for single-machine runs; docs/cluster.md)."
            )
    for key in _NODE_ONLY_INIT_KEYS:
        value = _select(config, f"ray_kwargs.ray_init.{key}")
        if value is not None and value != {}:
            raise ClusterConfigError(
                f"ray_kwargs.ray_init.{key}={value!r}: Ray refuses node resources from a driver that joins an "
                f"existing cluster (ray_kwargs.ray_init.address / RAY_ADDRESS = {address}); each node declares "
                f"its own at `ray start`. Set ray_kwargs.ray_init.{key}=null."
            )


def _paths(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(value)] if isinstance(value, str) else [str(item) for item in value]


def _is_uri(path: str) -> bool:
    return "://" in path


def check_shared_paths(config: Any) -> list[str]:
    """With trainer.nnodes > 1: raise `ClusterConfigError` for a relative input path; return (and log) one
    warning per output folder, which must be one storage all nodes mount at the same path."""
    nnodes = int(_select(config, "trainer.nnodes") or 1)
    if nnodes <= 1:
        return []
    for key in _SHARED_INPUT_KEYS:
        for path in _paths(_select(config, key)):
            if not _is_uri(path) and not os.path.isabs(path):
                raise ClusterConfigError(
                    f"{key}={path!r} is a relative path: with trainer.nnodes={nnodes} each node resolves it in its "
                    "own working directory (and a hub name would be fetched on each node). Give an absolute path "
                    "that every node sees, the same files at the same place (docs/cluster.md)."
                )
    warnings = []
    for key in _SHARED_OUTPUT_KEYS:
        for path in _paths(_select(config, key)):
            if _is_uri(path):
                continue
            where = "" if os.path.isabs(path) else " (relative: resolved in each worker's working directory)"
            warnings.append(
                f"verl_anomseer: {key}={path}{where}: with trainer.nnodes={nnodes} the ranks on every node write "
                "here (checkpoint shards; a resume reads all of them back). It must be one shared storage "
                "(NFS, Lustre, a cloud volume) mounted at this same path on every node; this cannot be checked "
                "from the driver, so check it with `df` or `mount` on each node (docs/cluster.md)."
            )
    for warning in warnings:
        logger.warning(warning)
    return warnings


def _host_port(address: str) -> tuple[str, int] | None:
    """`host:port` of a GCS (or `ray://host:port` client) address; None for `auto` or an address without a port."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Exit with code 2 and one line on stderr unless `address` accepts a TCP connection within `timeout` s."""
    target = _host_port(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=timeout).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        print(
            f"verl_anomseer: no Ray cluster answers at {address} (ray_kwargs.ray_init.address / RAY_ADDRESS): "
            f"{why}. Start it (`ray start --head` on the head node) or fix the address; see docs/cluster.md.",
            file=sys.stderr,
        )
        raise SystemExit(2) from None


def warn_driver_env(config: Any, address: str) -> list[str]:
    """Warnings (logged and returned) for a driver that joins `address`: no token auth, verl variables left here."""
    warnings = []
    if address != "auto" and os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        warnings.append(
            f"verl_anomseer: RAY_AUTH_MODE is not 'token' in this shell, so this driver sends no token to {address}; "
            "a cluster with token authentication refuses it (after ~20 s of retries). Export RAY_AUTH_MODE=token "
            "and the cluster's token (RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token); see docs/cluster.md."
        )
    passed = _select(config, RUNTIME_ENV_VARS) or {}
    for name in VERL_ENV_VARS:
        if name in os.environ and name not in passed:
            warnings.append(
                f"verl_anomseer: {name} is set in this shell but the workers on {address} will not see it; pass it "
                f"as '+{RUNTIME_ENV_VARS}.{name}=...' (docs/cluster.md)."
            )
    for warning in warnings:
        logger.warning(warning)
    return warnings


def prepare_driver_config(config: Any) -> None:
    """The plugin's driver check for cluster runs (module docstring): refuse what cannot run, warn about what
    cannot be checked, then add this project's variables to the job's runtime env."""
    if not isinstance(config, DictConfig):
        return
    address = cluster_address(config)
    if address is not None:
        check_join_kwargs(config, address)
    check_shared_paths(config)
    if address is not None:
        check_reachable(address)
        warn_driver_env(config, address)
    forward_env(config)
