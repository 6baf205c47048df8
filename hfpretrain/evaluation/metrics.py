"""Language-model metrics for any causal LM folder and any text: token-weighted loss, perplexity, and the
tokenizer-independent bits per character, per byte and per word.

Every document is scored the way pretraining sees it: after the tokenizer's end-of-text token (the separator our
shards put between documents), so its first token is predicted too; the end-of-text after it is not scored, so the
predicted tokens spell exactly the document's characters. Documents longer than the model's context are scored with
a strided sliding window (each token once, with up to `max_length - stride` tokens of context carried over), as in
the transformers perplexity guide. Windows of all documents are batched.

bits/char = total NLL (nats) / ln 2 / characters; bits/byte the same over UTF-8 bytes; bits/word over words —
whitespace-separated words for space-delimited text, and for Japanese the words of MeCab/UniDic (fugashi) when it is
installed (otherwise no bits/word for Japanese: counting characters as words would not be comparable).
"""

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F

from ..tokenizer import document_separator_id


def count_words(texts: list[str]) -> tuple[int | None, str | None]:
    """Word count and how it was counted: whitespace words, or MeCab words for Japanese (None if unavailable)."""
    from ..data.lid import detect_language

    sample = "".join(texts)[:20000]
    language, _ = detect_language(sample) if sample else ("other", 0.0)
    if language == "zh":
        return None, None  # no segmenter for Chinese here; characters are not words
    if language == "ja":
        try:
            import fugashi
        except ImportError:
            return None, None
        tagger = fugashi.Tagger()
        return sum(len(tagger(line)) for text in texts for line in text.split("\n") if line), "mecab-unidic"
    return sum(len(text.split()) for text in texts), "whitespace"


def windows_for(ids: list[int], max_length: int, stride: int) -> list[tuple[list[int], int]]:
    """Sliding windows over `ids` (which start with the separator context token): (window ids, number of trailing
    targets to score). Every token after the first is a target exactly once."""
    out = []
    n = len(ids)
    if n < 2:
        return out
    scored_until = 1  # ids[0] is context only
    start = 0
    while scored_until < n:
        end = min(start + max_length, n)
        window = ids[start:end]
        out.append((window, end - scored_until))
        scored_until = end
        if end == n:
            break
        start = end - (max_length - stride) if stride < max_length else end - 1
        start = max(start, 0)
    return out


def _totals(nll: float, tokens: int, chars: int, bytes_: int) -> dict[str, float]:
    loss = nll / max(tokens, 1)
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 700)),
        "bits_per_token": loss / math.log(2),
        "bits_per_char": nll / math.log(2) / max(chars, 1),
        "bits_per_byte": nll / math.log(2) / max(bytes_, 1),
    }


@torch.no_grad()
def evaluate_texts(
    model,
    tokenizer,
    texts: Iterable[str],
    max_length: int | None = None,
    stride: int | None = None,
    batch_size: int = 8,
    progress: bool = False,
    per_document: bool = False,
    count_words_: bool = True,
) -> dict[str, Any]:
    """Loss, perplexity, bits per character / byte / word of `model` on `texts` (see the module docstring).

    Corpus figures are token-weighted (total NLL over total tokens, characters, bytes). With `per_document`, the
    result also holds `per_document`: one dict per non-empty text, in input order, with the same figures."""
    texts = [t for t in texts if t]
    context = document_separator_id(tokenizer)
    max_length = max_length or getattr(model.config, "max_position_embeddings", None) or 1024
    stride = stride or max_length // 2
    if not 0 < stride <= max_length:
        raise ValueError(f"stride must be in 1..max_length ({max_length}); got {stride}")
    device = next(model.parameters()).device
    model.eval()

    windows = []  # (ids, targets to score, document index)
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []  # one batched call
    for doc, ids in enumerate(encoded):
        ids = ([context] if context is not None else []) + ids
        windows += [(w, n, doc) for w, n in windows_for(ids, max_length, stride)]
    windows.sort(key=lambda w: len(w[0]))  # similar lengths together: less padding

    doc_nll = [0.0] * len(texts)
    doc_tokens = [0] * len(texts)
    batches = range(0, len(windows), batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="evaluating", unit="batch")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for i in batches:
        chunk = windows[i : i + batch_size]
        width = max(len(w) for w, _, _ in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, (w, _, _) in enumerate(chunk):
            ids[row, : len(w)] = torch.tensor(w)
            mask[row, : len(w)] = 1
        ids = ids.to(device)
        # without padding, no mask: the model can take its plain causal attention path
        padded = any(len(w) < width for w, _, _ in chunk)
        logits = model(input_ids=ids, attention_mask=mask.to(device) if padded else None).logits
        # cross_entropy instead of a full log_softmax tensor: one (batch, width) result, not (batch, width, vocab)
        token_nll = F.cross_entropy(
            logits[:, :-1].float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
        ).view(len(chunk), width - 1)
        token_nll = token_nll.cpu()
        for row, (w, n_targets, doc) in enumerate(chunk):
            # the last n_targets tokens of the window are scored: positions len(w)-n_targets .. len(w)-1
            doc_nll[doc] += token_nll[row, len(w) - 1 - n_targets : len(w) - 1].double().sum().item()
            doc_tokens[doc] += n_targets

    nll, tokens = sum(doc_nll), sum(doc_tokens)
    doc_chars = [len(t) for t in texts]
    doc_bytes = [len(t.encode("utf-8")) for t in texts]
    chars, bytes_ = sum(doc_chars), sum(doc_bytes)
    words, word_unit = count_words(texts) if count_words_ else (None, None)
    result = {
        **_totals(nll, tokens, chars, bytes_),
        "bits_per_word": nll / math.log(2) / words if words else None,
        "word_unit": word_unit,
        "nll_nats": nll,
        "tokens": tokens,
        "chars": chars,
        "bytes": bytes_,
        "words": words,
        "documents": len(texts),
        "max_length": max_length,
        "stride": stride,
    }
    if per_document:
        result["per_document"] = [
            {**_totals(*fig), "nll_nats": fig[0], "tokens": fig[1], "chars": fig[2], "bytes": fig[3]}
            for fig in zip(doc_nll, doc_tokens, doc_chars, doc_bytes, strict=True)
        ]
    return result
