"""The reward's grounding term: config validation, the NaN sentinel, agreement with the OT/cosine pieces,
any model text in [0, 1], caching, threads, and meaningful scores with the shipped MiniLM."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_anomseer.grounding.ot import cosine_score, ot_score
from verl_anomseer.grounding.reward_term import GroundingConfig, get_scorer, grounding_score, grounding_scores

EXPCOT = (
    "Observation: mean 0.02, std 0.40; the global z-score peaks at 6.3 at index 412. Reasoning: the "
    "k-sigma rule flags [410, 415). Conclusion: a global point anomaly at [410, 415)."
)


@pytest.fixture(scope="module")
def tiny_config(tiny_bert_path):
    return {"encoder": tiny_bert_path, "max_length": 64}


def test_defaults_are_the_authors_settings():
    cfg = GroundingConfig.from_mapping(None)
    assert (cfg.similarity, cfg.encoder, cfg.device, cfg.max_length) == ("ot", "minilm", "cpu", 512)
    assert (cfg.eps, cfg.n_iter, cfg.tau) == (0.08, 50, 0.5)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"similarty": "ot"}, "unknown grounding config key"),
        ({"similarity": "wasserstein"}, "similarity must be one of"),
        ({"eps": 0}, "eps must be"),
        ({"tau": -1.0}, "tau must be"),
        ({"n_iter": 0}, "n_iter must be"),
        ({"max_length": 1.5}, "max_length must be"),
        ({"cache_size": -1}, "cache_size must be"),
        ({"encoder": ""}, "encoder must be"),
    ],
)
def test_bad_config_raises_a_clear_error(config, message):
    with pytest.raises(ValueError, match=message):
        grounding_score("text", EXPCOT, config)


@pytest.mark.parametrize("reference", [None, "", "  \n ", 3])
def test_missing_reference_is_the_nan_sentinel(reference, tiny_config):
    assert math.isnan(grounding_score("<think>spike</think>", reference, tiny_config))


def test_score_equals_the_pieces(tiny_config):
    scorer = get_scorer(tiny_config)
    response = "<think>a spike near 412 beyond 3 sigma</think><answer>[[410, 415]]</answer><class>global point</class>"
    H_r, H_e = scorer.encoder.encode([response, EXPCOT])  # one padded batch: float32 sums differ by ~1e-7
    assert grounding_score(response, EXPCOT, tiny_config) == pytest.approx(ot_score(H_r, H_e), abs=1e-6)
    cosine = dict(tiny_config, similarity="cosine")
    assert grounding_score(response, EXPCOT, cosine) == pytest.approx(cosine_score(H_r, H_e), abs=1e-6)
    tuned = dict(tiny_config, eps=0.2, n_iter=10, tau=1.0)
    assert grounding_score(response, EXPCOT, tuned) == pytest.approx(ot_score(H_r, H_e, 0.2, 10, 1.0), abs=1e-6)


def test_one_scorer_per_config(tiny_config):
    assert get_scorer(tiny_config) is get_scorer(dict(tiny_config))
    assert get_scorer(tiny_config) is not get_scorer(dict(tiny_config, tau=0.25))


def test_batch_equals_single_calls(tiny_config):
    responses = ["spike at 412", "", "trend change", None]
    references = [EXPCOT, EXPCOT, None, "seasonal drift at 300"]
    batch = grounding_scores(responses, references, tiny_config)
    single = [grounding_score(r, e, tiny_config) for r, e in zip(responses, references)]
    assert math.isnan(batch[2]) and math.isnan(single[2])
    assert [b for i, b in enumerate(batch) if i != 2] == pytest.approx([s for i, s in enumerate(single) if i != 2])
    with pytest.raises(ValueError, match="references"):
        grounding_scores(["a"], [], tiny_config)


def test_empty_response_gets_the_no_token_score(tiny_config):
    assert grounding_score("", EXPCOT, tiny_config) == pytest.approx(math.exp(-1.0 / 0.5))


@given(
    st.one_of(
        st.text(alphabet=st.characters(codec=None), max_size=300),  # includes lone surrogates
        st.binary(max_size=100),
        st.none(),
        st.integers(),
    )
)
@settings(max_examples=30)  # each example runs the tokenizer and a model forward twice
def test_any_model_text_scores_in_unit_interval(tiny_bert_path, response):
    config = {"encoder": tiny_bert_path, "max_length": 64}
    for similarity in ("ot", "cosine"):
        s = grounding_score(response, EXPCOT, dict(config, similarity=similarity))
        assert 0.0 <= s <= 1.0


def test_huge_response_is_bounded(tiny_config):
    assert 0.0 <= grounding_score("spike " * 200_000 + "\U0001f600" * 10_000, EXPCOT, tiny_config) <= 1.0


def test_concurrent_calls_agree_with_serial_ones(tiny_config):
    responses = [f"spike at index {400 + i} beyond three sigma" for i in range(12)]
    serial = [grounding_score(r, EXPCOT, tiny_config) for r in responses]
    with ThreadPoolExecutor(6) as pool:
        threaded = list(pool.map(lambda r: grounding_score(r, EXPCOT, tiny_config), responses))
    assert threaded == pytest.approx(serial, abs=1e-9)


def test_default_minilm_rewards_grounded_reasoning():
    """With the shipped encoder a response that restates the ExpCoT's evidence scores higher than one
    about a different anomaly, which scores higher than off-topic text."""
    grounded = (
        "<think>The z-score peaks above 6 around index 412, well beyond the 3-sigma band, so the points "
        "410 to 415 form a global point anomaly.</think><answer>[[410, 415]]</answer><class>global point</class>"
    )
    other = (
        "<think>The period of the oscillation changes from 25 to 40 samples after index 300, a seasonal "
        "anomaly.</think><answer>[[300, 420]]</answer><class>seasonal</class>"
    )
    off_topic = "I enjoy cooking pasta with fresh tomatoes and basil on Sunday evenings with my family."
    for similarity in ("ot", "cosine"):
        s = [grounding_score(r, EXPCOT, {"similarity": similarity}) for r in (grounded, other, off_topic)]
        assert s[0] > s[1] > s[2], (similarity, s)


def test_grounding_imports_no_verl():
    """A domain package (docs/architecture.md, layers): importing it must not pull in verl."""
    import subprocess
    import sys

    code = (
        "import sys, verl_anomseer.grounding.reward_term, verl_anomseer.grounding.encoders, verl_anomseer.grounding.ot;"
        "bad = sorted(m for m in sys.modules if m == 'verl' or m.startswith('verl.')); print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
