"""The ladder: character tokenizer, the MLP / RNN / attention-only models, and `hfpretrain ladder` end to end."""

import json
import random

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from hfpretrain import (
    AttentionLMConfig,
    AttentionLMForCausalLM,
    MLPLMConfig,
    MLPLMForCausalLM,
    RNNLMConfig,
    RNNLMForCausalLM,
)
from hfpretrain.char_tokenizer import build_char_tokenizer
from hfpretrain.cli import main
from hfpretrain.ladder import budget_windows
from hfpretrain.tokenizer import save_tokenizer
from hfpretrain.training.config import config_from_dict

_TEXT = (
    "the cat sat on a mat and looked at the dog which ran to the park where children played with a red ball "
    "while their parents talked about the weather and the news of the day"
)
WORDS = _TEXT.split()
SPECIAL = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2)


def small_models():
    return {
        "mlp": MLPLMForCausalLM(
            MLPLMConfig(vocab_size=61, context_size=3, embedding_size=8, hidden_size=16, **SPECIAL)
        ),
        "lstm": RNNLMForCausalLM(RNNLMConfig(vocab_size=61, hidden_size=16, **SPECIAL)),
        "gru": RNNLMForCausalLM(RNNLMConfig(vocab_size=61, hidden_size=16, cell="gru", num_hidden_layers=2, **SPECIAL)),
        "attention": AttentionLMForCausalLM(
            AttentionLMConfig(
                vocab_size=61, hidden_size=16, num_attention_heads=2, max_position_embeddings=32, **SPECIAL
            )
        ),
    }


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run many tiny kernels: on a shared 2-core machine a second thread waiting for a busy core makes
    them up to 80x slower (see benchmarks/ladder_bench.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Structured English sentences (learnable) with a few Japanese ones, as train/valid JSONL."""
    folder = tmp_path_factory.mktemp("ladder_corpus")
    rng = random.Random(0)
    docs = []
    for i in range(1200):
        start = rng.randrange(len(WORDS) - 10)
        docs.append(" ".join(WORDS[start : start + rng.randint(6, 10)]).capitalize() + ".")
        if i % 100 == 0:
            docs.append("吾輩は猫である。名前はまだ無い。")
    for name, part in (("train", docs[:-40]), ("valid", docs[-40:])):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in part))
    return folder


def test_char_tokenizer_round_trips_unseen_characters(tmp_path):
    save_tokenizer(build_char_tokenizer(["吾輩は猫である。\nThe cat."]), tmp_path / "tok")
    tok = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    seen = "猫である The cat."
    assert len(tok(seen, add_special_tokens=False)["input_ids"]) == len(seen)  # one token per character
    for text in ["鬱𠮷😀 と 🇯🇵", "é\u0301 <0x41>", "猫😀猫\n\n", ""]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == text
        assert tok.unk_token_id not in ids
    # an unseen character is spelled by its UTF-8 bytes: 鬱 is E9 AC B1
    assert tok.convert_ids_to_tokens(tok("鬱", add_special_tokens=False)["input_ids"]) == ["<0xE9>", "<0xAC>", "<0xB1>"]


@pytest.mark.parametrize("name", ["mlp", "lstm", "gru", "attention"])
def test_models_round_trip_through_save_pretrained_and_generate(name, tmp_path):
    torch.manual_seed(0)
    model = small_models()[name].eval()
    ids = torch.randint(3, 61, (2, 12))
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    assert torch.equal(loaded(input_ids=ids).logits, model(input_ids=ids).logits)
    assert (
        (loaded.lm_head.weight is loaded.embed_tokens.weight)
        == loaded.config.tie_word_embeddings
        == (name in ("lstm", "gru"))
    )
    # greedy generate() without a cache equals running the model on the whole sequence at every step
    out = loaded.generate(
        input_ids=ids[:, :4], attention_mask=torch.ones(2, 4, dtype=torch.long), max_new_tokens=6, do_sample=False
    )
    expected = ids[:, :4]
    for _ in range(6):
        expected = torch.cat([expected, loaded(input_ids=expected).logits[:, -1:].argmax(-1)], dim=1)
    assert torch.equal(out, expected)
    # causal: a later token never changes earlier logits; right padding changes nothing before it
    changed = ids.clone()
    changed[:, 8] = 3
    assert torch.allclose(model(input_ids=changed).logits[:, :8], model(input_ids=ids).logits[:, :8], atol=1e-6)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    padded = model(input_ids=ids, attention_mask=mask).logits[1, :7]
    assert torch.allclose(padded, model(input_ids=ids[1:, :7]).logits[0], atol=1e-5)


def test_mlp_sees_exactly_its_window():
    torch.manual_seed(0)
    model = small_models()["mlp"].eval()  # context_size 3: position t reads tokens t-2, t-1, t
    ids = torch.randint(3, 61, (1, 10))
    far, near = ids.clone(), ids.clone()
    far[0, 6], near[0, 7] = 3, 3
    logits = model(input_ids=ids).logits[0, 9]
    assert torch.equal(model(input_ids=far).logits[0, 9], logits)
    assert not torch.allclose(model(input_ids=near).logits[0, 9], logits)


def test_budget_windows_take_the_same_share_of_every_document():
    docs = [list(range(1000)), list(range(100)), list(range(10))]
    windows = budget_windows(docs, 111, seed=0)
    assert [len(w) for w in windows] == [100, 10, 1]
    assert all(w == docs[i][w[0] : w[0] + len(w)] for i, w in enumerate(windows))  # contiguous
    assert budget_windows(docs, 10_000, seed=0) == docs


def test_training_config_rejects_an_unknown_architecture():
    with pytest.raises(ValueError, match="architecture must be one of"):
        config_from_dict(
            {"model": {"architecture": "transformer-xl"}, "data": {"train": ["x"]}, "optimization": {"max_steps": 1}}
        ).validate()


def test_ladder_command_end_to_end(corpus, tmp_path, capsys):
    out = tmp_path / "ladder"
    argv = [
        "ladder",
        "--input",
        str(corpus / "train.jsonl"),
        "--valid",
        str(corpus / "valid.jsonl"),
        "--output",
        str(out),
        "--char-level",
        "--budget-tokens",
        "30000",
        "--seq-len",
        "32",
        "--micro-batch-size",
        "4",
        "--hidden-size",
        "48",
        "--mlp-context",
        "8",
        "--gpt-preset",
        "gpt-debug",
        "--ngram-orders",
        "2",
        "4",
        "--mixed-precision",
        "no",  # as tests/test_training.py: Accelerate keeps one precision per process
    ]
    assert main(argv) == 0
    report = json.loads((out / "ladder.json").read_text())
    bpc = {row["rung"]: row["bits_per_char"] for row in report["rows"]}
    assert list(bpc) == ["uniform", "unigram", "bigram", "4-gram", "mlp", "rnn", "attention", "gpt"]
    assert bpc["uniform"] > bpc["unigram"]
    for rung in ("bigram", "4-gram", "mlp", "rnn", "attention", "gpt"):
        assert bpc[rung] < bpc["unigram"] - 0.3, (rung, bpc)
    # every rung predicted the same validation tokens, and the budget was kept
    assert len({row["tokens"] for row in report["rows"]}) == 1
    assert 29_900 <= report["data"]["trained_tokens"] <= 30_100 + report["data"]["train_documents"]  # + 1 EOS each
    assert (out / "ladder.png").stat().st_size > 10_000
    assert "| gpt |" in (out / "ladder.md").read_text()
    assert "bits/char" in capsys.readouterr().out
    # the neural rungs are save_pretrained folders that generate
    tok = AutoTokenizer.from_pretrained(out / "tokenizer")
    model = AutoModelForCausalLM.from_pretrained(out / "runs" / "rnn" / "final")
    assert isinstance(model, RNNLMForCausalLM)
    generated = model.generate(**tok("The cat", return_tensors="pt"), max_new_tokens=8, do_sample=False)
    assert generated.shape[1] == len("The cat") + 8


def test_ladder_explains_bad_input(corpus, tmp_path, capsys):
    common = [
        "ladder",
        "--input",
        str(corpus / "train.jsonl"),
        "--valid",
        str(corpus / "valid.jsonl"),
        "--output",
        str(tmp_path),
    ]
    assert main([*common, "--char-level", "--budget-tokens", "100"]) == 2
    assert "Raise --budget-tokens" in capsys.readouterr().err
    assert main([*common, "--tokenizer", str(tmp_path / "missing")]) == 2
    assert "not a tokenizer folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # both tokenizations: argparse refuses
        main([*common, "--char-level", "--tokenizer", str(tmp_path)])
