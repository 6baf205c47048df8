"""Decoding presets, --compare, safe streaming, token probabilities, attention maps and the run report."""

import json

import pytest
import torch

from hfpretrain.generation import PRESETS, SafeTextStreamer, compare_modes, generate_text, token_probabilities

from .test_training import corpus, make_config  # noqa: F401


@pytest.fixture(scope="module")
def run(corpus):  # noqa: F811
    from hfpretrain.training.loop import train

    folder = corpus / "decoding_run"
    if not (folder / "final").is_dir():
        train(make_config(corpus, folder, optimization__max_steps=20))
    return folder


@pytest.fixture(scope="module")
def model_and_tokenizer(run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(run / "final").eval(), AutoTokenizer.from_pretrained(run / "final")


@pytest.mark.parametrize("mode", list(PRESETS))
def test_every_preset_runs_and_is_reproducible(model_and_tokenizer, mode):
    model, tokenizer = model_and_tokenizer
    a = generate_text(model, tokenizer, "The cat", mode, max_new_tokens=8, seed=3)
    b = generate_text(model, tokenizer, "The cat", mode, max_new_tokens=8, seed=3)
    assert a == b and a[0].startswith("The cat")


def test_beam_returns_several_sequences(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    out = generate_text(model, tokenizer, "The", "beam", max_new_tokens=6, num_return_sequences=3)
    assert len(out) == 3


def test_streamed_text_equals_the_final_text_and_never_breaks_a_character(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    # Force byte-fallback output: a prompt of characters the tokenizer spells in bytes, sampled continuation.
    for mode, seed in (("greedy", 0), ("sample", 1), ("sample", 2)):
        pieces = []
        streamer = SafeTextStreamer(tokenizer, callback=pieces.append)
        full = generate_text(model, tokenizer, "吾輩は猫", mode, max_new_tokens=24, seed=seed, streamer=streamer)[0]
        assert "".join(pieces) == full[len("吾輩は猫") :]
        assert all(not p.endswith("\ufffd") or p is pieces[-1] for p in pieces)
    # Byte tokens of one character arrive in three steps; nothing is emitted until the character is complete.
    emitted = []
    streamer = SafeTextStreamer(tokenizer, callback=emitted.append)
    streamer.put(torch.tensor([[0]]))  # the prompt
    for byte_token in tokenizer.convert_tokens_to_ids(["<0xE7>", "<0x8C>", "<0xAB>"]):
        streamer.put(torch.tensor([byte_token]))
        assert emitted == []
    streamer.put(torch.tensor(tokenizer.convert_tokens_to_ids(["a"])))
    streamer.end()
    assert "".join(emitted) == "猫a"


def test_token_probabilities(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    rows = token_probabilities(model, tokenizer, "The cat", max_new_tokens=5, top=3)
    assert len(rows) == 5
    for row in rows:
        assert 0 < row["probability"] <= 1 and len(row["alternatives"]) == 3
        assert row["alternatives"][0][1] >= row["alternatives"][1][1] >= row["alternatives"][2][1]
        assert row["probability"] == pytest.approx(row["alternatives"][0][1])  # greedy picks the top token


def test_compare_and_generate_commands(run, capsys):
    from hfpretrain.cli import main

    assert (
        main(["generate", str(run / "final"), "--prompt", "The cat", "--compare", "--max-new-tokens", "6", "--json"])
        == 0
    )
    results = json.loads(capsys.readouterr().out)
    assert set(results) == set(PRESETS)
    assert results == compare_modes(*_load(run), "The cat", max_new_tokens=6)
    assert main(["generate", str(run / "final"), "--prompt", "The", "--stream", "--max-new-tokens", "5"]) == 0
    assert main(["generate", str(run / "final"), "--prompt", "The", "--probabilities", "--max-new-tokens", "3"]) == 0
    assert "top alternatives" in capsys.readouterr().out


def _load(run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(run / "final").eval(), AutoTokenizer.from_pretrained(run / "final")


def test_attention_map_grid(run, tmp_path):
    from PIL import Image

    from hfpretrain.cli import main

    assert (
        main(["attention-map", str(run / "final"), "--prompt", "The cat sat", "--output", str(tmp_path / "a.png")]) == 0
    )
    grid = Image.open(tmp_path / "a.png").size
    assert (
        main(
            [
                "attention-map",
                str(run / "final"),
                "--prompt",
                "The cat sat",
                "--output",
                str(tmp_path / "b.png"),
                "--layer",
                "1",
                "--head",
                "2",
            ]
        )
        == 0
    )
    single = Image.open(tmp_path / "b.png").size
    # gpt-debug: 2 layers × (4 heads + their mean) → 5 columns and 2 rows of equal panels; one panel alone.
    assert grid[0] / single[0] == pytest.approx(5, rel=0.15) and grid[1] / single[1] == pytest.approx(2, rel=0.15)
    from hfpretrain.viz import attention_weights

    model, tokenizer = _load(run)
    weights, labels = attention_weights(model, tokenizer, "The cat sat")
    assert weights.shape[:2] == (2, 4) and weights.shape[2] == weights.shape[3] == len(labels)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:3]))
    bad = ["attention-map", str(run / "final"), "--prompt", "x", "--output", str(tmp_path / "c.png"), "--layer", "5"]
    assert main(bad) == 2


def test_report_renders_from_a_run_folder(run, capsys):
    from hfpretrain.cli import main

    assert (
        main(
            [
                "eval",
                str(run / "final"),
                "--input",
                str(run.parent / "train.jsonl"),
                "--baselines",
                "--limit",
                "100",
                "--output",
                str(run / "eval" / "valid.json"),
            ]
        )
        == 0
    )
    assert main(["report", str(run), "--prompt", "The cat", "--modes", "greedy", "top_p"]) == 0
    report = (run / "report.md").read_text()
    for section in ("## Model", "## Training", "## Evaluation", "### valid", "bigram", "## Samples", "**top_p**"):
        assert section in report, section
    for plot in ("loss", "lr", "throughput"):
        assert (run / "plots" / f"{plot}.png").is_file()
