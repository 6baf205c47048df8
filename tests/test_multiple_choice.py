"""Few-shot multiple choice: loading, prompts, lm-eval-style tokenization, scoring and the Wilson interval."""

import json
import math
from types import SimpleNamespace

import pytest
import torch
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from hfpretrain.evaluation.multiple_choice import (
    MultipleChoiceItem,
    PromptFormat,
    build_context,
    encode_pair,
    evaluate_multiple_choice,
    fewshot_examples,
    load_multiple_choice,
    score_continuations,
    shuffle_fewshot,
    wilson_interval,
)
from tests.conftest import tiny_model

ALPHABET = "<pad> 質問回答：\nabcdeあいうえおxyz"


def char_tokenizer(merges: list[tuple[str, str]] = ()) -> PreTrainedTokenizerFast:
    """One token per character of ALPHABET (id 0 is padding), plus optional BPE merges."""
    chars = ["<pad>", *ALPHABET.removeprefix("<pad>")]
    vocab = {c: i for i, c in enumerate(chars)}
    for left, right in merges:
        vocab[left + right] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=list(merges)))
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>")


class BigramLM(torch.nn.Module):
    """A causal LM whose next-token log-probabilities depend only on the current token: `table[current]`."""

    def __init__(self, table: torch.Tensor, context: int = 64):
        super().__init__()
        self.table = torch.nn.Parameter(table)
        self.config = SimpleNamespace(max_position_embeddings=context)

    def forward(self, input_ids, **kwargs):
        return SimpleNamespace(logits=self.table[input_ids])


def item(question: str, choices: list[str], label: int, id_: str | None = None) -> MultipleChoiceItem:
    return MultipleChoiceItem(question, choices, label, id_)


# ---------------------------------------------------------------------------------------------------- loading


def test_loader_reads_both_formats_and_counts_bad_lines(tmp_path):
    lines = [
        "\ufeff"
        + json.dumps({"q_id": 7, "question": "空は？", "choice0": "青", "choice1": "緑", "choice2": "赤", "label": 0}),
        json.dumps({"question": "1+1?", "choices": ["1", "2"], "label": 1}),
        "{not json",
        "[1, 2]",
        "",
        json.dumps({"question": "q", "choices": ["a", "b"], "label": 2}),  # out of range
        json.dumps({"question": "q", "choices": ["a", "b"], "label": True}),  # a bool is not an index
        json.dumps({"question": "q", "choices": "ab", "label": 0}),
        json.dumps({"question": "q", "choices": ["a"], "label": 0}),  # one choice is no choice
        json.dumps({"question": "", "choices": ["a", "b"], "label": 0}),
        json.dumps({"question": "q", "answer": "a"}),
    ]
    path = tmp_path / "items.jsonl"
    data = "\n".join(lines).encode("utf-8") + b"\n\xff\xfe broken utf-8\n"
    data += (json.dumps({"id": "last", "question": "最後", "choices": ["x", "y", "z"], "label": 2}) + "\n").encode()
    path.write_bytes(data)

    items, skipped = load_multiple_choice(path)
    assert items == [
        item("空は？", ["青", "緑", "赤"], 0),
        item("1+1?", ["1", "2"], 1),
        item("最後", ["x", "y", "z"], 2),
    ]
    assert [i.id for i in items] == ["7", "items.jsonl:2", "last"]
    assert skipped == {
        "invalid_json": 1,
        "not_an_object": 1,
        "blank": 1,
        "bad_label": 2,
        "bad_choices": 2,
        "bad_question": 1,
        "no_choices": 1,
        "invalid_utf8": 1,
    }
    assert load_multiple_choice(path, limit=2)[0] == items[:2]


# ---------------------------------------------------------------------------------------------------- prompts


def test_fewshot_is_deterministic_and_never_shows_the_test_item():
    train = [item(f"q{i}", [f"a{i}", f"b{i}"], i % 2, f"t{i}") for i in range(30)]
    pool = shuffle_fewshot(train, seed=1)
    assert pool == shuffle_fewshot(train, seed=1)
    assert sorted(pool, key=lambda x: x.id) == sorted(train, key=lambda x: x.id)
    assert pool != shuffle_fewshot(train, seed=2)

    outside = item("外の質問", ["a", "b"], 0)
    shared = fewshot_examples(pool, outside, 3)
    assert shared == pool[:3]
    for test in train:  # test set == train set: every item gets 3 exemplars, never itself
        examples = fewshot_examples(pool, test, 3)
        assert len(examples) == 3 and test not in examples
        assert examples == (shared if test not in shared else [x for x in pool[:4] if x != test])
    # equality is by content, not by id: the same question from another file is still excluded
    twin = item(pool[0].question, pool[0].choices, pool[0].label, "valid:1")
    assert pool[0] not in fewshot_examples(pool, twin, 3)
    with pytest.raises(ValueError, match="only 1"):
        fewshot_examples(pool[:2], pool[0], 2)


def test_build_context_matches_the_documented_format():
    shots = [item("犬は？", ["動物", "植物"], 0), item("桜は？", ["動物", "植物"], 1)]
    context = build_context(item("猫は？", ["動物", "石"], 0), shots)
    assert context == "質問：犬は？\n回答：動物\n\n質問：桜は？\n回答：植物\n\n質問：猫は？\n回答："
    english = PromptFormat(question_template="Q: {question}\nA:", target_delimiter=" ")
    assert build_context(item("x?", ["y", "z"], 0), shots[:1], english) == "Q: 犬は？\nA: 動物\n\nQ: x?\nA:"


# ---------------------------------------------------------------------------------------------------- tokenization


def test_encode_pair_splits_the_whole_string_as_lm_eval():
    tokenizer = char_tokenizer(merges=[("：", "a")])
    ids = tokenizer.convert_tokens_to_ids
    # "：a" is one token when encoded whole: the continuation is what follows the context's own token count
    context, continuation = encode_pair(tokenizer, "回答：", "ab")
    assert context == ids(["回", "答", "："]) and continuation == ids(["b"])
    # trailing whitespace of the context moves to the continuation
    assert encode_pair(tokenizer, "回答 ", "x") == (ids(["回", "答"]), ids([" ", "x"]))
    # the merge swallows the whole continuation: scored as encoded alone (lm-eval would stop with an assertion)
    assert encode_pair(tokenizer, "回答：", "a") == (ids(["回", "答", "："]), ids(["a"]))
    with pytest.raises(ValueError, match="Empty context"):
        encode_pair(tokenizer, "", "a")


# ---------------------------------------------------------------------------------------------------- scoring


def bigram_table(tokenizer, rows: dict[str, dict[str, float]]) -> torch.Tensor:
    """Log-probabilities: rows[current][next] = p, the rest of each row's mass spread evenly."""
    vocab = len(tokenizer)
    table = torch.full((vocab, vocab), 1.0 / vocab)
    for current, nexts in rows.items():
        row = torch.full((vocab,), (1 - sum(nexts.values())) / (vocab - len(nexts)))
        for token, p in nexts.items():
            row[tokenizer.convert_tokens_to_ids(token)] = p
        table[tokenizer.convert_tokens_to_ids(current)] = row
    return table.log()


def test_scoring_picks_the_highest_likelihood_and_normalization_can_change_it():
    tokenizer = char_tokenizer()
    # after "：": p(a)=0.2, p(あ)=0.3, p(d)=0.05; after "a": p(b)=0.9
    model = BigramLM(bigram_table(tokenizer, {"：": {"a": 0.2, "あ": 0.3, "d": 0.05}, "a": {"b": 0.9}}))
    ll = {"ab": math.log(0.2) + math.log(0.9), "あ": math.log(0.3), "d": math.log(0.05)}
    # sum: あ (-1.20) > ab (-1.71); per character: ab (-0.86) > あ (-1.20); per byte: あ (-0.40) > ab (-0.86)
    items = [item("x", ["ab", "あ", "d"], 1), item("y", ["d", "あ"], 1), item("z", ["ab", "d"], 0)]
    result = evaluate_multiple_choice(model, tokenizer, items, batch_size=2)

    first = result.predictions[0]
    assert first["loglikelihoods"] == pytest.approx([ll["ab"], ll["あ"], ll["d"]], abs=1e-5)
    assert first["pred"] == max(range(3), key=lambda i: first["loglikelihoods"][i]) == 1
    assert first["pred_norm"] == 0  # length normalization prefers the longer choice
    assert first["pred_bytes"] == 1  # あ is 3 bytes: per byte it wins again
    assert [p["pred"] for p in result.predictions] == [1, 1, 0]
    assert (result.acc, result.acc_norm, result.acc_bytes) == (1.0, pytest.approx(2 / 3), 1.0)
    assert result.n == 3 and result.chance == pytest.approx((1 / 3 + 1 / 2 + 1 / 2) / 3)
    assert result.ci95["acc"] == pytest.approx(wilson_interval(3, 3))

    # with exemplars in front the continuation still starts right after "：": a bigram model scores it the same
    train = [item("あ", ["ab", "d"], 0), item("い", ["d", "ab"], 1)]
    few = evaluate_multiple_choice(model, tokenizer, items, train=train, k=2, batch_size=4)
    for zero_shot, two_shot in zip(result.predictions, few.predictions, strict=True):
        assert two_shot["loglikelihoods"] == pytest.approx(zero_shot["loglikelihoods"], abs=1e-5)


def test_batched_scores_equal_one_sequence_at_a_time_with_truncation():
    tokenizer = char_tokenizer()
    model = tiny_model("llama-gqa", max_position_embeddings=16)
    requests = [
        ("質問：abc\n回答：", "あい"),
        ("質問：a\n回答：", "xyzxyz"),
        ("質問：" + "abcde" * 5 + "\n回答：", "う"),  # 36 tokens: left-truncated to the model's 16
        ("回答：", "え"),
    ]

    def one_by_one(context: str, continuation: str) -> float:
        ids = tokenizer(context + continuation)["input_ids"][-17:]
        n = len(tokenizer(continuation)["input_ids"])
        log_probs = torch.log_softmax(model(input_ids=torch.tensor([ids[:-1]])).logits[0].float(), -1)
        return sum(log_probs[t - 1, ids[t]].item() for t in range(len(ids) - n, len(ids)))

    with torch.no_grad():
        expected = [one_by_one(*r) for r in requests]
    assert score_continuations(model, tokenizer, requests, batch_size=3) == pytest.approx(expected, abs=1e-4)
    assert score_continuations(model, tokenizer, requests, batch_size=1) == pytest.approx(expected, abs=1e-4)


# ---------------------------------------------------------------------------------------------------- metrics


def test_wilson_interval_against_hand_computed_values():
    # z = 1.959964; e.g. 8/10: center (0.8 + 0.19208) / 1.38415 = 0.71677, half-width 0.22652
    assert wilson_interval(8, 10) == pytest.approx((0.49016, 0.94332), abs=1e-5)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-5)  # upper: z² / (n + z²)
    assert wilson_interval(10, 10) == pytest.approx((0.72247, 1.0), abs=1e-5)
    assert wilson_interval(50, 100) == pytest.approx((0.40383, 0.59617), abs=1e-5)
    assert wilson_interval(0, 0) == (0.0, 1.0)
