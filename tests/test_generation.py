"""generate(): cache equivalence, static cache, left padding, every decoding mode, pipeline()."""

import pytest
import torch
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, pipeline

from .conftest import TINY, tiny_model
from .test_modeling import random_ids

GREEDY = dict(do_sample=False, max_new_tokens=10)


def test_greedy_and_beam_with_cache_equal_without(arch):
    model = tiny_model(arch)
    ids = random_ids(batch=2, length=6)
    for kwargs in (GREEDY, dict(GREEDY, num_beams=3, num_return_sequences=2)):
        with_cache = model.generate(ids, use_cache=True, **kwargs)
        without = model.generate(ids, use_cache=False, **kwargs)
        assert torch.equal(with_cache, without), kwargs


def test_static_cache_equals_dynamic_cache(arch):
    model = tiny_model(arch)
    ids = random_ids(batch=2, length=7)
    dynamic = model.generate(ids, **GREEDY)
    static = model.generate(ids, cache_implementation="static", **GREEDY)
    assert torch.equal(dynamic, static)


def test_left_padded_batch_rows_equal_prompts_run_alone(arch):
    model = tiny_model(arch)
    prompts = [random_ids(batch=1, length=n, seed=n)[0] for n in (4, 9, 6)]
    width = max(len(p) for p in prompts)
    pad = TINY["pad_token_id"]
    ids = torch.full((len(prompts), width), pad)
    mask = torch.zeros_like(ids)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = prompt
        mask[row, width - len(prompt) :] = 1
    batch = model.generate(ids, attention_mask=mask, pad_token_id=pad, eos_token_id=None, **GREEDY)
    for row, prompt in enumerate(prompts):
        alone = model.generate(prompt[None], eos_token_id=None, **GREEDY)
        assert batch[row, width:].tolist() == alone[0, len(prompt) :].tolist(), row
    # The logits of the real positions match too, not only the argmax.
    with torch.no_grad():
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        padded = model(ids, attention_mask=mask, position_ids=position_ids).logits
        for row, prompt in enumerate(prompts):
            alone = model(prompt[None]).logits[0]
            torch.testing.assert_close(padded[row, width - len(prompt) :], alone, atol=1e-5, rtol=1e-4)


SAMPLING_MODES = {
    "greedy": dict(do_sample=False),
    "beam": dict(do_sample=False, num_beams=4, num_return_sequences=3, length_penalty=1.2, early_stopping=True),
    "top_k": dict(do_sample=True, top_k=5),
    "top_p": dict(do_sample=True, top_p=0.8, top_k=0),
    "temperature": dict(do_sample=True, temperature=0.7, top_k=0),
    "min_p": dict(do_sample=True, min_p=0.1, top_k=0),
    "beam_sample": dict(do_sample=True, num_beams=3, num_return_sequences=2),
    "penalties": dict(do_sample=True, repetition_penalty=1.3, no_repeat_ngram_size=2),
}


@pytest.mark.parametrize("mode", list(SAMPLING_MODES))
def test_decoding_modes_run_and_are_reproducible(mode):
    model = tiny_model("llama-gqa")
    ids = random_ids(batch=2, length=5)
    kwargs = dict(SAMPLING_MODES[mode], max_new_tokens=12, eos_token_id=None)
    runs = []
    for _ in range(2):
        torch.manual_seed(1234)
        runs.append(model.generate(ids, **kwargs))
    assert torch.equal(runs[0], runs[1])
    expected_rows = 2 * kwargs.get("num_return_sequences", 1)
    assert runs[0].shape == (expected_rows, 5 + 12)
    if kwargs.get("do_sample") and "num_beams" not in kwargs:
        torch.manual_seed(99)
        other = model.generate(ids, **kwargs)
        assert not torch.equal(other, runs[0]), "a different seed should give a different sample"


def test_top_k_1_sampling_equals_greedy(arch):
    model = tiny_model(arch)
    ids = random_ids(batch=2, length=5)
    greedy = model.generate(ids, **GREEDY)
    torch.manual_seed(0)
    sampled = model.generate(ids, do_sample=True, top_k=1, temperature=1.5, max_new_tokens=10)
    assert torch.equal(greedy, sampled)


def make_tokenizer(texts):
    """A tiny byte-level BPE tokenizer trained inside the test (no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY["vocab_size"] + 200,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="</s>")


def test_text_generation_pipeline_from_folder(tmp_path):
    tokenizer = make_tokenizer(["吾輩は猫である。名前はまだ無い。", "the cat sat on the mat"] * 20)
    model = tiny_model(
        "llama-gqa",
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    generator = pipeline("text-generation", model=str(tmp_path), device="cpu")
    out = generator("吾輩は", max_new_tokens=8, do_sample=False)
    assert out[0]["generated_text"].startswith("吾輩は")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = tokenizer("吾輩は", return_tensors="pt").input_ids
    expected = tokenizer.decode(reloaded.generate(ids, max_new_tokens=8, do_sample=False)[0], skip_special_tokens=True)
    assert out[0]["generated_text"] == expected
