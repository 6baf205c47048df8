"""Language-model metrics against hand-computed values, sliding windows, and the eval command."""

import json
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from hfpretrain.evaluation.metrics import evaluate_texts, windows_for

from .test_training import corpus  # noqa: F401  (fixture: a small English corpus and its tokenizer)


class FixedDistribution(nn.Module):
    """A 'language model' whose next-token distribution is the same everywhere: log-probabilities are known."""

    def __init__(self, probabilities: torch.Tensor, context: int = 1024):
        super().__init__()
        self.log_probs = nn.Parameter(probabilities.log(), requires_grad=False)
        self.config = SimpleNamespace(max_position_embeddings=context)

    def forward(self, input_ids, attention_mask=None):
        B, T = input_ids.shape
        return SimpleNamespace(logits=self.log_probs.expand(B, T, -1))


@pytest.fixture
def tokenizer(corpus):  # noqa: F811
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(corpus / "tok")


TEXTS = ["The cat sat on a mat.", "A dog ran to the park where children played.", "x"]


def test_uniform_model_gives_log_vocabulary(tokenizer):
    V = len(tokenizer)
    result = evaluate_texts(FixedDistribution(torch.full((V,), 1.0 / V)), tokenizer, TEXTS)
    n_tokens = sum(len(tokenizer(t, add_special_tokens=False).input_ids) for t in TEXTS)
    assert result["tokens"] == n_tokens
    assert result["loss"] == pytest.approx(math.log(V), rel=1e-6)
    chars = sum(map(len, TEXTS))
    assert result["bits_per_char"] == pytest.approx(n_tokens * math.log2(V) / chars, rel=1e-6)
    assert result["bits_per_byte"] == pytest.approx(n_tokens * math.log2(V) / sum(len(t.encode()) for t in TEXTS))
    assert result["perplexity"] == pytest.approx(V, rel=1e-5)
    assert result["words"] == sum(len(t.split()) for t in TEXTS) and result["word_unit"] == "whitespace"


def test_known_distribution_and_every_stride_scores_each_token_once(tokenizer):
    V = len(tokenizer)
    q = torch.rand(V, generator=torch.Generator().manual_seed(0)) + 0.1
    q = q / q.sum()
    expected = -sum(q[t].log().item() for text in TEXTS for t in tokenizer(text, add_special_tokens=False).input_ids)
    for context, stride in ((1024, 512), (4, 2), (3, 1), (5, 5)):
        result = evaluate_texts(FixedDistribution(q, context), tokenizer, TEXTS, stride=stride, batch_size=3)
        assert result["nll_nats"] == pytest.approx(expected, rel=1e-5), (context, stride)


def test_windows_cover_every_target_exactly_once():
    ids = list(range(20))
    for max_length, stride in ((8, 4), (8, 8), (5, 1), (30, 10)):
        targets = []
        for window, n in windows_for(ids, max_length, stride):
            assert len(window) <= max_length
            targets += window[len(window) - n :]
        assert targets == ids[1:], (max_length, stride)


def test_trained_model_beats_uniform(corpus):  # noqa: F811
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hfpretrain.training.config import config_from_dict
    from hfpretrain.training.loop import train

    from .test_training import make_config

    run = corpus / "eval_run"
    if not (run / "final").is_dir():
        train(make_config(corpus, run, optimization__max_steps=30))
    del config_from_dict
    model = AutoModelForCausalLM.from_pretrained(run / "final")
    tok = AutoTokenizer.from_pretrained(run / "final")
    result = evaluate_texts(model, tok, TEXTS)
    assert result["loss"] < math.log(len(tok)) - 1.0


def test_eval_command_json_and_baselines(corpus, tmp_path, capsys):  # noqa: F811
    from hfpretrain.cli import main

    from .test_training import make_config

    run = corpus / "eval_run"
    if not (run / "final").is_dir():
        from hfpretrain.training.loop import train

        train(make_config(corpus, run, optimization__max_steps=30))
    assert (
        main(
            [
                "eval",
                str(run / "final"),
                "--input",
                str(corpus / "train.jsonl"),
                "--json",
                "--baselines",
                "--output",
                str(tmp_path / "eval.json"),
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    for key in ("loss", "perplexity", "bits_per_char", "bits_per_byte", "bits_per_word", "tokens", "chars", "bytes"):
        assert key in result, key
    baselines = result["baselines"]
    assert {"uniform", "unigram", "bigram"} <= set(baselines)
    assert (
        baselines["uniform"]["bits_per_char"]
        > baselines["unigram"]["bits_per_char"]
        > baselines["bigram"]["bits_per_char"]
    )
    assert "bigram" in result["comparison"]
    assert json.loads((tmp_path / "eval.json").read_text()) == result


def test_per_document_figures_add_up(tokenizer):
    V = len(tokenizer)
    q = torch.rand(V, generator=torch.Generator().manual_seed(1)) + 0.1
    result = evaluate_texts(FixedDistribution(q / q.sum(), 4), tokenizer, TEXTS, stride=2, per_document=True)
    docs = result["per_document"]
    assert len(docs) == len(TEXTS)
    assert sum(d["nll_nats"] for d in docs) == pytest.approx(result["nll_nats"])
    assert [d["chars"] for d in docs] == [len(t) for t in TEXTS]
    for text, doc in zip(TEXTS, docs, strict=True):
        alone = evaluate_texts(FixedDistribution(q / q.sum(), 4), tokenizer, [text], stride=2)
        assert doc["bits_per_byte"] == pytest.approx(alone["bits_per_byte"], rel=1e-6)


def test_local_evaluate_modules_load_offline_and_match(tokenizer, corpus):  # noqa: F811
    import evaluate

    from hfpretrain.evaluation.evaluate_modules import module_path

    V = len(tokenizer)
    model = FixedDistribution(torch.full((V,), 1.0 / V))
    n_tokens = sum(len(tokenizer(t, add_special_tokens=False).input_ids) for t in TEXTS)
    bits = n_tokens * math.log2(V)

    bpc = evaluate.load(module_path("bits_per_character"))
    out = bpc.compute(predictions=TEXTS, model=model, tokenizer=tokenizer)
    assert out["bits_per_character"] == pytest.approx(bits / sum(map(len, TEXTS)), rel=1e-6)
    assert len(out["bits_per_character_per_text"]) == len(TEXTS)

    bpb = evaluate.load(module_path("bits_per_byte"))
    out = bpb.compute(predictions=TEXTS, model=model, tokenizer=tokenizer)
    assert out["bits_per_byte"] == pytest.approx(bits / sum(len(t.encode()) for t in TEXTS), rel=1e-6)

    ppl = evaluate.load(module_path("perplexity"))
    out = ppl.compute(predictions=TEXTS, model=model, tokenizer=tokenizer)
    assert out["perplexity"] == pytest.approx(V, rel=1e-5)
    assert out["mean_perplexity"] == pytest.approx(V, rel=1e-5)

    # from a model folder, as a user would call it, with add_batch in between
    run = corpus / "eval_run"
    if not (run / "final").is_dir():
        from hfpretrain.training.loop import train

        from .test_training import make_config

        train(make_config(corpus, run, optimization__max_steps=30))
    from transformers import AutoModelForCausalLM

    ppl.add_batch(predictions=TEXTS[:2])
    ppl.add_batch(predictions=TEXTS[2:])
    from_folder = ppl.compute(model_id=str(run / "final"))
    direct = evaluate_texts(AutoModelForCausalLM.from_pretrained(run / "final"), tokenizer, TEXTS)
    assert from_folder["perplexity"] == pytest.approx(direct["perplexity"], rel=1e-5)
    with pytest.raises(ValueError, match="model_id"):
        ppl.compute(predictions=TEXTS)
