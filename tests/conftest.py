"""Tiny configurations shared by the tests: 2 layers, 32 wide, seconds on a CPU."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from hfpretrain import GPTConfig, GPTForCausalLM

TINY = dict(
    vocab_size=97,
    max_position_embeddings=64,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
)

# Architectures that together exercise every option: positions, norms, activations, GQA/MQA, QK-norm, bias, tying.
ARCHITECTURES = {
    "gpt2": dict(
        position_embedding_type="learned",
        norm_type="layernorm",
        hidden_act="gelu_tanh",
        bias=True,
        tie_word_embeddings=True,
    ),
    "llama-gqa": dict(
        position_embedding_type="rope",
        norm_type="rmsnorm",
        hidden_act="swiglu",
        bias=False,
        tie_word_embeddings=False,
        num_key_value_heads=2,
    ),
    "sinusoidal-relu2-qknorm": dict(
        position_embedding_type="sinusoidal",
        norm_type="layernorm",
        hidden_act="relu2",
        bias=False,
        qk_norm=True,
        tie_word_embeddings=False,
    ),
    "rope-mqa-gelu": dict(
        position_embedding_type="rope",
        norm_type="layernorm",
        hidden_act="gelu",
        bias=True,
        num_key_value_heads=1,
        qk_norm=True,
    ),
    "learned-rms-relu": dict(position_embedding_type="learned", norm_type="rmsnorm", hidden_act="relu", bias=False),
}


def tiny_config(arch: str = "gpt2", **overrides) -> GPTConfig:
    return GPTConfig(**{**TINY, **ARCHITECTURES[arch], **overrides})


def tiny_model(arch: str = "gpt2", seed: int = 0, attn_implementation: str = "sdpa", **overrides) -> GPTForCausalLM:
    torch.manual_seed(seed)
    model = GPTForCausalLM(tiny_config(arch, **overrides)).eval()
    model.set_attn_implementation(attn_implementation)
    return model


@pytest.fixture(params=list(ARCHITECTURES))
def arch(request) -> str:
    return request.param
