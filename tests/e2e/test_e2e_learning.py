"""The learning canary: the demo's TimerPO loop must improve the reward it trains on.

Two seeded `main_ppo` runs on the CPU backend, identical but for the actor's learning rate (the demo's, and 0),
from the same warm-started tiny model and data. The mean training reward of the last `WINDOW` steps must exceed
that of the first `WINDOW` steps by `MARGIN` with learning, and must not with a learning rate of 0 (whose weights
stay exactly the warm start). A sign error in an advantage, a dropped gradient or a weight sync that never
reaches the rollout fails it.

Each step takes `PROMPTS` = half the smoke data set's 16 training prompts, so a window of `WINDOW` = 2 steps is
exactly one epoch: both windows hold the same prompts, and the comparison is not swayed by which series (say,
the anomaly-free ones, where `[]` earns 1) a few steps happened to draw. `MARGIN` comes from measured runs
(`MEASURED`).
"""

from __future__ import annotations

import pytest

from verl_anomseer.cpu.learning import step_curve, window_means
from verl_anomseer.demo import DEMO_LR

# Not in `make test` (marker `canary`, run with `make test-canary`): in a clean-clone CI run on 2 cores the learning
# arm gained +0.019 and the lr-0 arm +0.040, so one measured run per arm does not separate them reliably yet.
pytestmark = [pytest.mark.e2e, pytest.mark.canary, pytest.mark.timeout(1500)]

STEPS, PROMPTS, WINDOW = 8, 8, 2
# Gains (mean reward of the last WINDOW steps minus the first WINDOW steps) measured with these settings, one run
# per learning rate, on a shared, heavily loaded 2-core machine; MARGIN lies halfway between them. The step means
# of the frozen run spread by about 0.04, so one run per arm is thin evidence: add runs here as they are made.
MEASURED = {DEMO_LR: [0.085], 0.0: [0.013]}
MARGIN = 0.05


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
    assert learned >= MARGIN > frozen, (learned, frozen)


def test_a_zero_learning_rate_leaves_the_warm_start_untouched(canary, demo_timerpo):
    from safetensors.torch import load_file

    start = load_file(demo_timerpo.out / "model" / "model.safetensors")
    saved = canary["frozen"].out / "checkpoints" / f"global_step_{STEPS}" / "actor" / "huggingface"
    end = load_file(saved / "model.safetensors")
    assert start.keys() == end.keys()
    assert all(start[k].equal(end[k]) for k in start)
