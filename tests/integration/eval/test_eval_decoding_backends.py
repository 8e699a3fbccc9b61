"""Decoding as in training, with the tiny local Qwen2.5-VL: the checkpoint's generation_config stays out of the
hf backend unless asked, the vllm backend builds the hf backend's prompts, and the CLI's sampling flags."""

from __future__ import annotations

import json
import shutil

import pytest

from verl_anomseer.eval import cli
from verl_anomseer.eval.backends.base import Decoding, chat_prompt, plot_image
from verl_anomseer.eval.backends.hf import HFBackend
from verl_anomseer.eval.backends.vllm import VLLMBackend
from verl_anomseer.eval.samples import load_samples

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def few(eval_parquet):
    return load_samples(eval_parquet, limit=3)


@pytest.fixture(scope="module")
def opinionated_model(tiny_vl_model, tmp_path_factory):
    """The tiny model with a generation_config that samples and penalises repeats (as Qwen2.5-VL's does)."""
    model = tmp_path_factory.mktemp("opinionated") / "model"
    shutil.copytree(tiny_vl_model, model)
    config = json.loads((model / "generation_config.json").read_text())
    config.update(do_sample=True, temperature=0.1, top_k=1, top_p=0.001, repetition_penalty=1.05)
    (model / "generation_config.json").write_text(json.dumps(config))
    return model


def test_the_checkpoints_sampling_settings_are_dropped_its_stop_tokens_kept(opinionated_model):
    backend = HFBackend(str(opinionated_model), Decoding(max_new_tokens=8), device="cpu")
    backend.check()
    kept = backend.model.generation_config.to_diff_dict()
    assert not {"do_sample", "temperature", "top_k", "top_p", "repetition_penalty"} & set(kept), kept
    assert backend.stop_ids and backend.model.generation_config.eos_token_id == backend.stop_ids
    assert backend.generation_kwargs()["repetition_penalty"] == 1.0


def test_greedy_output_does_not_depend_on_the_checkpoints_generation_config(opinionated_model, tiny_vl_model, few):
    texts = []
    for model in (opinionated_model, tiny_vl_model):
        backend = HFBackend(str(model), Decoding(max_new_tokens=10), device="cpu", batch_size=3)
        backend.check()
        texts.append([t for _, t in backend.generate(few, seed=0)])
    assert texts[0] == texts[1]


def test_asked_for_the_generation_config_is_used(opinionated_model):
    backend = HFBackend(str(opinionated_model), Decoding(use_generation_config=True, max_new_tokens=8), device="cpu")
    backend.check()
    assert backend.model.generation_config.repetition_penalty == 1.05
    assert backend.generation_kwargs() == {"max_new_tokens": 8}


def test_vllm_requests_are_the_hf_backends_prompts_and_plots(tiny_vl_model, few):
    from transformers import AutoProcessor

    vllm = VLLMBackend(str(tiny_vl_model), Decoding())
    vllm.processor = AutoProcessor.from_pretrained(str(tiny_vl_model))
    batch = few
    requests = vllm.requests(batch)
    assert [r["prompt"] for r in requests] == [chat_prompt(vllm.processor, s.prompt) for s in batch]
    assert all(r["prompt"].count("<|image_pad|>") == 1 for r in requests)
    assert [r["multi_modal_data"]["image"].tobytes() for r in requests] == [plot_image(s).tobytes() for s in batch]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--backend", "openai", "--model", "m", "--top-k", "5"], "--top-k applies to --backend hf or vllm"),
        (["--backend", "hf", "--model", "m", "--top-k", "0"], "--top-k must be -1 (off) or >= 1"),
        (
            ["--backend", "hf", "--model", "m", "--tensor-parallel-size", "2"],
            "--tensor-parallel-size applies to --backend vllm",
        ),
        (["--backend", "hf", "--model", "m", "--max-model-len", "4096"], "--max-model-len applies to --backend vllm"),
        (
            ["--backend", "vllm", "--model", "m", "--generation-config", "--temperature", "0.4"],
            "--generation-config takes the sampling settings from the checkpoint: drop --temperature",
        ),
        (["--backend", "hf", "--model", "m", "--repetition-penalty", "0"], "must be > 0"),
        (["--backend", "hf", "--model", "m", "--dtype", "int4"], "argument --dtype: invalid choice"),
    ],
)
def test_bad_sampling_flags_are_one_line_exit_2(tmp_path, capsys, argv, message):
    assert cli.main(["--data", str(tmp_path / "x.parquet"), "--out", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "o").exists()


def test_the_run_records_every_sampling_setting(eval_parquet, tiny_vl_model, tmp_path):
    out = tmp_path / "out"
    assert (
        cli.main(
            [
                "--data",
                str(eval_parquet),
                "--backend",
                "hf",
                "--model",
                str(tiny_vl_model),
                "--out",
                str(out),
                "--limit",
                "2",
                "--max-new-tokens",
                "4",
                "--device",
                "cpu",
                "--temperature",
                "0.4",
                "--top-k",
                "20",
                "--seeds",
                "0",
                "1",
                "--dtype",
                "float32",
            ]
        )
        == 0
    )
    run = json.loads((out / "run.json").read_text())
    assert {
        k: run[k]
        for k in (
            "temperature",
            "top_p",
            "top_k",
            "repetition_penalty",
            "max_new_tokens",
            "use_generation_config",
            "dtype",
        )
    } == {
        "temperature": 0.4,
        "top_p": 1.0,
        "top_k": 20,
        "repetition_penalty": 1.0,
        "max_new_tokens": 4,
        "use_generation_config": False,
        "dtype": "float32",
    }
