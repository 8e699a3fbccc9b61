"""The learning canary: the demo's TimerPO loop must improve the reward it trains on.

Two `main_ppo` runs on the CPU backend with seed `SEED`, identical but for the actor's learning rate (the demo's,
and 0) and their length (`LEARN_STEPS`, and `FROZEN_STEPS`, enough for two windows), from the same warm-started
tiny model and data. The mean training reward of the last `WINDOW` steps must
exceed that of the first `WINDOW` steps by `MARGIN` with learning; with a learning rate of 0 (whose weights stay
exactly the warm start) it must not change at all. A sign error in an advantage, a dropped gradient or a weight
sync that never reaches the rollout fails it.

Each step takes `PROMPTS` = half the smoke data set's 16 training prompts, so a window of `WINDOW` = 2 steps is
exactly one epoch: both windows hold the same prompts. The rollout seeds its sampling per prompt and request
(`verl_anomseer.cpu.rollout.sample_seed`), so both windows also draw the same random numbers: fixed weights give
the same rollouts in every epoch (a gain of exactly 0), and the learning run's gain is what its weight updates
changed, not sampling noise. `MARGIN` comes from measured runs (`MEASURED`, several seeds).
"""

from __future__ import annotations

import pytest

from verl_anomseer.cpu.learning import step_curve, window_means
from verl_anomseer.demo import DEMO_LR

# In `make test` (marker `canary` also selects it alone: `make test-canary`). Two learning runs with one seed can
# still differ from step 2 on: the trainer now trains on a step's samples in dataloader order
# (`timerpo/batch_order.py`; before, they came in rollout-arrival order), but the first update still differs
# between runs at the float-rounding level (~1e-7; not the thread count, not MKL's code path), and a rare sampled
# token flips on it. So the learning gain varies from run to run; 16 steps gained in every run measured, 8 steps
# did not (one of nine was negative).
pytestmark = [pytest.mark.e2e, pytest.mark.canary, pytest.mark.timeout(1500)]

LEARN_STEPS, FROZEN_STEPS, PROMPTS, WINDOW, SEED = 16, 4, 8, 2, 0
# Gains (mean reward of the last WINDOW steps minus the first WINDOW steps) with learning, by seed, one per run, on a
# shared 2-core machine: 16 steps (240-330 s per run). For the record, 8 steps (170-230 s) gained, by seed:
# 0: +0.093, +0.058, +0.049; 1: +0.050, +0.029; 2: +0.110, +0.122; 4: -0.030, +0.055; at half the demo's rate
# +0.007 (seed 4), +0.018 (seed 1); at 4x with one update per step the format collapsed to 0 after one step.
# With a learning rate of 0 the gain was exactly 0 in every run (seeds 0, 1; 8 steps), as the seeded sampling
# implies for any number of steps. Seed 0's second and third 16-step gains, and its last two frozen runs (4 steps),
# are this test's own runs in two clean-clone `.ci/run`s (quiet 2-core machine); the fourth, a `pytest -m e2e` run;
# the fifth and sixth, two runs of this arm after the batch-order fix (the second diverged from the first at step 2);
# the seventh to ninth, this test's own runs in three clean-clone `.ci/run`s after that fix.
# MARGIN: halfway between the frozen gain (0) and the smallest learning gain.
MEASURED = {
    DEMO_LR: {0: [0.147, 0.120, 0.174, 0.065, 0.175, 0.144, 0.144, 0.186, 0.158], 1: [0.055], 2: [0.228], 4: [0.078]},
    0.0: {0: [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 1: [0.0]},
}
MARGIN = min(gain for gains in MEASURED[DEMO_LR].values() for gain in gains) / 2


@pytest.fixture(scope="module")
def canary(tmp_path_factory, demo_timerpo, demo_runner):
    """The two runs, on the smoke demo's data (16 training prompts) and warm-started model, without evaluation."""
    shared = ("--data", str(demo_timerpo.out / "data"), "--model", str(demo_timerpo.out / "model"))
    shared += ("--prompts", str(PROMPTS), "--no-eval", "--seed", str(SEED))
    return {
        name: demo_runner(tmp_path_factory.mktemp(f"canary_{name}"), "--lr", lr, "--steps", str(steps), *shared)
        for name, lr, steps in (("learn", str(DEMO_LR), LEARN_STEPS), ("frozen", "0", FROZEN_STEPS))
    }


def _gain(run, steps: int) -> float:
    assert run.returncode == 0, run.stdout[-3000:]
    curve = step_curve(run.out)
    assert [r["step"] for r in curve] == list(range(1, steps + 1))
    assert all(r["n"] == PROMPTS * 8 for r in curve)  # 8 rollouts per prompt
    first, last = window_means(curve, WINDOW)
    return last - first


def test_training_raises_the_reward_and_a_zero_learning_rate_does_not(canary):
    learned, frozen = _gain(canary["learn"], LEARN_STEPS), _gain(canary["frozen"], FROZEN_STEPS)
    assert learned >= MARGIN and frozen == 0, (learned, frozen)


def test_a_zero_learning_rate_leaves_the_warm_start_untouched(canary, demo_timerpo):
    from safetensors.torch import load_file

    start = load_file(demo_timerpo.out / "model" / "model.safetensors")
    saved = canary["frozen"].out / "checkpoints" / f"global_step_{FROZEN_STEPS}" / "actor" / "huggingface"
    end = load_file(saved / "model.safetensors")
    assert start.keys() == end.keys()
    assert all(start[k].equal(end[k]) for k in start)
