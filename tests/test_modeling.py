"""Model behaviour: save/load, Auto classes, remote code, causality, attention backends, loss, training."""

import ast
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from hfpretrain import GPTForCausalLM
from hfpretrain.modeling_gpt import causal_lm_loss

from .conftest import TINY, tiny_config, tiny_model


def random_ids(batch=2, length=12, seed=1, low=3):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(low, TINY["vocab_size"], (batch, length), generator=generator)


def test_save_load_gives_identical_logits(arch, tmp_path):
    model = tiny_model(arch)
    ids = random_ids()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert not list(tmp_path.glob("*.bin")), "weights must be saved as safetensors only"
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, GPTForCausalLM)
    with torch.no_grad():
        assert torch.equal(model(ids).logits, loaded(ids).logits)
    if model.config.tie_word_embeddings:
        assert loaded.lm_head.weight.data_ptr() == loaded.model.embed_tokens.weight.data_ptr()
    else:
        assert loaded.lm_head.weight.data_ptr() != loaded.model.embed_tokens.weight.data_ptr()


def test_auto_classes_are_registered():
    config = AutoConfig.for_model("hfpretrain_gpt", **TINY)
    model = AutoModelForCausalLM.from_config(config)
    assert isinstance(model, GPTForCausalLM)


def test_saved_folder_carries_code_and_auto_map(tmp_path):
    tiny_model("llama-gqa").save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "hfpretrain_gpt"
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_gpt.GPTForCausalLM"
    assert config["auto_map"]["AutoConfig"] == "configuration_gpt.GPTConfig"
    for name in ("modeling_gpt.py", "configuration_gpt.py"):
        tree = ast.parse((tmp_path / name).read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {
            node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0
        }
        assert not any(module.split(".")[0] == "hfpretrain" for module in imported), imported


REMOTE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.modules["hfpretrain"] = None  # any `import hfpretrain` now raises ImportError
    import torch
    from transformers import AutoModelForCausalLM
    try:
        import hfpretrain  # noqa: F401
        raise SystemExit("hfpretrain must not be importable here")
    except ImportError:
        pass
    model = AutoModelForCausalLM.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
    ids = torch.tensor(json.loads(sys.argv[2]))
    out = model.generate(ids, max_new_tokens=8, do_sample=False)
    print(json.dumps({"module": type(model).__module__, "tokens": out.tolist()}))
    """
)


@pytest.mark.parametrize("arch_name", ["gpt2", "llama-gqa"])
def test_trust_remote_code_without_hfpretrain(arch_name, tmp_path):
    model = tiny_model(arch_name)
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    ids = random_ids(batch=1, length=5)
    expected = model.generate(ids, max_new_tokens=8, do_sample=False).tolist()
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", PYTHONPATH="")
    result = subprocess.run(
        [sys.executable, "-c", REMOTE_SCRIPT, str(folder), json.dumps(ids.tolist())],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["module"].startswith("transformers_modules"), answer["module"]
    assert answer["tokens"] == expected


def test_causality(arch):
    model = tiny_model(arch)
    ids = random_ids(batch=1, length=16)
    changed = ids.clone()
    changed[0, 10] = (changed[0, 10] + 1) % TINY["vocab_size"]
    with torch.no_grad():
        a, b = model(ids).logits, model(changed).logits
    assert torch.equal(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_eager_attention_weights_are_causal_probabilities(arch):
    model = tiny_model(arch, attn_implementation="eager")
    with torch.no_grad():
        out = model(random_ids(batch=2, length=9), output_attentions=True)
    assert len(out.attentions) == TINY["num_hidden_layers"]
    for weights in out.attentions:
        assert weights.shape == (2, TINY["num_attention_heads"], 9, 9)
        above = torch.triu(torch.ones(9, 9, dtype=torch.bool), diagonal=1)
        assert torch.all(weights[..., above] == 0)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, TINY["num_attention_heads"], 9))


def test_eager_and_sdpa_agree(arch):
    model = tiny_model(arch, attn_implementation="eager")
    ids = random_ids(batch=3, length=20)
    mask = torch.ones_like(ids)
    mask[0, :4] = 0  # one left-padded row makes both backends use an explicit mask
    with torch.no_grad():
        eager = model(ids).logits
        eager_masked = model(ids, attention_mask=mask).logits
        model.set_attn_implementation("sdpa")
        assert model.config._attn_implementation == "sdpa"
        sdpa = model(ids).logits
        sdpa_masked = model(ids, attention_mask=mask).logits
    assert (eager - sdpa).abs().max() <= 1e-5
    assert (eager_masked[:, 4:] - sdpa_masked[:, 4:]).abs().max() <= 1e-5


def test_output_attentions_needs_eager():
    model = tiny_model("gpt2", attn_implementation="sdpa")
    with pytest.raises(ValueError, match="set_attn_implementation\\('eager'\\)"):
        model(random_ids(), output_attentions=True)


def test_hidden_states_and_logits_to_keep(arch):
    model = tiny_model(arch)
    ids = random_ids(batch=2, length=10)
    with torch.no_grad():
        full = model(ids, output_hidden_states=True)
        last = model(ids, logits_to_keep=1)
        picked = model(ids, logits_to_keep=torch.tensor([0, 5]))
    assert len(full.hidden_states) == TINY["num_hidden_layers"] + 1
    assert torch.equal(full.hidden_states[-1], model.model(ids).last_hidden_state)
    assert last.logits.shape == (2, 1, TINY["vocab_size"])
    torch.testing.assert_close(last.logits[:, 0], full.logits[:, -1])
    torch.testing.assert_close(picked.logits, full.logits[:, [0, 5]])
    as_tuple = model(ids, return_dict=False)
    torch.testing.assert_close(as_tuple[0], full.logits)


def test_loss_is_shifted_cross_entropy_ignoring_minus_100():
    model = tiny_model("llama-gqa")
    ids = random_ids(batch=2, length=10)
    labels = ids.clone()
    labels[0, 6:] = -100
    out = model(ids, labels=labels)
    logits = out.logits[:, :-1].reshape(-1, TINY["vocab_size"])
    targets = labels[:, 1:].reshape(-1)
    expected = torch.nn.functional.cross_entropy(logits, targets, ignore_index=-100)
    torch.testing.assert_close(out.loss, expected)


def test_loss_normalized_by_token_count_sums_over_micro_batches():
    logits = torch.randn(4, 7, 11)
    labels = torch.randint(0, 11, (4, 7))
    labels[1, :5] = -100
    labels[3, 2:] = -100
    full = causal_lm_loss(logits, labels)
    n_targets = int((labels[:, 1:] != -100).sum())
    halves = sum(causal_lm_loss(logits[i : i + 2], labels[i : i + 2], n_targets) for i in (0, 2))
    torch.testing.assert_close(halves, full)


def test_activation_checkpointing_gives_same_gradients(arch):
    ids = random_ids(batch=2, length=12)
    grads = []
    for checkpointing in (False, True):
        model = tiny_model(arch).train()
        if checkpointing:
            model.activation_checkpointing_enable()
            assert all(layer.gradient_checkpointing for layer in model.model.layers)
        model(ids, labels=ids).loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, msg=name)


def test_scaled_residual_init():
    torch.manual_seed(0)
    config = tiny_config("gpt2", hidden_size=256, num_attention_heads=4, num_hidden_layers=8)
    model = GPTForCausalLM(config)
    std = config.initializer_range
    residual = model.model.layers[0].self_attn.o_proj.weight.std().item()
    ordinary = model.model.layers[0].self_attn.qkv_proj.weight.std().item()
    assert abs(ordinary - std) < 0.1 * std
    assert abs(residual - std / (2 * 8) ** 0.5) < 0.1 * std / 4
    assert torch.all(model.model.layers[0].self_attn.qkv_proj.bias == 0)
    assert torch.all(model.model.layers[0].input_layernorm.weight == 1)


def test_tiny_model_overfits_one_batch(arch):
    model = tiny_model(arch).train()
    ids = random_ids(batch=4, length=32, seed=3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(120):
        loss = model(ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], losses[::20]


def test_learned_positions_refuse_overlong_input():
    model = tiny_model("gpt2")
    with pytest.raises(ValueError, match="beyond max_position_embeddings"):
        model(random_ids(batch=1, length=TINY["max_position_embeddings"] + 1))


def test_flex_attention_matches_eager():
    """flex_attention is selectable by name; on CPU it compiles (slow, forward only: no CPU backward in torch)."""
    model = tiny_model("llama-gqa", attn_implementation="eager")
    ids = random_ids(batch=2, length=16)
    with torch.no_grad():
        eager = model(ids).logits
        model.set_attn_implementation("flex_attention")
        assert model.config._attn_implementation == "flex_attention"
        flex = model(ids).logits
    assert (eager - flex).abs().max() <= 1e-5
