"""The hf backend with the tiny local Qwen2.5-VL: real processor, image and batched generate on CPU."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from verl_anomseer.eval.backends.base import Decoding
from verl_anomseer.eval.backends.hf import HFBackend
from verl_anomseer.eval.errors import EvalSetupError
from verl_anomseer.eval.samples import Sample

pytestmark = pytest.mark.integration


def png(values) -> bytes:
    fig = Figure(figsize=(4, 1))
    FigureCanvasAgg(fig)
    fig.add_subplot().plot(values)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def samples(n=3):
    out = []
    for i in range(n):
        values = np.sin(np.arange(200) * 0.05 * (i + 1))
        prompt = "<image>\nFind the anomalies." + " Be brief." * i  # different lengths: exercises left padding
        out.append(
            Sample(
                series_id=f"s{i}",
                suite="anomllm",
                category="point",
                data_source="anomseer/anomllm/point",
                prompt=prompt,
                image=png(values),
                values=values,
                ground_truth={"intervals": [], "label": "normal", "length": 200},
                extra_info={},
            )
        )
    return out


def test_batched_greedy_generation_matches_one_by_one(tiny_vl_model):
    batch = samples()
    decoding = Decoding(max_new_tokens=12)
    batched = HFBackend(str(tiny_vl_model), decoding, device="cpu", batch_size=3)
    batched.check()
    single = HFBackend(str(tiny_vl_model), decoding, device="cpu", batch_size=1)
    single.check()
    got = list(batched.generate(batch, seed=0))
    assert [s.series_id for s, _ in got] == ["s0", "s1", "s2"]
    assert [t for _, t in got] == [t for _, t in single.generate(batch, seed=0)]
    assert all(t for _, t in got)  # the random model emits (whitespace) tokens; nothing is dropped


def test_sampling_is_reproducible_per_seed(tiny_vl_model):
    backend = HFBackend(str(tiny_vl_model), Decoding(temperature=1.0, max_new_tokens=12), device="cpu", batch_size=2)
    backend.check()
    first = [t for _, t in backend.generate(samples(), seed=1)]
    assert first == [t for _, t in backend.generate(samples(), seed=1)]
    assert first != [t for _, t in backend.generate(samples(), seed=2)]


def test_model_path_that_does_not_load_fails_in_check(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(EvalSetupError, match="does not load"):
        HFBackend(str(tmp_path), Decoding(), device="cpu").check()
