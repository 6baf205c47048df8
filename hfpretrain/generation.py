"""Decoding: named `generate()` presets that match their use, side-by-side comparison, safe streaming, and
per-token probabilities with the top alternatives.

All of it is transformers' `generate()`; the presets only choose its arguments:

| preset | for | arguments |
|---|---|---|
| greedy | deterministic answers, evaluation | do_sample=False |
| beam | the most likely whole continuation (short answers) | num_beams=4, length_penalty=1.0, early_stopping |
| sample | plain sampling at temperature 1 (what the model really believes) | do_sample=True, top_k=0 |
| temperature | more focused sampling | temperature=0.7 |
| top_k | sampling from the 40 most likely tokens (Fan et al. 2018) | top_k=40 |
| top_p | nucleus sampling (Holtzman et al. 2020) | top_p=0.9 |
| min_p | tokens at least 5% as likely as the best (Nguyen et al. 2024) | min_p=0.05 |
| creative | lively text without loops | temperature=0.9, top_p=0.95, repetition_penalty=1.1,
  no_repeat_ngram_size=4 |
"""

import math
import re
from typing import Any

import torch

_BYTE_PIECE = re.compile(r"^<0x[0-9A-F]{2}>$")

PRESETS: dict[str, dict[str, Any]] = {
    "greedy": {"do_sample": False},
    "beam": {"do_sample": False, "num_beams": 4, "length_penalty": 1.0, "early_stopping": True},
    "sample": {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0},
    "temperature": {"do_sample": True, "temperature": 0.7, "top_k": 0, "top_p": 1.0},
    "top_k": {"do_sample": True, "top_k": 40, "top_p": 1.0},
    "top_p": {"do_sample": True, "top_p": 0.9, "top_k": 0},
    "min_p": {"do_sample": True, "min_p": 0.05, "top_k": 0, "top_p": 1.0},
    "creative": {
        "do_sample": True,
        "temperature": 0.9,
        "top_p": 0.95,
        "top_k": 0,
        "repetition_penalty": 1.1,
        "no_repeat_ngram_size": 4,
    },
}


def generation_kwargs(mode: str, tokenizer, max_new_tokens: int, **overrides) -> dict[str, Any]:
    if mode not in PRESETS:
        raise ValueError(f"Unknown mode {mode!r}; choose one of {', '.join(PRESETS)}.")
    kwargs = {
        **PRESETS[mode],
        "max_new_tokens": max_new_tokens,
        **{k: v for k, v in overrides.items() if v is not None},
    }
    kwargs.setdefault(
        "pad_token_id", tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    return kwargs


def encode_prompt(tokenizer, prompt: str, device) -> dict[str, torch.Tensor]:
    """The prompt as the model saw documents in pretraining: after the end-of-text separator (an empty prompt is
    then "the start of a new document")."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    from .tokenizer import document_separator_id

    start = document_separator_id(tokenizer)
    if start is not None:
        ids = [start, *ids]
    input_ids = torch.tensor([ids], device=device)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


def generate_text(
    model,
    tokenizer,
    prompt: str,
    mode: str = "greedy",
    max_new_tokens: int = 64,
    seed: int = 0,
    streamer=None,
    **overrides,
) -> list[str]:
    """The prompt and its continuation(s) under a preset (overrides replace preset arguments)."""
    inputs = encode_prompt(tokenizer, prompt, model.device)
    torch.manual_seed(seed)
    out = model.generate(**inputs, streamer=streamer, **generation_kwargs(mode, tokenizer, max_new_tokens, **overrides))
    return [prompt + tokenizer.decode(row[inputs["input_ids"].shape[1] :], skip_special_tokens=True) for row in out]


def compare_modes(
    model, tokenizer, prompt: str, modes: list[str] | None = None, max_new_tokens: int = 48, seed: int = 0
) -> dict[str, str]:
    """One prompt under each preset."""
    return {m: generate_text(model, tokenizer, prompt, m, max_new_tokens, seed)[0] for m in modes or list(PRESETS)}


def format_comparison(results: dict[str, str], width: int = 100) -> str:
    lines = []
    for mode, text in results.items():
        lines.append(f"── {mode} {'─' * max(0, width - len(mode) - 4)}")
        lines.append(text)
    return "\n".join(lines)


class SafeTextStreamer:
    """Streams decoded text without ever emitting a broken character.

    A byte-fallback tokenizer spells rare characters in runs of byte tokens, which its decoder turns into text only
    as a whole run (an invalid run becomes one U+FFFD per byte), and a byte-level BPE token can end in the middle of
    a UTF-8 sequence. So text is emitted only up to the last token that is not a byte token, minus any trailing
    U+FFFD; a run of byte tokens waits until the next ordinary token (or the end) completes it — and the
    concatenated stream equals the final decoded text."""

    def __init__(self, tokenizer, skip_prompt: bool = True, callback=None):
        self.tokenizer, self.skip_prompt = tokenizer, skip_prompt
        self.callback = callback or (lambda text: print(text, end="", flush=True))
        self.ids: list[int] = []
        self.emitted = 0
        self.prompt_seen = not skip_prompt

    def put(self, value: torch.Tensor) -> None:
        if value.dim() > 1:
            if value.shape[0] > 1:
                raise ValueError("SafeTextStreamer streams one sequence (batch size 1, no beams)")
            value = value[0]
        if not self.prompt_seen:  # generate() first passes the prompt
            self.prompt_seen = True
            return
        self.ids.extend(value.tolist())
        stable = len(self.ids)
        pieces = self.tokenizer.convert_ids_to_tokens(self.ids[-16:])  # a byte run longer than 16 is spelled later
        while stable > 0 and pieces and _BYTE_PIECE.match(pieces[-1] or ""):
            pieces.pop()
            stable -= 1
        text = self.tokenizer.decode(self.ids[:stable], skip_special_tokens=True)
        safe = len(text)
        while safe > self.emitted and text[safe - 1] == "\ufffd":  # an incomplete character at the end
            safe -= 1
        if safe > self.emitted:
            self.callback(text[self.emitted : safe])
            self.emitted = safe

    def end(self) -> None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if len(text) > self.emitted:
            self.callback(text[self.emitted :])
        self.emitted = len(text)


@torch.no_grad()
def token_probabilities(
    model,
    tokenizer,
    prompt: str,
    mode: str = "greedy",
    max_new_tokens: int = 20,
    top: int = 5,
    seed: int = 0,
    **overrides,
) -> list[dict[str, Any]]:
    """For each generated token: its probability and the `top` most likely alternatives (from the model's own
    distribution, before sampling filters)."""
    inputs = encode_prompt(tokenizer, prompt, model.device)
    torch.manual_seed(seed)
    kwargs = generation_kwargs(mode, tokenizer, max_new_tokens, **overrides)
    if kwargs.get("num_beams", 1) > 1:
        raise ValueError("per-token probabilities are shown for greedy and sampling modes, not beam search")
    out = model.generate(**inputs, output_logits=True, return_dict_in_generate=True, **kwargs)
    start = inputs["input_ids"].shape[1]
    rows = []
    for step, logits in enumerate(out.logits):
        probs = torch.softmax(logits[0].float(), dim=-1)
        chosen = int(out.sequences[0, start + step])
        values, indices = probs.topk(top)
        rows.append(
            {
                "token": tokenizer.decode([chosen]),
                "id": chosen,
                "probability": float(probs[chosen]),
                "bits": -math.log2(max(float(probs[chosen]), 1e-45)),
                "alternatives": [(tokenizer.decode([int(i)]), float(v)) for v, i in zip(values, indices, strict=True)],
            }
        )
    return rows


def format_probabilities(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'token':<14}{'p':>8}{'bits':>7}   top alternatives"]
    for r in rows:
        alternatives = "  ".join(f"{t!r} {p:.2f}" for t, p in r["alternatives"])
        lines.append(f"{r['token']!r:<14}{r['probability']:>8.3f}{r['bits']:>7.2f}   {alternatives}")
    return "\n".join(lines)
