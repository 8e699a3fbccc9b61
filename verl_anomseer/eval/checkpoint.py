"""`--model` may name a verl FSDP checkpoint: its shards are merged into Hugging Face weights with verl's own
model merger (`verl.model_merger`), once.

A folder with Hugging Face weights (`*.safetensors` or `pytorch_model*.bin` next to `config.json`) is used as it
is. Otherwise the FSDP actor checkpoint is found at the folder itself, at `FOLDER/actor` (a `global_step_N`) or at
the parent of a `huggingface/` folder without weights; its `huggingface/` folder is used when verl saved weights
there (`checkpoint.save_contents` with hf_model), else the shards are merged into `ACTOR/huggingface_merged`,
written under a temporary name and renamed when complete, and reused by later runs. Anything else is passed on
unchanged (a hub name, or a folder the backend will refuse with its own message).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

from verl_anomseer.eval.errors import EvalSetupError

MERGED = "huggingface_merged"
_WEIGHTS = ("*.safetensors", "pytorch_model*.bin")


def has_hf_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(any(folder.glob(pattern)) for pattern in _WEIGHTS)


def is_fsdp_checkpoint(folder: Path) -> bool:
    """verl's FSDP actor layout: fsdp_config.json, rank-0 model shard, Hugging Face config under huggingface/."""
    return (
        (folder / "fsdp_config.json").is_file()
        and any(folder.glob("model_world_size_*_rank_0.pt"))
        and (folder / "huggingface" / "config.json").is_file()
    )


def fsdp_actor_dir(folder: Path) -> Path | None:
    """The FSDP actor checkpoint `folder` names (module docstring), or None."""
    candidates = [folder, folder / "actor"] + ([folder.parent] if folder.name == "huggingface" else [])
    return next((candidate for candidate in candidates if is_fsdp_checkpoint(candidate)), None)


def resolve_model(model: str) -> str:
    """The loadable model path for `--model` (module docstring); merges an FSDP checkpoint on first use."""
    folder = Path(model)
    if not folder.is_dir() or has_hf_weights(folder):
        return model
    actor = fsdp_actor_dir(folder)
    if actor is None:
        return model
    for saved in (actor / "huggingface", actor / MERGED):  # hf_model saved by verl, or an earlier merge
        if has_hf_weights(saved):
            return str(saved)
    merge_fsdp_checkpoint(actor, actor / MERGED)
    return str(actor / MERGED)


def merge_fsdp_checkpoint(actor: Path, target: Path) -> None:
    """`python -m verl.model_merger merge --backend fsdp --local_dir ACTOR --target_dir TARGET`, in process and
    atomic (a temporary sibling folder renamed when complete); its progress output goes to stderr."""
    from verl.model_merger.base_model_merger import ModelMergerConfig
    from verl.model_merger.fsdp_model_merger import FSDPModelMerger

    from verl_anomseer import verl_seam

    verl_seam.require(["eval"])  # the merger's config fields and methods, named if verl changed them
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    command = f"python -m verl.model_merger merge --backend fsdp --local_dir {actor} --target_dir DIR"
    print(f"anomseer-eval: merging the FSDP checkpoint {actor} into {target} with verl's model merger", file=sys.stderr)
    try:
        config = ModelMergerConfig(
            operation="merge",
            backend="fsdp",
            local_dir=str(actor),
            target_dir=str(staging),
            hf_model_config_path=str(actor / "huggingface"),
        )
        with contextlib.redirect_stdout(sys.stderr):
            merger = FSDPModelMerger(config)
            merger.merge_and_save()
            merger.cleanup()
        os.replace(staging, target)
    except OSError as exc:
        raise EvalSetupError(
            f"--model {actor}: cannot write the merged model to {target} ({exc.strerror}); run "
            f"`{command}` and pass --model DIR"
        ) from exc
    except Exception as exc:  # the merger raises whatever torch/transformers raise on a bad shard
        raise EvalSetupError(
            f"--model {actor}: verl's model merger failed ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); check the checkpoint with `{command}`"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
