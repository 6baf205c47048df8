"""`make demo`: a small GPT trained on CPU on text that ships with Python itself, then sampled two ways.

What it does, in minutes on a laptop CPU and with no download:
1. corpus: the standard library's documentation topics (`pydoc_data.topics`) and the docstrings of pure-Python
   standard-library modules; every 10th document is held out for validation;
2. tokenizer: hfpretrain's byte-fallback BPE (`hfpretrain.tokenizer`), saved as an `AutoTokenizer` folder;
3. model: the `gpt-tiny` preset (RoPE, RMSNorm, SwiGLU) sized to that vocabulary;
4. training: AdamW with linear warmup and cosine decay on random windows of the token stream;
5. validation loss and perplexity before and after, then greedy and nucleus (top-p) samples from the saved folder.

The full pipeline (datatrove curation, our Japanese-aware tokenizer, the Accelerate trainer, evaluation against
n-gram baselines, attention maps, a report) replaces these steps as those stages land.
"""

import argparse
import importlib
import inspect
import json
import math
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

# Pure-Python standard-library modules whose docstrings are prose (no C-only modules, nothing with side effects).
STDLIB_MODULES = (
    "argparse",
    "ast",
    "asyncio",
    "base64",
    "bisect",
    "calendar",
    "collections",
    "configparser",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "email",
    "enum",
    "fractions",
    "functools",
    "gettext",
    "glob",
    "gzip",
    "heapq",
    "http.client",
    "http.server",
    "inspect",
    "ipaddress",
    "json",
    "logging",
    "mailbox",
    "pathlib",
    "pickle",
    "pprint",
    "queue",
    "random",
    "shutil",
    "smtplib",
    "statistics",
    "string",
    "subprocess",
    "tarfile",
    "tempfile",
    "textwrap",
    "threading",
    "typing",
    "unittest",
    "urllib.parse",
    "urllib.request",
    "uuid",
    "zipfile",
)


def python_corpus() -> list[str]:
    """Documents from text that every Python installation carries."""
    from pydoc_data.topics import topics

    documents = [text for _, text in sorted(topics.items())]
    for name in STDLIB_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        parts = [inspect.getdoc(module) or ""]
        for _, member in sorted(vars(module).items()):
            if (inspect.isclass(member) or inspect.isfunction(member)) and member.__module__ == module.__name__:
                doc = inspect.getdoc(member)
                if doc:
                    parts.append(f"{member.__qualname__}\n{doc}")
        documents.append("\n\n".join(p for p in parts if p))
    return [d for d in documents if d.strip()]


def token_stream(tokenizer, texts: list[str]) -> torch.Tensor:
    """Documents concatenated with an end-of-text token after each."""
    ids: list[int] = []
    for encoded in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        ids.extend(encoded)
        ids.append(tokenizer.eos_token_id)
    return torch.tensor(ids, dtype=torch.long)


@torch.no_grad()
def validation_loss(model, stream: torch.Tensor, seq_len: int, batch_size: int) -> float:
    """Mean next-token loss over consecutive non-overlapping windows of the held-out stream."""
    model.eval()
    n = (len(stream) - 1) // seq_len
    windows = stream[: n * seq_len].view(n, seq_len)
    total = 0.0
    for i in range(0, n, batch_size):
        batch = windows[i : i + batch_size]
        total += model(batch, labels=batch).loss.item() * len(batch)
    model.train()
    return total / n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="demo_run", help="folder for the tokenizer and model")
    parser.add_argument("--steps", type=int, default=600, help="optimizer steps")
    parser.add_argument("--vocab-size", type=int, default=4096, help="BPE vocabulary size")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per training window")
    parser.add_argument("--batch-size", type=int, default=16, help="windows per step")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from . import GPTConfig, GPTForCausalLM, parameter_breakdown
    from .runtime import tune_cpu_allocator
    from .tokenizer import TokenizerTrainingConfig, train_tokenizer

    tune_cpu_allocator()
    torch.manual_seed(args.seed)
    output = Path(args.output)
    start = time.time()

    documents = python_corpus()
    train_docs = [d for i, d in enumerate(documents) if i % 10 != 0]
    valid_docs = [d for i, d in enumerate(documents) if i % 10 == 0]
    chars = sum(map(len, documents))
    print(f"corpus: {len(documents)} documents, {chars:,} characters from Python's own documentation")

    corpus = output / "corpus.jsonl"
    corpus.parent.mkdir(parents=True, exist_ok=True)
    corpus.write_text("".join(json.dumps({"text": d}) + "\n" for d in train_docs), encoding="utf-8")
    tokenizer, _ = train_tokenizer(
        [str(corpus)], TokenizerTrainingConfig(vocab_size=args.vocab_size, show_progress=False), output / "tokenizer"
    )
    train, valid = token_stream(tokenizer, train_docs), token_stream(tokenizer, valid_docs)
    print(
        f"tokenizer: byte-fallback BPE, {len(tokenizer):,} tokens; {len(train):,} train / {len(valid):,} validation "
        f"tokens ({sum(map(len, train_docs)) / len(train):.2f} characters per token)"
    )

    config = GPTConfig.from_preset(
        "gpt-tiny",
        vocab_size=len(tokenizer),  # a multiple of 64, which keeps the matmuls aligned
        max_position_embeddings=args.seq_len,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPTForCausalLM(config)
    print(f"model: gpt-tiny, {parameter_breakdown(config)['total']:,} parameters")

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = max(1, args.steps // 20)

    def lr_at(step: int) -> float:  # linear warmup, then cosine decay to 10% (Loshchilov & Hutter 2017)
        if step < warmup:
            return args.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    initial = validation_loss(model, valid, args.seq_len, args.batch_size)
    generator = torch.Generator().manual_seed(args.seed)
    model.train()
    bar = tqdm(range(args.steps), desc="training", unit="step")
    for step in bar:
        starts = torch.randint(0, len(train) - args.seq_len, (args.batch_size,), generator=generator)
        batch = torch.stack([train[s : s + args.seq_len] for s in starts.tolist()])
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    final = validation_loss(model, valid, args.seq_len, args.batch_size)
    print(
        f"validation loss {initial:.3f} -> {final:.3f} (perplexity {math.exp(initial):,.0f} -> {math.exp(final):.1f}; "
        f"a uniform guess over the vocabulary scores {math.log(len(tokenizer)):.3f})"
    )

    folder = output / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    prompt = "The with statement"
    inputs = tok(prompt, return_tensors="pt")
    for name, kwargs in {
        "greedy": dict(do_sample=False),
        "top-p 0.9, temperature 0.8": dict(do_sample=True, top_p=0.9, temperature=0.8, top_k=0),
    }.items():
        torch.manual_seed(args.seed)
        out = loaded.generate(**inputs, max_new_tokens=60, pad_token_id=tok.pad_token_id, **kwargs)
        print(f"\n--- {name} ---\n{tok.decode(out[0], skip_special_tokens=True)}")

    print(f"\nDone in {time.time() - start:.0f} s. Model and tokenizer: {folder.resolve()}")
    print("Load it with:")
    print("    import hfpretrain; from transformers import AutoModelForCausalLM, AutoTokenizer")
    print(
        f"    model = AutoModelForCausalLM.from_pretrained('{folder}'); tok = AutoTokenizer.from_pretrained('{folder}')"
    )
    print("    print(tok.decode(model.generate(**tok('The with statement', return_tensors='pt'))[0]))")


if __name__ == "__main__":
    main()
