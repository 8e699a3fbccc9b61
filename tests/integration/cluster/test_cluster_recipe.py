"""Qwen2.5-VL-7B on 2 x 8 GPUs: the command docs/cluster.md gives (the 8-GPU 7B recipe and an override set),
composed by main_ppo's CLI, is the 8-GPU recipe on two nodes, and verl's `validate_config` (the plugin's checks in
front) accepts it at 2 x 8 GPUs and refuses it with a relative path."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from recipe_cli_support import printed_job_configs
from recipe_support import leaves, validate_like_main_ppo

from verl_anomseer.cluster import ClusterConfigError
from verl_anomseer.launch_checks import rollout_replicas

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DOC = Path(__file__).parents[3] / "docs" / "cluster.md"
RECIPE = "timerpo_qwen2_5_vl_7b_8gpu"
ADDRESS = "ray_kwargs.ray_init.address"


def documented_overrides() -> list[str]:
    """The overrides of the documented 2 x 8 GPU command (the code block under its heading)."""
    section = DOC.read_text().split("### Qwen2.5-VL-7B on 2 x 8 GPUs", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    words = shlex.split(block.replace("\\\n", " "))
    assert words[:5] == [
        "RAY_AUTH_MODE=token",
        "python",
        "-m",
        "verl.trainer.main_ppo",
        "--config-path=pkg://verl_anomseer.recipes",
    ]
    assert words[5] == f"--config-name={RECIPE}"
    return words[6:]


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> tuple[dict, dict]:
    """(the recipe as shipped, the recipe with the documented overrides), as main_ppo's CLI prints them."""
    cwd = tmp_path_factory.mktemp("cli")
    return printed_job_configs([RECIPE], cwd)[RECIPE], printed_job_configs([RECIPE], cwd, documented_overrides())[
        RECIPE
    ]


def _without_address(printed: dict):
    """The documented config minus the head node's address (the driver would probe HEAD_IP:6379)."""
    config = OmegaConf.create(printed)
    del config.ray_kwargs.ray_init.address
    return config


def test_the_documented_command_is_the_8gpu_recipe_on_two_nodes(printed):
    shipped, documented = map(leaves, printed)
    changed = {key for key in shipped.keys() | documented.keys() if shipped.get(key) != documented.get(key)}
    assert changed == {
        ADDRESS,
        "trainer.nnodes",
        "trainer.experiment_name",
        "actor_rollout_ref.model.path",
        "data.train_files",
        "data.val_files",
        "trainer.default_local_dir",
    }
    assert (documented["trainer.nnodes"], documented["trainer.n_gpus_per_node"]) == (2, 8)
    assert all(
        str(documented[key]).startswith("/shared/")
        for key in changed - {ADDRESS, "trainer.nnodes", "trainer.experiment_name"}
    )


def test_accepted_at_2x8_gpus(printed):
    config = _without_address(printed[1])
    assert rollout_replicas(config) == 8
    validate_like_main_ppo(config)


@pytest.mark.parametrize("key", ["actor_rollout_ref.model.path", "data.train_files", "data.val_files"])
def test_refused_with_a_relative_path_naming_the_key(printed, key):
    config = _without_address(printed[1])
    OmegaConf.update(config, key, "relative/path")
    with pytest.raises(ClusterConfigError, match=f"^{re.escape(key)}='relative/path' is a relative path"):
        validate_like_main_ppo(config)
