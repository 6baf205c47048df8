"""GPT-2 and Llama interoperability, proven against transformers' own models."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from hfpretrain import GPTConfig, GPTForCausalLM
from hfpretrain.cli import main
from hfpretrain.convert import (
    IncompatibleArchitectureError,
    export_gpt2,
    export_llama,
    import_gpt2,
    import_llama,
)

from .conftest import tiny_model
from .test_generation import make_tokenizer

VOCAB = 101


def ids(batch=2, length=12, seed=0):
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def assert_same(a, b, tolerance=1e-5):
    x = ids()
    with torch.no_grad():
        difference = (a.eval()(x).logits - b.eval()(x).logits).abs().max().item()
    assert difference <= tolerance, difference
    prompt = ids(batch=1, length=5, seed=1)
    kwargs = dict(max_new_tokens=10, do_sample=False, pad_token_id=0, eos_token_id=None)
    assert torch.equal(a.generate(prompt, **kwargs), b.generate(prompt, **kwargs))


def random_gpt2(tied=True, activation="gelu_new", n_inner=None):
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=VOCAB,
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_inner=n_inner,
        activation_function=activation,
        tie_word_embeddings=tied,
        bos_token_id=1,
        eos_token_id=2,
    )
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # non-trivial norms and biases, so that a swapped tensor cannot go unnoticed
        for name, param in model.named_parameters():
            if "ln" in name or name.endswith("bias"):
                param.add_(0.1 * torch.randn_like(param))
    return model


def random_llama(tied=False, kv_heads=4, theta=10000.0):
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=kv_heads,
        max_position_embeddings=64,
        tie_word_embeddings=tied,
        rope_parameters={"rope_type": "default", "rope_theta": theta},
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.add_(0.1 * torch.randn_like(param))
    return model


@pytest.mark.parametrize(
    "tied, activation, n_inner", [(True, "gelu_new", None), (False, "gelu", 48), (True, "relu", 80)]
)
def test_gpt2_round_trip(tied, activation, n_inner):
    gpt2 = random_gpt2(tied, activation, n_inner)
    ours = import_gpt2(gpt2)
    assert ours.config.position_embedding_type == "learned" and ours.config.tie_word_embeddings == tied
    assert_same(gpt2, ours)
    back = export_gpt2(ours)
    assert isinstance(back, GPT2LMHeadModel)
    assert_same(gpt2, back)
    for name, tensor in gpt2.state_dict().items():
        if name in back.state_dict():
            assert torch.equal(back.state_dict()[name], tensor), name


@pytest.mark.parametrize("tied, kv_heads, theta", [(False, 4, 10000.0), (True, 2, 10000.0), (False, 1, 500000.0)])
def test_llama_round_trip(tied, kv_heads, theta):
    llama = random_llama(tied, kv_heads, theta)
    ours = import_llama(llama)
    assert ours.config.num_key_value_heads == kv_heads and ours.config.rope_theta == theta
    assert_same(llama, ours)
    back = export_llama(ours)
    assert_same(llama, back)
    for name, tensor in llama.state_dict().items():
        assert torch.equal(back.state_dict()[name], tensor), name


def test_modern_presets_export_to_llama():
    for preset in ("gpt-debug", "gpt-tiny", "modern-small"):
        config = GPTConfig.from_preset(
            preset,
            vocab_size=VOCAB,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=64,
        )
        torch.manual_seed(0)
        ours = GPTForCausalLM(config).eval()
        assert_same(ours, export_llama(ours))


def test_mismatched_architectures_are_refused_field_by_field():
    with pytest.raises(IncompatibleArchitectureError) as err:
        export_llama(tiny_model("gpt2"))
    message = str(err.value)
    for fragment in (
        "position_embedding_type is 'learned'; Llama needs 'rope'",
        "norm_type is 'layernorm'; Llama needs 'rmsnorm'",
        "hidden_act is 'gelu_tanh'; Llama needs 'swiglu'",
        "bias is True; Llama needs False",
    ):
        assert fragment in message
    with pytest.raises(IncompatibleArchitectureError) as err:
        export_gpt2(tiny_model("llama-gqa"))
    message = str(err.value)
    for fragment in (
        "position_embedding_type is 'rope'; GPT-2 needs 'learned'",
        "num_key_value_heads is 2",
        "bias is False",
        "hidden_act is 'swiglu'",
    ):
        assert fragment in message
    with pytest.raises(IncompatibleArchitectureError, match="qk_norm is True"):
        export_llama(tiny_model("llama-gqa", qk_norm=True))
    odd = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=VOCAB,
            n_positions=32,
            n_embd=32,
            n_layer=1,
            n_head=4,
            scale_attn_by_inverse_layer_idx=True,
            bos_token_id=1,
            eos_token_id=1,
        )
    )
    with pytest.raises(IncompatibleArchitectureError, match="scale_attn_by_inverse_layer_idx"):
        import_gpt2(odd)


PLAIN_LOAD = textwrap.dedent(
    """
    import json, sys
    sys.modules["hfpretrain"] = None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(sys.argv[1]).eval()  # no trust_remote_code
    tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
    out = model.generate(torch.tensor(json.loads(sys.argv[2])), max_new_tokens=8, do_sample=False, eos_token_id=None)
    print(json.dumps({"class": type(model).__name__, "tokens": out.tolist(), "vocab": len(tokenizer)}))
    """
)


@pytest.mark.parametrize("target, arch", [("llama", "llama-gqa"), ("gpt2", "gpt2")])
def test_cli_export_loads_without_hfpretrain(target, arch, tmp_path, capsys):
    tokenizer = make_tokenizer(["吾輩は猫である。", "hello world"] * 10)
    model = tiny_model(arch, vocab_size=len(tokenizer))
    model.save_pretrained(tmp_path / "ours")
    tokenizer.save_pretrained(tmp_path / "ours")
    assert main(["convert", "export", "--to", target, str(tmp_path / "ours"), str(tmp_path / "out")]) == 0
    report = capsys.readouterr().out
    assert "max |Δlogit|" in report
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["model_type"] == target and "auto_map" not in config
    assert not list((tmp_path / "out").glob("*.py"))
    prompt = ids(batch=1, length=5).clamp(max=len(tokenizer) - 1)
    expected = model.generate(prompt, max_new_tokens=8, do_sample=False, eos_token_id=None).tolist()
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-c", PLAIN_LOAD, str(tmp_path / "out"), json.dumps(prompt.tolist())],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["class"] == {"llama": "LlamaForCausalLM", "gpt2": "GPT2LMHeadModel"}[target]
    assert answer["tokens"] == expected
    assert answer["vocab"] == len(tokenizer)


def test_cli_import_gpt2_folder(tmp_path, capsys):
    gpt2 = random_gpt2()
    gpt2.save_pretrained(tmp_path / "gpt2")
    assert main(["convert", "import-gpt2", str(tmp_path / "gpt2"), str(tmp_path / "ours")]) == 0
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "ours")
    assert isinstance(loaded, GPTForCausalLM)
    assert_same(gpt2, loaded)
    assert main(["convert", "export", "--to", "llama", str(tmp_path / "ours"), str(tmp_path / "x")]) == 2
    assert "position_embedding_type is 'learned'" in capsys.readouterr().err


def test_out_of_vocabulary_special_ids_are_dropped_not_fatal():
    gpt2 = random_gpt2()
    gpt2.config.pad_token_id = -1  # seen on the Hub
    gpt2.config.eos_token_id = 50256  # GPT-2's id, beyond this tiny vocabulary
    ours = import_gpt2(gpt2)
    assert ours.config.pad_token_id is None and ours.config.eos_token_id is None
    assert ours.config.bos_token_id == 1
