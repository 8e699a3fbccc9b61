"""Which folder `--model` loads: Hugging Face weights as they are, a verl FSDP actor checkpoint merged once by
verl's own model merger (the real merge runs in tests/e2e on the CPU backend's checkpoint)."""

from __future__ import annotations

import json
import runpy

import pytest

from verl_anomseer.eval.checkpoint import MERGED, fsdp_actor_dir, resolve_model
from verl_anomseer.eval.errors import EvalSetupError


def _fsdp_actor(root, with_hf_weights=False):
    actor = root / "global_step_3" / "actor"
    (actor / "huggingface").mkdir(parents=True)
    (actor / "fsdp_config.json").write_text(json.dumps({"FSDP_version": 2, "world_size": 1}))
    (actor / "model_world_size_1_rank_0.pt").write_bytes(b"not a torch file")
    (actor / "huggingface" / "config.json").write_text("{}")
    if with_hf_weights:
        (actor / "huggingface" / "model.safetensors").write_bytes(b"")
    return actor


def test_the_actor_checkpoint_is_found_from_the_step_the_actor_or_its_huggingface_folder(tmp_path):
    actor = _fsdp_actor(tmp_path)
    for given in (actor.parent, actor, actor / "huggingface"):
        assert fsdp_actor_dir(given) == actor
    assert fsdp_actor_dir(tmp_path) is None


def test_hugging_face_weights_saved_by_verl_are_used_as_they_are(tmp_path):
    actor = _fsdp_actor(tmp_path, with_hf_weights=True)
    assert resolve_model(str(actor.parent)) == str(actor / "huggingface")
    assert resolve_model(str(actor / "huggingface")) == str(actor / "huggingface")


def test_an_earlier_merge_is_reused(tmp_path):
    actor = _fsdp_actor(tmp_path)
    (actor / MERGED).mkdir()
    (actor / MERGED / "config.json").write_text("{}")
    (actor / MERGED / "model.safetensors").write_bytes(b"")
    assert resolve_model(str(actor)) == str(actor / MERGED)


def test_other_names_pass_through(tmp_path):
    assert resolve_model("Qwen/Qwen2.5-VL-3B-Instruct") == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert resolve_model(str(tmp_path)) == str(tmp_path)


def test_a_checkpoint_verl_cannot_merge_is_a_setup_error_and_leaves_nothing(tmp_path):
    actor = _fsdp_actor(tmp_path)
    with pytest.raises(EvalSetupError, match=r"verl.s model merger failed .*`python -m verl\.model_merger merge"):
        resolve_model(str(actor))
    assert sorted(p.name for p in actor.iterdir()) == [
        "fsdp_config.json",
        "huggingface",
        "model_world_size_1_rank_0.pt",
    ]


def test_the_module_entry_point_runs_only_as_main():
    """vLLM's spawned workers import `__main__` again: the entry point must not run main() then."""
    namespace = runpy.run_module("verl_anomseer.eval.__main__", run_name="__mp_main__")
    assert callable(namespace["main"])
