"""`make demo` end to end: real `main_ppo` TimerPO (grounded in the policy) and GRPO runs on the CPU backend with
the tiny Qwen2.5-VL and real plot images, judged on what verl itself logged (file logger, rollout dumps,
checkpoint). The `timerpo/*` metrics and the policy grounding's oracle are in test_e2e_policy_grounding.py."""

from __future__ import annotations

import pytest

from verl_anomseer.scoring.reward import compute_score

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]


def _finished(run):
    assert run.returncode == 0, run.stdout[-3000:]
    return run


def test_demo_trains_saves_and_evaluates(demo_timerpo):
    run = _finished(demo_timerpo)
    metrics = run.metrics
    assert sorted(metrics) == [1, 2]
    checkpoint = run.out / "checkpoints" / "global_step_2" / "actor" / "huggingface"
    assert (checkpoint / "model.safetensors").is_file() and (checkpoint / "processor_config.json").is_file()
    assert str(checkpoint) in run.stdout and str(run.out / "metrics.jsonl") in run.stdout
    assert any((run.out / "eval").rglob("*.jsonl")), "the evaluation wrote no per-sample records"


def _advantage_spread(values: dict) -> float:
    return max(abs(values["critic/advantages/max"]), abs(values["critic/advantages/min"]))


def test_timerpo_advantages_and_gradients_are_never_zero(demo_timerpo):
    """The grounded term separates responses even in groups whose task rewards tie."""
    for step, values in _finished(demo_timerpo).metrics.items():
        assert _advantage_spread(values) > 0 and values["actor/grad_norm"] > 0, step


def test_grpo_advantages_and_gradients_are_not_all_zero(demo_grpo):
    metrics = _finished(demo_grpo).metrics
    assert any(_advantage_spread(values) > 0 for values in metrics.values())
    assert any(values["actor/grad_norm"] > 0 for values in metrics.values())


@pytest.mark.parametrize("which", ["demo_timerpo", "demo_grpo"])
def test_rollout_and_actor_log_probs_agree_after_the_weight_sync(which, request):
    """Step 2 samples with the weights the actor pushed after step 1's update; verl compares the HF rollout's
    log-probs with the actor's own recomputation on the same images and tokens."""
    metrics = _finished(request.getfixturevalue(which)).metrics
    for step in (1, 2):
        values = metrics[step]
        assert values["training/rollout_probs_diff_valid"] == 1
        assert values["training/rollout_probs_diff_max"] < 1e-3, (step, values["training/rollout_probs_diff_max"])


@pytest.mark.parametrize("which", ["demo_timerpo", "demo_grpo"])
def test_rewards_are_scores_of_the_real_generations(which, request):
    """verl's rollout dump holds each decoded generation, its ground truth and the reward verl trained on;
    re-scoring the text with the reward function gives the same number, and parts of some generations parse
    (answer or class credit), so the rewards differ."""
    rows = _finished(request.getfixturevalue(which)).generations()
    assert len(rows) == 2 * 2 * 8  # steps x prompts x rollouts
    credited = 0
    for row in rows:
        again = compute_score("anomseer", row["output"], row["gts"])
        assert again["score"] == pytest.approx(row["score"], abs=1e-5), row
        credited += again["loc"] > 0 or again["cls"] > 0
    assert credited > 0, [row["output"] for row in rows[:4]]
    assert len({round(row["score"], 6) for row in rows}) > 1, "every generation got the same reward"


@pytest.mark.parametrize("which", ["demo_timerpo", "demo_grpo"])
def test_no_ray_process_is_left_behind(which, request):
    assert _finished(request.getfixturevalue(which)).leftover_ray == {}
