"""The per-GPU memory estimate: hand-derived sums, parameter counts of safetensors files written here, the driver
warning on the shipped recipes (composed with Hydra), and the README's recipe table against both."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from recipe_support import compose_recipe
from safetensors.torch import save_file

from verl_anomseer.launch_checks import rollout_replicas, warn_if_over_memory, world_size
from verl_anomseer.launch_memory import GIB, KNOWN_PARAMETERS, estimate, parameter_count

P3B = KNOWN_PARAMETERS["Qwen/Qwen2.5-VL-3B-Instruct"]


def test_the_authors_4gpu_recipe_sums_sharded_fp32_state_bf16_reference_and_the_vllm_share():
    guess = estimate(compose_recipe("timerpo_qwen2_5_vl_3b"), P3B, 80 * GIB)
    assert guess.actor == 8 * P3B / 4 and guess.optimizer == 8 * P3B / 4 and guess.reference == 2 * P3B / 4
    assert guess.rollout == 0.6 * 80 * GIB
    assert guess.total == pytest.approx((18 * P3B / 4) + 48 * GIB)


def test_offload_and_no_reference_policy_take_their_parts_off_the_gpu():
    guess = estimate(compose_recipe("timerpo_qwen2_5_vl_3b_1gpu"), P3B, 80 * GIB)
    assert (guess.actor, guess.optimizer, guess.reference, guess.rollout) == (8 * P3B, 0.0, 0.0, 0.4 * 80 * GIB)
    no_kl = estimate(
        compose_recipe("timerpo_qwen2_5_vl_3b", "actor_rollout_ref.actor.use_kl_loss=false"), P3B, 80 * GIB
    )
    assert no_kl.reference == 0.0


def test_parameter_count_reads_safetensors_headers(tmp_path):
    shards = {
        "model-00001-of-00002.safetensors": {"a": torch.zeros(3, 5), "b": torch.zeros(7, dtype=torch.bfloat16)},
        "model-00002-of-00002.safetensors": {"c": torch.zeros(2, 2, 2), "d": torch.zeros(())},
    }
    for name, tensors in shards.items():
        save_file(tensors, tmp_path / name, metadata={"format": "pt"})
    assert parameter_count(str(tmp_path)) == 15 + 7 + 8 + 1


def test_parameter_count_is_unknown_for_an_unknown_name_or_a_broken_file(tmp_path):
    assert parameter_count("someone/unknown-model") is None
    (tmp_path / "model.safetensors").write_bytes(b"\x01")
    assert parameter_count(str(tmp_path)) is None
    assert parameter_count("Qwen/Qwen2.5-VL-7B-Instruct") == 8_290_000_000


def test_the_driver_warns_past_the_device_memory_naming_the_keys():
    message = warn_if_over_memory(compose_recipe("timerpo_qwen2_5_vl_7b"), device_bytes=80 * GIB)
    assert message is not None and "passes the device's 80.0 GiB" in message
    assert "actor_rollout_ref.rollout.gpu_memory_utilization" in message and "optimizer_offload=true" in message
    assert warn_if_over_memory(compose_recipe("timerpo_qwen2_5_vl_7b_8gpu"), device_bytes=80 * GIB) is None
    assert warn_if_over_memory(compose_recipe("timerpo_qwen2_5_vl_3b_1gpu"), device_bytes=80 * GIB) is None
    assert warn_if_over_memory(compose_recipe("timerpo_qwen2_5_vl_3b_1gpu"), device_bytes=40 * GIB) is not None


def test_the_readme_recipe_table_states_the_estimates_and_layouts():
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    rows = re.findall(
        r"^\| `(timerpo_\w+)`[^|]*\| (\d+) \| (\d+) x (\d+), ([\d.]+) \|[^|]*\| ([\d.]+) GiB", readme, re.MULTILINE
    )
    assert {row[0] for row in rows} == {
        "timerpo_qwen2_5_vl_3b_1gpu",
        "timerpo_qwen2_5_vl_3b",
        "timerpo_qwen2_5_vl_3b_8gpu",
        "timerpo_qwen2_5_vl_7b",
        "timerpo_qwen2_5_vl_7b_8gpu",
    }
    for name, gpus, replicas, tp, share, gib in rows:
        config = compose_recipe(name)
        rollout = config.actor_rollout_ref.rollout
        assert (world_size(config), rollout_replicas(config)) == (int(gpus), int(replicas)), name
        assert (rollout.tensor_model_parallel_size, rollout.gpu_memory_utilization) == (int(tp), float(share)), name
        guess = estimate(config, parameter_count(config.actor_rollout_ref.model.path), 80 * GIB)
        assert f"{guess.total / GIB:.1f}" == gib, name
