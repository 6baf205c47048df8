import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from hfpretrain import PRESETS, GPTConfig, GPTForCausalLM, parameter_breakdown, training_flops_per_token
from hfpretrain.accounting import flops_breakdown, matmul_parameters

from .conftest import tiny_config


def count(model) -> int:
    return sum(p.numel() for p in model.parameters())  # parameters() yields a tied weight once


@pytest.mark.parametrize("name", list(PRESETS))
def test_breakdown_total_matches_the_built_model(name):
    config = GPTConfig.from_preset(name)
    with torch.device("meta"):
        model = GPTForCausalLM(config)
    assert parameter_breakdown(config)["total"] == count(model)


def test_gpt2_small_counts_exactly_what_transformers_counts():
    with torch.device("meta"):
        reference = GPT2LMHeadModel(GPT2Config())  # the 124M shape: 12 layers, 768 wide, 12 heads
    breakdown = parameter_breakdown(GPTConfig.from_preset("gpt2-small"))
    assert breakdown["total"] == count(reference) == 124_439_808


GROUPS = {
    "embeddings": ("embed_tokens", "embed_positions"),
    "attention": ("qkv_proj", "o_proj"),
    "feed_forward": ("up_proj", "down_proj"),
    "norms": ("layernorm", "q_norm", "k_norm", "model.norm"),
    "output_head": ("lm_head",),
}


def test_each_group_matches_the_named_parameters(arch):
    config = tiny_config(arch)
    model = GPTForCausalLM(config)
    breakdown = parameter_breakdown(config)
    for group, patterns in GROUPS.items():
        counted = sum(p.numel() for n, p in model.named_parameters() if any(k in n for k in patterns))
        assert counted == breakdown[group], group
    assert breakdown["non_embedding"] == breakdown["total"] - breakdown["embeddings"] - breakdown["output_head"]


def test_flops_formula_by_hand():
    config = tiny_config("gpt2")  # 2 layers, h=32, 4 heads of 8, ffn 128, vocab 97, tied
    n = 2 * (32 * 96 + 32 * 32 + 32 * 128 + 128 * 32) + 97 * 32  # projections + head (tied, still a matmul)
    assert matmul_parameters(config) == n
    flops = flops_breakdown(config, seq_len=50)
    assert flops["train_dense_per_token"] == 6 * n
    assert flops["train_attention_per_token"] == 12 * 2 * 50 * 32
    assert flops["train_per_token"] == 3 * flops["forward_per_token"] == training_flops_per_token(config, 50)
    # Grouped-query attention shrinks the k/v projections, not the attention scores.
    gqa = tiny_config("llama-gqa")
    assert flops_breakdown(gqa, 50)["train_attention_per_token"] == 12 * 2 * 50 * 32


def test_measured_matmul_flops_match_the_forward_count():
    """Count the FLOPs of one forward pass with torch's FLOP counter and compare with the formula."""
    from torch.utils.flop_counter import FlopCounterMode

    config = tiny_config("llama-gqa", tie_word_embeddings=False)
    model = GPTForCausalLM(config)
    model.set_attn_implementation("eager")  # plain matmuls, which the counter sees
    T = 16
    ids = torch.randint(3, config.vocab_size, (1, T))
    with FlopCounterMode(display=False) as counter:
        model(ids)
    assert counter.get_total_flops() == flops_breakdown(config, T)["forward_per_token"] * T
