"""Few-shot multiple choice by log-likelihood (JCommonsenseQA and any question/choices/label JSONL), scored the way
lm-evaluation-harness 0.4 scores a `multiple_choice` task, so the two give the same numbers on the same prompts.

Prompt (defaults of `PromptFormat`; every test item sees the same k exemplars, see `fewshot_examples`):

    質問：{exemplar question}\\n回答：{exemplar answer}\\n\\n   × k
    質問：{question}\\n回答：                                    ← context
    {choice}                                                   ← continuation, one per choice

- No space before the answer (`target_delimiter=""`): Japanese writes none, and a space would be a token the model
  rarely saw after "：". lm-eval's default delimiter is " " (English); our task YAML sets it to "".
- Exemplars: one seeded shuffle of the train items; every test item gets its first k, skipping any exemplar equal to
  the test item (so overlapping train/test never shows the answer). Fixed exemplars make the prompt printable and the
  score reproducible; the cost is that accuracy depends on which k were drawn (vary `seed` to see by how much).
  lm-eval's `first_n` sampler over a file of those exemplars reproduces it (benchmarks/fewshot_bench.py).
- Tokenization, as lm-eval's `TemplateLM._encode_pair` for causal models: trailing whitespace of the context moves
  to the continuation; `context + continuation` is encoded whole and the continuation is its tokens after
  `len(encode(context))`. So the continuation is scored with the tokens the model would really see; where a merge
  crosses the boundary, one or two characters change sides (lm-eval accepts that too). Special tokens are whatever
  the tokenizer adds by default (ours: none; Llama's: BOS), as lm-eval's `HFLM.tok_encode`.
- Too long for the model: left-truncated to the last `max_length + 1` tokens (the first of them is only context).
- Scores: the summed log-probability of the continuation's tokens. acc takes the argmax of the sum; acc_norm of the
  sum divided by the choice's length in characters, and acc_bytes by its UTF-8 byte length — exactly lm-eval's
  `acc_norm` (`len(choice)`, characters, not bytes) and `acc_bytes` (api/task.py, `process_results`). The delimiter
  is not counted. Ties go to the first choice (`numpy.argmax`).
- 95% confidence intervals: Wilson score interval (Wilson 1927, "Probable inference, the law of succession, and
  statistical inference", JASA 22(158):209–212), which stays inside [0, 1] and is sound at small n or extreme p.
"""

import json
import logging
import math
import random
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

# z for a two-sided 95% interval: Φ⁻¹(0.975) = 1.959964…
Z_95 = statistics.NormalDist().inv_cdf(0.975)


@dataclass
class MultipleChoiceItem:
    question: str
    choices: list[str]
    label: int
    """Index of the correct choice."""
    id: str | None = field(default=None, compare=False)
    """`q_id` (JCommonsenseQA) or `id` when the line has one, else "<file>:<line>"; not part of equality."""


@dataclass(frozen=True)
class PromptFormat:
    question_template: str = "質問：{question}\n回答："
    """The context of one item; `{question}` is replaced by the question."""
    target_delimiter: str = ""
    """Put before every answer (exemplars and scored choices alike): "" for Japanese, " " as lm-eval's default."""
    fewshot_delimiter: str = "\n\n"
    """After every exemplar's answer."""


# ---------------------------------------------------------------------------------------------------- loading


def _parse_item(record: Any, where: str) -> MultipleChoiceItem | str:
    """An item, or the reason the record is not one."""
    if not isinstance(record, dict):
        return "not_an_object"
    if "choices" in record:  # generic: {"question", "choices": [...], "label": int}
        choices = record["choices"]
    elif "choice0" in record:  # JCommonsenseQA: choice0, choice1, … up to the first missing index
        choices, i = [], 0
        while f"choice{i}" in record:
            choices.append(record[f"choice{i}"])
            i += 1
    else:
        return "no_choices"
    question, label = record.get("question"), record.get("label")
    if not isinstance(question, str) or not question.strip():
        return "bad_question"
    if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) and c for c in choices):
        return "bad_choices"  # fewer than 2, or not all non-empty strings
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(choices):
        return "bad_label"
    item_id = record.get("q_id", record.get("id"))
    return MultipleChoiceItem(question, choices, label, str(item_id) if item_id is not None else where)


def load_multiple_choice(path: str | Path, limit: int | None = None) -> tuple[list[MultipleChoiceItem], Counter]:
    """Items of a JSONL file, each line either JCommonsenseQA (`question`, `choice0`…`choiceN`, `label`) or generic
    (`question`, `choices` list, `label` int), detected per line. Malformed lines are skipped and counted by reason
    (invalid_utf8, invalid_json, blank, not_an_object, no_choices, bad_question, bad_choices, bad_label); returns
    (items, skipped counts). `limit`: stop after this many items."""
    path = Path(path)
    items: list[MultipleChoiceItem] = []
    skipped: Counter = Counter()
    with path.open("rb") as f:  # bytes: one bad line must not abandon the rest of the file
        for number, raw in enumerate(f, start=1):
            if limit is not None and len(items) >= limit:
                break
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                skipped["invalid_utf8"] += 1
                continue
            if number == 1:
                line = line.removeprefix("\ufeff")  # a byte-order mark would make the first line invalid JSON
            if not line.strip():
                skipped["blank"] += 1
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                skipped["invalid_json"] += 1
                continue
            parsed = _parse_item(record, f"{path.name}:{number}")
            if isinstance(parsed, str):
                skipped[parsed] += 1
            else:
                items.append(parsed)
    if skipped:
        logger.warning("%s: skipped %d malformed lines: %s", path, sum(skipped.values()), dict(skipped))
    return items, skipped


# ---------------------------------------------------------------------------------------------------- prompts


def shuffle_fewshot(train: Sequence[MultipleChoiceItem], seed: int = 1234) -> list[MultipleChoiceItem]:
    """The exemplar order: one shuffle of `train` by `seed` (1234, lm-eval's default few-shot seed)."""
    return random.Random(seed).sample(list(train), len(train))


def fewshot_examples(pool: Sequence[MultipleChoiceItem], item: MultipleChoiceItem, k: int) -> list[MultipleChoiceItem]:
    """The first k items of `pool` (from `shuffle_fewshot`) that are not equal to `item` (same question, choices and
    label): the same k for every test item, unless the test item is itself one of them."""
    examples = []
    for candidate in pool:
        if len(examples) == k:
            break
        if candidate != item:
            examples.append(candidate)
    if len(examples) < k:
        raise ValueError(f"Asked for {k} few-shot examples but the train pool has only {len(examples)} usable items.")
    return examples


def build_context(
    item: MultipleChoiceItem, examples: Sequence[MultipleChoiceItem], prompt: PromptFormat = PromptFormat()
) -> str:
    """Exemplars with their answers, then the item's question; the continuations are
    `prompt.target_delimiter + choice`."""
    shots = "".join(
        prompt.question_template.format(question=e.question)
        + prompt.target_delimiter
        + e.choices[e.label]
        + prompt.fewshot_delimiter
        for e in examples
    )
    return shots + prompt.question_template.format(question=item.question)


# ---------------------------------------------------------------------------------------------------- scoring


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) as lm-eval encodes them for a causal model (module docstring)."""
    if not context:
        raise ValueError("Empty context: the prompt template must produce some text before the answer.")
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = tokenizer(context + continuation)["input_ids"]
    context_ids = tokenizer(context)["input_ids"]
    continuation_ids = whole[len(context_ids) :]
    if not continuation_ids:
        # the whole string tokenizes no longer than the context (a merge swallowed the continuation): lm-eval
        # stops with an assertion here; we score the continuation encoded alone instead, and say so
        logger.warning("Continuation %r merged into the context's last token; encoding it alone.", continuation)
        continuation_ids = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    return context_ids, continuation_ids


def model_max_length(model, default: int = 2048) -> int:
    """The model's context in tokens, from its config (the attributes lm-eval reads, in its order)."""
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(model.config, name, None)
        if value:
            return int(value)
    return default


@torch.no_grad()
def score_continuations(
    model,
    tokenizer,
    requests: Sequence[tuple[str, str]],
    batch_size: int = 16,
    max_length: int | None = None,
    progress: bool = False,
) -> list[float]:
    """Summed log-probability (nats) of each `continuation` given its `context`, for any causal LM.

    Requests are sorted longest first (fewer padding tokens per batch, as lm-eval does) and right-padded without an
    attention mask: in a causal model a position never attends to the padding after it."""
    max_length = max_length or model_max_length(model)
    encoded = []
    for context, continuation in requests:
        context_ids, continuation_ids = encode_pair(tokenizer, context, continuation)
        if len(continuation_ids) > max_length:
            raise ValueError(f"A continuation of {len(continuation_ids)} tokens exceeds max_length={max_length}.")
        # left-truncate; the input drops the last token (nothing is predicted after it)
        ids = (context_ids + continuation_ids)[-(max_length + 1) :]
        encoded.append((ids, len(continuation_ids)))
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))

    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    was_training = model.training
    model.eval()
    scores = [0.0] * len(encoded)
    batches = range(0, len(order), batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="scoring choices", unit="batch")
    try:
        for start in batches:
            chunk = order[start : start + batch_size]
            width = max(len(encoded[i][0]) for i in chunk) - 1
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            for row, i in enumerate(chunk):
                ids = encoded[i][0]
                input_ids[row, : len(ids) - 1] = torch.tensor(ids[:-1])
            logits = model(input_ids=input_ids.to(device), use_cache=False).logits
            for row, i in enumerate(chunk):
                ids, n = encoded[i]
                # logits at input positions len-1-n … len-2 predict the n continuation tokens
                log_probs = F.log_softmax(logits[row, len(ids) - 1 - n : len(ids) - 1].float(), dim=-1)
                targets = torch.tensor(ids[-n:], device=log_probs.device)
                scores[i] = log_probs.gather(-1, targets[:, None]).sum().item()
    finally:
        model.train(was_training)
    return scores


# ---------------------------------------------------------------------------------------------------- metrics


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927): center (p + z²/2n) / (1 + z²/n),
    half-width z / (1 + z²/n) · √(p(1−p)/n + z²/4n²)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, center - half), min(1.0, center + half))


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))  # first of equal maxima, as numpy.argmax


@dataclass
class MultipleChoiceResult:
    acc: float
    """Share of items whose highest summed log-likelihood choice is the label."""
    acc_norm: float
    """The same with log-likelihood per character of the choice (lm-eval's acc_norm)."""
    acc_bytes: float
    """The same with log-likelihood per UTF-8 byte of the choice (lm-eval's acc_bytes)."""
    n: int
    chance: float
    """Expected accuracy of random guessing: mean of 1 / number of choices."""
    ci95: dict[str, tuple[float, float]]
    """Wilson 95% interval of acc, acc_norm and acc_bytes."""
    k: int
    seed: int
    predictions: list[dict[str, Any]]
    """Per item: id, label, pred, pred_norm, pred_bytes and the summed log-likelihood of every choice."""

    def to_dict(self, with_predictions: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not with_predictions:
            data.pop("predictions")
        return data


def evaluate_multiple_choice(
    model,
    tokenizer,
    items: Sequence[MultipleChoiceItem],
    train: Sequence[MultipleChoiceItem] = (),
    k: int = 0,
    seed: int = 1234,
    prompt: PromptFormat = PromptFormat(),
    batch_size: int = 16,
    max_length: int | None = None,
    progress: bool = False,
) -> MultipleChoiceResult:
    """k-shot accuracy of `model` on `items`, exemplars from `train` (see the module docstring)."""
    if not items:
        raise ValueError("No items to evaluate.")
    if k and not train:
        raise ValueError(f"k={k} few-shot examples need train items to draw them from (pass train=...).")
    pool = shuffle_fewshot(train, seed) if k else []
    requests, spans = [], []
    for item in items:
        context = build_context(item, fewshot_examples(pool, item, k), prompt)
        spans.append((len(requests), len(item.choices)))
        requests += [(context, prompt.target_delimiter + choice) for choice in item.choices]
    scores = score_continuations(model, tokenizer, requests, batch_size, max_length, progress)

    predictions, hits = [], Counter()
    for item, (start, count) in zip(items, spans, strict=True):
        lls = scores[start : start + count]
        pred = {
            "pred": _argmax(lls),
            "pred_norm": _argmax([ll / len(c) for ll, c in zip(lls, item.choices, strict=True)]),
            "pred_bytes": _argmax([ll / len(c.encode("utf-8")) for ll, c in zip(lls, item.choices, strict=True)]),
        }
        hits.update(name for name, value in pred.items() if value == item.label)
        predictions.append({"id": item.id, "label": item.label, **pred, "loglikelihoods": lls})
    n = len(items)
    metrics = {"acc": "pred", "acc_norm": "pred_norm", "acc_bytes": "pred_bytes"}
    return MultipleChoiceResult(
        **{metric: hits[key] / n for metric, key in metrics.items()},
        n=n,
        chance=sum(1 / len(item.choices) for item in items) / n,
        ci95={metric: wilson_interval(hits[key], n) for metric, key in metrics.items()},
        k=k,
        seed=seed,
        predictions=predictions,
    )
