"""The builder's parquet through verl's own ``create_rl_dataset`` with ``data.custom_cls`` = our adapter."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import verl
from omegaconf import OmegaConf
from PIL import Image
from verl.trainer.ppo.utils import create_rl_dataset

from verl_anomseer.data.build import main
from verl_anomseer.data.dataset import AnomSeerDataset
from verl_anomseer.data.schema import RowError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rl") / "data"
    argv = ["--categories", "range", "point", "--train-per-category", "2", "--test-per-category", "1"]
    assert main([*argv, "--workers", "1", "--no-progress", "--out", str(out)]) == 0
    return out


def _data_config(tmp_path: Path, **overrides):
    """verl's own data config group (``trainer/config/data/legacy_data.yaml``) with the adapter plugged in."""
    config = OmegaConf.load(Path(verl.__file__).parent / "trainer/config/data/legacy_data.yaml")
    config.custom_cls.path = "pkg://verl_anomseer.data.dataset"
    config.custom_cls.name = "AnomSeerDataset"
    config.cache_dir = str(tmp_path / "cache")
    config.max_prompt_length = 4096
    config.filter_overlong_prompts = True
    config.tool_config_path = None
    config.function_tool_path = None
    for key, value in overrides.items():
        config[key] = value
    return config


def _processor_and_tokenizer(model_dir):
    from transformers import AutoProcessor, AutoTokenizer

    return AutoProcessor.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)


def test_create_rl_dataset_yields_raw_prompt_with_the_plot(data_dir, tiny_vl_model, tmp_path):
    processor, tokenizer = _processor_and_tokenizer(tiny_vl_model)
    dataset = create_rl_dataset([str(data_dir / "train.parquet")], _data_config(tmp_path), tokenizer, processor)
    assert isinstance(dataset, AnomSeerDataset) and len(dataset) == 4
    expected = pq.read_table(data_dir / "train.parquet").to_pylist()
    for i in range(len(dataset)):
        item = dataset[i]
        assert "series" not in item and "images" not in item
        assert item["data_source"] == expected[i]["data_source"]
        assert (
            item["reward_model"]["ground_truth"]["intervals"]
            == expected[i]["reward_model"]["ground_truth"]["intervals"]
        )
        assert item["extra_info"]["expcot"] == expected[i]["extra_info"]["expcot"]
        (message,) = item["raw_prompt"]
        assert message["role"] == "user"
        image_parts = [part for part in message["content"] if part["type"] == "image"]
        text_parts = [part for part in message["content"] if part["type"] == "text"]
        assert len(image_parts) == 1 and message["content"][0]["type"] == "image"
        image = image_parts[0]["image"]
        assert isinstance(image, Image.Image) and image.size == (1000, 150)
        assert image.tobytes() == Image.open(io.BytesIO(expected[i]["images"][0]["bytes"])).tobytes()
        assert "length 1000" in text_parts[0]["text"]


def test_a_malformed_row_is_named_at_load_time(data_dir, tmp_path):
    rows = pq.read_table(data_dir / "train.parquet").to_pylist()
    bad = copy.deepcopy(rows)
    bad[2]["reward_model"]["ground_truth"]["label"] = "unknown"
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist(bad, schema=pq.read_schema(data_dir / "train.parquet")), path)
    with pytest.raises(RowError, match=r"row 2: field 'reward_model.ground_truth.label'") as info:
        create_rl_dataset([str(path)], _data_config(tmp_path, filter_overlong_prompts=False), None, None)
    assert str(path) in str(info.value)


def test_imported_multivariate_rows_load_and_score(tmp_path, tiny_vl_model):
    """Rows of an imported labelled file (``--suite files``): verl's dataset reads them, the reward scores them."""
    import numpy as np
    import pandas as pd

    from verl_anomseer.scoring.reward import compute_score

    t = np.arange(1000)
    frame = pd.DataFrame({"a": np.sin(t / 7), "b": np.cos(t / 11), "label": 0})
    frame.loc[300:309, "label"] = 1
    frame.to_csv(tmp_path / "plant.csv", index=False)
    out = tmp_path / "imported"
    assert (
        main(
            [
                "--suite",
                "files",
                "--input",
                str(tmp_path / "plant.csv"),
                "--window",
                "500",
                "--split",
                "train",
                "--anomaly-class",
                "global point",
                "--workers",
                "1",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    processor, tokenizer = _processor_and_tokenizer(tiny_vl_model)
    dataset = create_rl_dataset([str(out / "train.parquet")], _data_config(tmp_path), tokenizer, processor)
    assert len(dataset) == 2
    first = dataset[0]
    assert first["extra_info"]["source"]["columns"] == ["a", "b"] and first["extra_info"]["source"]["offset"] == 0
    image = next(p["image"] for p in first["raw_prompt"][0]["content"] if p["type"] == "image")
    assert image.size == (1000, 300)  # two stacked panels
    gt = first["reward_model"]["ground_truth"]
    assert [[int(v) for v in pair] for pair in gt["intervals"]] == [[300, 310]]
    answer = "<think>a jump in panel a</think><answer>[[300, 310]]</answer><class>global point</class>"
    assert compute_score(first["data_source"], answer, gt, first["extra_info"])["score"] == 1.0
