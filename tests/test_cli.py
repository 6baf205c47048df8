import json

import pytest
import yaml

from hfpretrain.cli import load_model_config, main

from .conftest import tiny_model


def test_info_versions(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "transformers" in out and "gpt2-small" in out


def test_info_preset_table(capsys):
    assert main(["info", "--preset", "gpt2-small"]) == 0
    out = capsys.readouterr().out
    assert "124,439,808" in out
    assert "feed_forward" in out and "FLOPs per token" in out


def test_info_json(capsys):
    assert main(["info", "--preset", "modern-small", "--seq-len", "512", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["versions"]["torch"]
    model = info["model"]
    assert model["flops"]["seq_len"] == 512
    parts = sum(model["parameters"][k] for k in ("embeddings", "attention", "feed_forward", "norms", "output_head"))
    assert parts == model["parameters"]["total"]
    assert model["config"]["hidden_act"] == "swiglu"


def test_info_from_saved_folder_and_yaml(tmp_path, capsys):
    model = tiny_model("llama-gqa")
    model.save_pretrained(tmp_path / "model")
    assert main(["info", "--config", str(tmp_path / "model"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"]["parameters"]["total"] == sum(p.numel() for p in model.parameters())

    recipe = tmp_path / "pretrain.yaml"
    recipe.write_text(yaml.safe_dump({"model": {"preset": "gpt2-small", "vocab_size": 32000}}))
    config = load_model_config(recipe)
    assert config.vocab_size == 32000 and config.hidden_size == 768


def test_info_reports_bad_config_clearly(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"hidden_size": 30, "num_attention_heads": 4}))
    assert main(["info", "--config", str(bad)]) == 2
    assert "must be divisible by num_attention_heads" in capsys.readouterr().err
    assert main(["info", "--config", str(tmp_path / "missing.yaml")]) == 2
    with pytest.raises(SystemExit):
        main(["info", "--preset", "gpt5"])


def test_info_reads_a_training_recipe_with_overrides():
    from pathlib import Path

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "ja-small" / "pretrain.yaml"
    config = load_model_config(recipe)
    assert (config.hidden_size, config.num_hidden_layers, config.num_key_value_heads) == (384, 6, 2)
    assert not config.tie_word_embeddings
