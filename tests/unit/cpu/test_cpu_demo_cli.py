"""The demo's command line: bad arguments stop with one line and exit code 2; the training command it builds
composes with Hydra on verl's ppo_trainer (the same overrides `make demo` passes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from recipe_support import compose_recipe

from verl_anomseer.demo import DEMO_LR, DEMO_PROMPTS, TrainingRun, main, train_command


@pytest.mark.parametrize(
    "argv",
    [
        ["--steps", "0"],
        ["--per-category", "-1"],
        ["--sft-steps", "-2"],
        ["--algorithm", "ppo"],
        ["--timeout", "x"],
        ["--lr", "-1e-3"],
        ["--lr", "nan"],
        ["--prompts", "0"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "o"), *argv])
    assert exc.value.code == 2
    assert len([line for line in capsys.readouterr().err.splitlines() if "error" in line]) == 1
    assert not (tmp_path / "o").exists()


def test_out_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "file")])
    assert exc.value.code == 2


def _compose(command: list[str]):
    overrides = [arg for arg in command[command.index("--config-name=cpu_smoke") + 1 :] if not arg.startswith("hydra.")]
    return compose_recipe("cpu_smoke", *overrides)


def test_timerpo_command_trains_timerpo_with_grounding_and_saves_a_hf_checkpoint():
    cfg = _compose(train_command(Path("/d"), Path("/m"), Path("/r"), TrainingRun(3, "timerpo")))
    assert cfg.algorithm.adv_estimator == "timerpo" and cfg.algorithm.timerpo.alpha > 0
    assert cfg.algorithm.timerpo.grounding.source == "policy"  # the paper's: the actor's own hidden states
    assert "grounding" not in (cfg.reward.custom_reward_function.get("reward_kwargs") or {})
    assert (cfg.trainer.total_training_steps, cfg.trainer.save_freq) == (3, 3)
    assert "hf_model" in cfg.actor_rollout_ref.actor.checkpoint.save_contents
    assert cfg.actor_rollout_ref.rollout.name == "hf" and cfg.actor_rollout_ref.model.path == "/m"
    assert cfg.data.train_files == "/d/train.parquet" and cfg.trainer.rollout_data_dir == "/r/rollouts"


def test_the_learning_rate_and_prompts_per_step_reach_verl():
    for lr, prompts in ((DEMO_LR, DEMO_PROMPTS), (0.0, 2)):
        run = TrainingRun(3, "timerpo", lr=lr, prompts=prompts)
        cfg = _compose(train_command(Path("/d"), Path("/m"), Path("/r"), run))
        assert cfg.actor_rollout_ref.actor.optim.lr == lr and cfg.data.train_batch_size == prompts
    assert train_command(Path("/d"), Path("/m"), Path("/r"), TrainingRun(3)) == train_command(
        Path("/d"), Path("/m"), Path("/r"), TrainingRun(3, "timerpo", lr=DEMO_LR)
    )


def test_reward_source_command_moves_the_grounding_to_the_reward_function():
    from verl_anomseer.timerpo.trainer import require_grounding_source

    cfg = _compose(train_command(Path("/d"), Path("/m"), Path("/r"), TrainingRun(3, "timerpo", grounding="reward")))
    assert cfg.algorithm.timerpo.grounding.source == "reward"
    assert cfg.reward.custom_reward_function.reward_kwargs.grounding.similarity == "ot"
    assert not require_grounding_source(cfg).policy_grounding  # the driver check accepts it


def test_grpo_command_uses_verls_estimator_without_grounding():
    cfg = _compose(train_command(Path("/d"), Path("/m"), Path("/r"), TrainingRun(2, "grpo")))
    assert cfg.algorithm.adv_estimator == "grpo"
    assert "grounding" not in (cfg.reward.custom_reward_function.get("reward_kwargs") or {})


def test_demo_data_is_reused_only_when_its_size_matches(tmp_path):
    import pyarrow.parquet as pq

    from verl_anomseer.demo import build_data

    out = tmp_path / "data"
    build_data(out, 1, no_progress=True)
    first = (out / "manifest.json").stat().st_mtime_ns
    build_data(out, 1, no_progress=True)  # same size: reused, not rebuilt
    assert (out / "manifest.json").stat().st_mtime_ns == first
    build_data(out, 2, no_progress=True)  # another --per-category: rebuilt
    assert pq.read_metadata(out / "train.parquet").num_rows == 16
