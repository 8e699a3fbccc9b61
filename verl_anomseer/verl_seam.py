"""The one seam to verl's internals: every verl name the plugin relies on, and a check that it is unchanged.

verl 0.9.1 gives plugins few public extension points (the `verl.plugins` entry point, the advantage registry,
the platform registry, `data.custom_cls`, `custom_reward_function`); the rest of what the plugin does rests on
private names, method overrides and source-level behaviours. :data:`INTERNALS` lists each of them, grouped by
concern (the plugin module that uses it is named in every entry, and docs/architecture.md explains why), with a
feature check: the attribute exists, an overridden method keeps its parameters, a called function still takes
the arguments passed, a registry keeps its type, or verl's source still holds the snippet a behaviour rests on.

:func:`require` runs the checks of some concerns once per process and raises :class:`VerlSeamError` naming the
first entry that is missing or changed. The driver-side checks (`plugin.DRIVER_CHECKS`) call it before Ray
starts, and the evaluation calls it before it merges a checkpoint, so a verl upgrade fails there with the name
of what changed, not deep inside a worker. A verl version other than :data:`VERL_VERSION` is logged as a warning:
the feature checks decide. `tests/integration/test_verl_internals.py` runs every entry against the installed
verl and keeps the table complete (every verl import of the package is covered).
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

VERL_VERSION = "0.9.1"
_ADDED_BY_RAY = ("_ray_trace_ctx",)  # Ray's tracing adds it to the methods of a class made an actor
DOCS = "docs/architecture.md, 'Every verl internal the plugin relies on'"


class VerlSeamError(RuntimeError):
    """A verl internal the plugin relies on is missing or changed (the installed verl is not the pinned one)."""


def resolve(target: str) -> object:
    """The object at dotted `target`: the longest importable module prefix, then attributes."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(prefix)
        except ModuleNotFoundError as exc:
            if not (exc.name and (prefix + ".").startswith(exc.name + ".")):  # a dependency is missing, not the path
                raise LookupError(f"fails to import ({exc})") from exc
            continue
        for i, name in enumerate(parts[cut:], start=cut):
            if not hasattr(obj, name):
                raise LookupError(f"has no attribute {name!r} (in {'.'.join(parts[:i])})")
            obj = getattr(obj, name)
        return obj
    raise LookupError("cannot be imported")


@dataclass(frozen=True)
class Internal:
    """One thing of verl's the plugin relies on, and how to tell that it is still there and unchanged.

    `params`: the exact parameter names of a method the plugin overrides; `accepts`: names a function the plugin
    calls must still take; `kind`: the type the attribute must have; `source`: snippets verl's source of the
    target must still contain (a behaviour the plugin depends on).
    """

    target: str
    used_by: str
    params: tuple[str, ...] | None = None
    accepts: tuple[str, ...] = ()
    kind: type | None = None
    source: tuple[str, ...] = ()
    check: Callable[[object], str | None] | None = field(default=None, compare=False)

    def problem(self) -> str | None:
        """None when the target is as expected, else what is missing or changed."""
        try:
            obj = resolve(self.target)
        except LookupError as exc:
            return str(exc)
        if self.kind is not None and not isinstance(obj, self.kind):
            return f"is a {type(obj).__name__}, expected a {self.kind.__name__}"
        if self.params is not None or self.accepts:
            names = tuple(n for n in inspect.signature(obj).parameters if n not in _ADDED_BY_RAY)
            if self.params is not None and names != self.params:
                return f"has parameters {names}, expected {self.params}"
            missing = [name for name in self.accepts if name not in names]
            if missing:
                return f"no longer takes {missing} (parameters {names})"
        if self.source:
            try:
                text = inspect.getsource(obj)
            except (OSError, TypeError) as exc:
                return f"has no readable source ({exc})"
            missing = [snippet for snippet in self.source if snippet not in text]
            if missing:
                return f"source no longer contains {missing}"
        return self.check(obj) if self.check else None


def _version(verl) -> str | None:
    return (
        None if verl.__version__ == VERL_VERSION else f"is {verl.__version__}, the plugin is written for {VERL_VERSION}"
    )


def _declares_plugin(verl) -> str | None:
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="verl.plugins")}
    return None if names.get("anomseer") == "verl_anomseer.plugin" else f"verl.plugins entry points are {names}"


def _trainer_modes(registry) -> str | None:
    missing = {"sync", "colocate_async", "separate_async"} - set(registry)
    return f"lacks the trainer modes {sorted(missing)}" if missing else None


def _actor_roles(role) -> str | None:
    missing = {"Actor", "ActorRollout", "ActorRolloutRef", "RefPolicy"} - set(role.__members__)
    return f"lacks the roles {sorted(missing)}" if missing else None


def _kv_batch_meta_fields(cls) -> str | None:
    import dataclasses

    missing = {"keys", "partition_id", "extra_info"} - {f.name for f in dataclasses.fields(cls)}
    return f"lacks the fields {sorted(missing)}" if missing else None


def _token_output_fields(cls) -> str | None:
    missing = {"token_ids", "log_probs", "stop_reason", "extra_fields"} - set(cls.model_fields)
    return f"lacks the fields {sorted(missing)}" if missing else None


def _rollout_registry(registry) -> str | None:
    keys = list(registry)
    ok = keys and all(isinstance(k, tuple) and len(k) == 2 for k in keys)
    return None if ok else f"keys are no longer (name, mode) pairs: {keys}"


def _platform_cpu_complete(base) -> str | None:
    from verl_anomseer.cpu.platform import PlatformCPU

    missing = sorted(getattr(PlatformCPU, "__abstractmethods__", ()))
    return f"has abstract methods the cpu platform does not define: {missing}" if missing else None


def _merger_config(cls) -> str | None:
    import dataclasses

    missing = {"operation", "backend", "local_dir", "target_dir", "hf_model_config_path"}
    missing -= {f.name for f in dataclasses.fields(cls)}
    return f"lacks the fields {sorted(missing)}" if missing else None


V1 = "verl.trainer.ppo.v1.trainer_base"
TRAINER = "timerpo/trainer.py (GroundingAdvantageMixin)"
WORKER = "timerpo/actor_worker.py"
ORDER = "timerpo/batch_order.py (DataloaderOrderMixin)"


INTERNALS: dict[str, tuple[Internal, ...]] = {
    "version": (Internal("verl", "the whole plugin (pinned verl)", check=_version),),
    "plugin": (
        Internal(
            "verl",
            "pyproject.toml entry point",
            source=('"verl.plugins"', "VERL_USE_EXTERNAL_MODULES"),
            check=_declares_plugin,
        ),
    ),
    "estimator": (
        Internal(
            "verl.trainer.ppo.core_algos.register_adv_est", "plugin._register_estimator", params=("name_or_enum",)
        ),
        Internal("verl.trainer.ppo.core_algos.ADV_ESTIMATOR_REGISTRY", "plugin.check", kind=dict),
        Internal("verl.trainer.ppo.core_algos.get_adv_estimator_fn", TRAINER, params=("name_or_enum",)),
        Internal(
            "verl.trainer.ppo.ray_trainer.compute_advantage",
            "timerpo/advantage.py (estimator call)",
            source=(
                "get_adv_estimator_fn(adv_estimator)",
                "token_level_rewards",
                "response_mask",
                '"index"',
                '"config"',
            ),
        ),
    ),
    "trainer": (
        Internal(f"{V1}.TRAINER_REGISTRY", "timerpo.trainer.install_trainers", kind=dict, check=_trainer_modes),
        Internal(
            f"{V1}.register_trainer",
            "timerpo.trainer.install_trainers (why the registry is written)",
            source=("already registered",),
        ),
        Internal("verl.trainer.ppo.v1.get_trainer_cls", "plugin.check", params=("name",)),
        Internal(
            f"{V1}.PPOTrainer._compute_advantage",
            TRAINER,
            params=("self", "batch", "metrics"),
            source=('"uid"', "compute_advantage"),
        ),
        Internal(
            f"{V1}.PPOTrainer._compute_old_log_prob",
            TRAINER,
            params=("self", "batch", "metrics"),
            source=("batch.extra_info.update", "compute_log_prob(batch)", "bypass_mode"),
        ),
        Internal(
            f"{V1}.PPOTrainer._init_resource_pool_mgr",
            TRAINER,
            params=("self",),
            source=("self.role_worker_mapping", "ray.remote(ActorRolloutRefWorker)"),
        ),
        Internal(
            f"{V1}.PPOTrainer._fetch_one_gen_batch",
            ORDER,
            params=("self",),
            source=('batch_dict["uid"]', "tu.get_tensordict(batch_dict)"),
        ),
        Internal(
            f"{V1}.PPOTrainer._balance_batch",
            ORDER,
            params=("self", "batch", "metrics", "logging_prefix", "keep_minibatch"),
            source=("batch.reorder(",),
        ),
        Internal(
            "verl.trainer.ppo.v1.replay_buffer.ReplayBuffer._materialize_batch",
            f"{ORDER} (why: the batch comes in arrival order)",
            source=("for key, tag in partition_snapshot.items()",),
        ),
        Internal(
            f"{V1}.PPOTrainer._log_rollout_data",
            TRAINER,
            params=("self", "batch", "timing_raw", "rollout_data_dir"),
            source=("_dump_generations(",),
        ),
        Internal(
            f"{V1}.PPOTrainer._dump_generations",
            TRAINER,
            params=("self", "inputs", "outputs", "gts", "scores", "reward_extra_infos_dict", "dump_path"),
        ),
        Internal("verl.trainer.ppo.utils.Role", TRAINER, check=_actor_roles),
        Internal("transfer_queue.kv_batch_get", TRAINER, accepts=("keys", "partition_id", "select_fields")),
        Internal("transfer_queue.KVBatchMeta", TRAINER, check=_kv_batch_meta_fields),
        Internal("transfer_queue.KVBatchMeta.reorder", ORDER, params=("self", "indexes")),
        Internal(
            "verl.trainer.ppo.v1.agent_loop_tq.AgentLoopWorkerTQ._agent_loop_postprocess",
            "timerpo.trainer.grounding_from_extra_fields (reward source)",
            source=('f"{uid}_{session_id}_{i}"', '"reward_extra_info"'),
        ),
    ),
    "worker": (
        Internal(
            "verl.workers.engine_workers.ActorRolloutRefWorker.compute_log_prob",
            WORKER,
            params=("self", "data"),
            source=("self.actor.infer_batch(data)",),
        ),
        Internal(
            "verl.workers.engine_workers.ActorRolloutRefWorker.init_model",
            WORKER,
            source=("self.actor = self.actor_worker_cls(",),
        ),
        Internal(
            "verl.workers.engine_workers.TrainingWorker.infer_batch",
            WORKER + " (the loss-function slot)",
            source=("self.loss_fn if compute_loss else None", "self.engine.infer_batch(data, loss_function="),
        ),
        Internal(
            "verl.workers.engine_workers.TrainingWorker.__init__",
            WORKER,
            source=("self.model_config = ", "self.engine: BaseEngine = "),
        ),
        Internal(
            "verl.workers.engine.fsdp.transformer_impl.FSDPEngineWithLMHead.forward_step",
            WORKER,
            source=("loss_function(\n", "model_output=model_output, data=micro_batch, dp_group="),
        ),
        Internal(
            "verl.workers.engine.fsdp.transformer_impl.FSDPEngine._build_model_optimizer",
            WORKER,
            source=("self.module = ",),
        ),
        Internal("verl.single_controller.base.decorator.register", WORKER, accepts=("dispatch_mode",)),
        Internal(
            "verl.single_controller.base.decorator.make_nd_compute_dataproto_dispatch_fn", WORKER, params=("mesh_name",)
        ),
        Internal("verl.utils.tensordict_utils.get", WORKER, params=("tensordict", "key", "default")),
        Internal("verl.utils.tensordict_utils.pop", WORKER, params=("tensordict", "key", "default")),
        Internal("verl.utils.tensordict_utils.assign_non_tensor", WORKER, params=("tensor_dict", "kwargs")),
        Internal("verl.utils.tensordict_utils.get_non_tensor_data", WORKER, params=("data", "key", "default")),
        Internal("verl.utils.transformers_compat.unpack_visual_output", WORKER, params=("visual_output",)),
    ),
    "dataset": (
        Internal(
            "verl.utils.dataset.rl_dataset.RLHFDataset._read_files_and_tokenize",
            "data/dataset.py",
            params=("self",),
            source=("self.data_files", "self.dataframe = "),
        ),
    ),
    "reward": (
        Internal(
            "verl.experimental.reward_loop.reward_manager.naive.NaiveRewardManager.run_single",
            "scoring/reward.py (compute_score's arguments)",
            source=("data_source=", "solution_str=", "ground_truth=", "extra_info="),
        ),
    ),
    "driver": (
        Internal("verl.utils.config.validate_config", "plugin._install_driver_checks", accepts=("config",)),
        Internal(
            "verl.trainer.main_ppo",
            "plugin._install_driver_checks (binds the wrapped name)",
            source=("from verl.utils.config import validate_config",),
        ),
    ),
    "cpu": (
        Internal("verl.plugin.platform.PlatformBase", "cpu/platform.py", kind=type, check=_platform_cpu_complete),
        Internal("verl.plugin.platform.PlatformRegistry.register", "cpu/platform.install", params=("platform",)),
        Internal(
            "verl.utils.device.get_torch_device",
            "cpu/platform.py (CPUDeviceModule)",
            source=("get_platform().device_module",),
        ),
        Internal(
            "verl.workers.engine.base",
            "cpu/platform.py (PLATFORM_ENV)",
            source=('os.getenv("VERL_ENGINE_DEVICE")', "VERL_ENGINE_VENDOR"),
        ),
        Internal("verl.utils.distributed", "cpu/platform.single_backend", source=('f"cpu:gloo,{get_device_name()}:',)),
        Internal(
            "verl.workers.rollout.base._ROLLOUT_REGISTRY", "cpu/rollout.register", kind=dict, check=_rollout_registry
        ),
        Internal(
            "verl.workers.rollout.base.BaseRollout.__init__",
            "cpu/rollout.HFServerAdapter",
            params=("self", "config", "model_config", "device_mesh", "args", "kwargs"),
        ),
        Internal(
            "verl.workers.rollout.replica.RolloutReplicaRegistry.register",
            "cpu/rollout.register",
            params=("name", "loader"),
        ),
        Internal(
            "verl.workers.rollout.replica.RolloutReplica.__init__",
            "cpu/rollout.HFReplica",
            source=("self.servers", "self._server_handle", "self._server_address"),
        ),
        Internal(
            "verl.workers.rollout.replica.RolloutReplica.launch_servers", "cpu/rollout.HFReplica", params=("self",)
        ),
        Internal("verl.workers.rollout.replica.RolloutReplica.max_concurrency", "cpu/rollout.HFReplica", kind=property),
        Internal("verl.workers.rollout.replica.TokenOutput", "cpu/rollout.HFRolloutServer", check=_token_output_fields),
    ),
    "eval": (
        Internal("verl.utils.dataset.vision_utils.process_image", "eval/backends/base.plot_image", accepts=("image",)),
        Internal("verl.model_merger.base_model_merger.ModelMergerConfig", "eval/checkpoint.py", check=_merger_config),
        Internal("verl.model_merger.fsdp_model_merger.FSDPModelMerger.merge_and_save", "eval/checkpoint.py"),
        Internal("verl.model_merger.fsdp_model_merger.FSDPModelMerger.cleanup", "eval/checkpoint.py"),
    ),
}
CONCERNS: tuple[str, ...] = tuple(INTERNALS)


def all_internals() -> tuple[Internal, ...]:
    """Every entry of :data:`INTERNALS`, in the order a verl upgrade should look at them."""
    return tuple(internal for group in INTERNALS.values() for internal in group)


def first_change(internals: Iterable[Internal]) -> str | None:
    """The message for the first entry that is missing or changed, or None."""
    for internal in internals:
        problem = internal.problem()
        if problem is not None:
            return (
                f"verl internal changed: `{internal.target}` {problem}. verl_anomseer relies on it in "
                f"{internal.used_by}; see {DOCS}."
            )
    return None


_checked: set[str] = set()


def require(concerns: Iterable[str]) -> None:
    """Check the entries of ``concerns`` (once per process each); raise :class:`VerlSeamError` on the first change.

    The ``version`` concern only warns: a verl other than the pinned one may still have every feature."""
    for concern in concerns:
        if concern not in INTERNALS:
            raise ValueError(f"unknown verl seam concern {concern!r}; known: {', '.join(CONCERNS)}")
        if concern in _checked:
            continue
        message = first_change(INTERNALS[concern])
        if message is not None and concern == "version":
            logger.warning("%s The feature checks decide whether it still works.", message)
        elif message is not None:
            raise VerlSeamError(message)
        _checked.add(concern)
