"""Fixtures for the grounding tests: the shipped MiniLM encoder and tiny random models built locally."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def minilm_encoder():
    from verl_anomseer.grounding.encoders import default_encoder

    return default_encoder()


def _save_tiny(out_dir, config):
    from transformers import AutoModel, AutoTokenizer

    from verl_anomseer.grounding.encoders import minilm_path

    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(out_dir)
    AutoModel.from_config(config).save_pretrained(out_dir)
    return str(out_dir)


@pytest.fixture(scope="session")
def tiny_bert_path(tmp_path_factory):
    """A random 1-layer BERT (hidden 32, 64 positions) with the MiniLM WordPiece tokenizer."""
    from transformers import BertConfig

    config = BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64
    )
    return _save_tiny(tmp_path_factory.mktemp("tiny_bert"), config)


@pytest.fixture(scope="session")
def tiny_decoder_path(tmp_path_factory):
    """A random 1-layer Qwen2 decoder (hidden 32): a causal model, as the policy's own checkpoint would be."""
    from transformers import Qwen2Config

    config = Qwen2Config(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        max_position_embeddings=1024,
    )
    return _save_tiny(tmp_path_factory.mktemp("tiny_qwen2"), config)
