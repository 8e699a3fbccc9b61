"""The learning canary: the demo's TimerPO loop must improve the reward it trains on.

Two `main_ppo` runs on the CPU backend with seed `SEED`, identical but for the actor's learning rate (the demo's,
and 0), from the same warm-started tiny model and data. The mean training reward of the last `WINDOW` steps must
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

# Not in `make test` (marker `canary`, run with `make test-canary`): the frozen run's gain is exactly 0, but with
# learning the gain depends on the run (MEASURED: one of nine was negative), so 8 steps do not yet learn reliably
# enough to gate CI on. Two learning runs with one seed also differ from step 2 on, probably because a step's requests
# reach the rollout in a varying order, which moves the samples between the rows of the training batch.
pytestmark = [pytest.mark.e2e, pytest.mark.canary, pytest.mark.timeout(1500)]

STEPS, PROMPTS, WINDOW, SEED = 8, 8, 2, 0
# Gains (mean reward of the last WINDOW steps minus the first WINDOW steps) by learning rate and seed, one per run,
# with these settings on a shared 2-core machine (170-230 s per run); the last gain of seeds 0, 1, 2 and 4 is the
# first 8 steps of a 16-step run. Those 16 steps (240-330 s per run) gained +0.147, +0.055, +0.228 and +0.078
# (seeds 0, 1, 2, 4). At half the demo's rate: +0.007 (seed 4), +0.018 (seed 1); at 4x with one update per step the
# format collapsed to 0 after one step (seeds 1, 4). MARGIN: halfway between the frozen gain (0) and the smallest
# positive gain.
MEASURED = {
    DEMO_LR: {0: [0.093, 0.058, 0.049], 1: [0.050, 0.029], 2: [0.110, 0.122], 4: [-0.030, 0.055]},
    0.0: {0: [0.0, 0.0], 1: [0.0]},
}
MARGIN = min(gain for gains in MEASURED[DEMO_LR].values() for gain in gains if gain > 0) / 2


@pytest.fixture(scope="module")
def canary(tmp_path_factory, demo_timerpo, demo_runner):
    """The two runs, on the smoke demo's data (16 training prompts) and warm-started model, without evaluation."""
    shared = (
        "--data",
        str(demo_timerpo.out / "data"),
        "--model",
        str(demo_timerpo.out / "model"),
        "--steps",
        str(STEPS),
        "--prompts",
        str(PROMPTS),
        "--no-eval",
        "--seed",
        str(SEED),
    )
    return {
        name: demo_runner(tmp_path_factory.mktemp(f"canary_{name}"), "--lr", lr, *shared)
        for name, lr in (("learn", str(DEMO_LR)), ("frozen", "0"))
    }


def _gain(run) -> float:
    assert run.returncode == 0, run.stdout[-3000:]
    curve = step_curve(run.out)
    assert [r["step"] for r in curve] == list(range(1, STEPS + 1))
    assert all(r["n"] == PROMPTS * 8 for r in curve)  # 8 rollouts per prompt
    first, last = window_means(curve, WINDOW)
    return last - first


def test_training_raises_the_reward_and_a_zero_learning_rate_does_not(canary):
    learned, frozen = _gain(canary["learn"]), _gain(canary["frozen"])
    assert learned >= MARGIN and frozen == 0, (learned, frozen)


def test_a_zero_learning_rate_leaves_the_warm_start_untouched(canary, demo_timerpo):
    from safetensors.torch import load_file

    start = load_file(demo_timerpo.out / "model" / "model.safetensors")
    saved = canary["frozen"].out / "checkpoints" / f"global_step_{STEPS}" / "actor" / "huggingface"
    end = load_file(saved / "model.safetensors")
    assert start.keys() == end.keys()
    assert all(start[k].equal(end[k]) for k in start)
