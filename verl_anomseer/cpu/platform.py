"""A `cpu` platform for verl 0.9.1 (gloo collectives, no accelerator), registered via `PlatformRegistry`.

verl has no CPU platform: every device call goes through `get_platform()`, whose `device_module` stands in
for `torch.cuda`. `CPUDeviceModule` answers the calls it lists (`ANSWERED_CALLS`): the host as one logical
device, seeding, RNG state, memory info, and `NO_OP_CALLS` (caches, synchronisation, memory counters), which
have no CPU meaning and return 0. Any other call raises AttributeError naming it, so a device call that a new
verl makes fails loudly instead of being answered by a guess.
Ray scheduling keeps the `GPU` resource name, so a CPU run starts Ray with `num_gpus=N` logical slots.

`install()` registers the platform and sets the environment it needs in this process and, by inheritance,
in the Ray workers it starts: `VERL_PLATFORM=cpu`, and `VERL_ENGINE_DEVICE=cuda`/`VERL_ENGINE_VENDOR=nvidia`
so that verl's engine registry picks its FSDP engine (which runs on CPU tensors unchanged).
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import types
from typing import Any

import torch
import torch.distributed
from verl.plugin.platform import PlatformBase, PlatformRegistry

from verl_anomseer.netaddr import is_loopback

PLATFORM_NAME = "cpu"
PLATFORM_ENV = {"VERL_PLATFORM": PLATFORM_NAME, "VERL_ENGINE_DEVICE": "cuda", "VERL_ENGINE_VENDOR": "nvidia"}
_HOST_MEMORY = (16 << 30, 24 << 30)  # (free, total) reported to verl's memory logging


# torch.cuda calls verl makes that mean nothing on the host: answered with 0 (memory counters) or nothing
NO_OP_CALLS = frozenset(
    {
        "empty_cache",
        "ipc_collect",
        "synchronize",
        "set_device",
        "set_per_process_memory_fraction",
        "memory_allocated",
        "memory_reserved",
        "max_memory_allocated",
        "max_memory_reserved",
        "reset_peak_memory_stats",
        "reset_accumulated_memory_stats",
    }
)


class CPUDeviceModule(types.ModuleType):
    """Stand-in for `torch.cuda` on the host: one device, torch's CPU RNG, `NO_OP_CALLS`; nothing else."""

    def __init__(self) -> None:
        super().__init__("verl_anomseer_cpu_device")

    def is_available(self) -> bool:
        return True

    def device_count(self) -> int:
        return 1

    def current_device(self) -> int:
        return 0

    def get_device_name(self, *args, **kwargs) -> str:
        return "CPU"

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    manual_seed_all = manual_seed

    def get_rng_state(self, *args, **kwargs) -> torch.Tensor:
        return torch.get_rng_state()

    def set_rng_state(self, state: torch.Tensor, *args, **kwargs) -> None:
        torch.set_rng_state(state)

    def mem_get_info(self, *args, **kwargs) -> tuple[int, int]:
        return _HOST_MEMORY

    def __getattr__(self, name: str):
        if name in NO_OP_CALLS:
            return _no_op
        raise AttributeError(
            f"the CPU backend cannot answer the device call torch.cuda.{name}: verl_anomseer.cpu.platform answers "
            "only ANSWERED_CALLS; add it there if it has a meaning on the host"
        )


def _no_op(*args, **kwargs) -> int:
    return 0


ANSWERED_CALLS = frozenset(name for name in vars(CPUDeviceModule) if not name.startswith("_")) | NO_OP_CALLS
DEVICE_MODULE = CPUDeviceModule()


class PlatformCPU(PlatformBase):
    """verl platform for a machine without accelerators: torch CPU tensors, gloo process groups."""

    device_name = PLATFORM_NAME
    vendor_name = PLATFORM_NAME
    device_module = DEVICE_MODULE

    def is_available(self) -> bool:
        return True

    def current_device(self) -> str:
        return PLATFORM_NAME  # verl passes it straight to `.to(device=...)`

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        pass

    def synchronize(self, device_index: int | None = None) -> None:
        pass

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        pass

    def empty_cache(self) -> None:
        pass

    def get_device_capability(self, device_index: int = 0) -> tuple[None, None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "CUDA_VISIBLE_DEVICES"

    @contextlib.contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        pass

    def profiler_stop(self) -> None:
        pass

    def ray_resource_name(self) -> str:
        return "GPU"  # logical slots: Ray is started with num_gpus=N on a CPU machine

    def ray_noset_envvars(self) -> list[str]:
        return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> Any:
        return None


def single_backend(backend: Any) -> Any:
    """verl asks torch for `cpu:gloo,<device>:<backend>`, i.e. `cpu:gloo,cpu:gloo` here, which torch
    rejects as a duplicate device type; the equivalent single backend is `gloo`."""
    if isinstance(backend, str) and backend.replace(" ", "") == f"{PLATFORM_NAME}:gloo,{PLATFORM_NAME}:gloo":
        return "gloo"
    return backend


def _argument_or_env(kwargs: dict[str, Any], key: str, env: str) -> int:
    """`init_process_group`'s `key` when given (>= 0, torch's "unset" is -1), else the variable `env` (else -1)."""
    value = kwargs.get(key)
    return int(value) if value is not None and int(value) >= 0 else int(os.environ.get(env, -1))


def loopback_store(kwargs: dict[str, Any]) -> tuple[torch.distributed.Store, int] | None:
    """Rank 0's env:// store and the world size, when `MASTER_ADDR` is a loopback address; else None (torch's
    own rendezvous then runs unchanged).

    torch's `TCPStore` server listens on every interface (`::`) whatever its host name, so a local run would
    open a port to the network. Here rank 0 binds the listening socket to `MASTER_ADDR:MASTER_PORT` itself
    and hands it to the store (`master_listen_fd`); the other ranks join it through torch's rendezvous as
    before, under the same `default_pg` key prefix."""
    if kwargs.get("store") is not None or kwargs.get("init_method") not in (None, "env://"):
        return None
    host, port = os.environ.get("MASTER_ADDR", ""), os.environ.get("MASTER_PORT", "")
    rank, world_size = _argument_or_env(kwargs, "rank", "RANK"), _argument_or_env(kwargs, "world_size", "WORLD_SIZE")
    if rank != 0 or world_size < 1 or not port.isdigit() or not is_loopback(host):
        return None
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, int(port)))
        listener.listen()
    except OSError:
        listener.close()
        raise
    timeout = kwargs.get("timeout") or torch.distributed.constants.default_pg_timeout
    store = torch.distributed.TCPStore(
        host, int(port), world_size, True, timeout, multi_tenant=True, master_listen_fd=listener.detach()
    )
    return torch.distributed.PrefixStore("default_pg", store), world_size


def _init_process_group_gloo(init_process_group):
    @functools.wraps(init_process_group)
    def wrapper(*args, **kwargs):
        if args:
            args = (single_backend(args[0]), *args[1:])
        if "backend" in kwargs:
            kwargs["backend"] = single_backend(kwargs["backend"])
        local = loopback_store(kwargs) if len(args) <= 1 else None  # backend only, the rest by keyword
        if local is not None:
            kwargs.update(store=local[0], init_method=None, rank=0, world_size=local[1])
        return init_process_group(*args, **kwargs)

    wrapper.__anomseer_cpu__ = True
    return wrapper


def install() -> None:
    """Register the `cpu` platform, select it for this process and its children, and let verl's
    `cpu:gloo,cpu:gloo` process groups start (idempotent)."""
    PlatformRegistry.register(platform=PLATFORM_NAME)(PlatformCPU)
    for key, value in PLATFORM_ENV.items():
        os.environ[key] = value
    if not getattr(torch.distributed.init_process_group, "__anomseer_cpu__", False):
        torch.distributed.init_process_group = _init_process_group_gloo(torch.distributed.init_process_group)
