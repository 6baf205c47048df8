"""`make demo`: the whole pipeline, on text that ships with Python itself, on a CPU, in minutes, with no download.

    raw text ─► data (datatrove) ─► tokenizer ─► token shards ─► pretraining ─► evaluation vs n-gram baselines
             ─► generation in several decoding modes ─► attention map ─► run report

1. corpus: the documentation topics of `pydoc_data` (the text of `help('with')`, ...) and the docstrings of the
   standard library's Python modules, read with `ast` (nothing is imported, so nothing runs); one document per
   topic and per module. `--code` adds the modules' source files as a code corpus.
2. data: `hfpretrain data run` — cleaning, language id, English quality filters, exact + MinHash dedup, PII removal,
   with a funnel of what was dropped and why; a stable 10% of the documents is held out for validation.
3. tokenizer: `hfpretrain tokenizer train` — byte-fallback BPE on the training documents only.
4. shards: `hfpretrain data run --tokenizer` — the same pipeline (its finished stages are not run again) writes
   train/valid token shards.
5. pretraining: `python recipes/pretrain.py --config RUN/pretrain.yaml` — the gpt-tiny preset (RoPE, RMSNorm,
   SwiGLU), AdamW with warmup and cosine decay, bf16, checkpoints.
6. evaluation: `hfpretrain eval` — loss, perplexity, bits per character/byte/word on the held-out documents, beside
   uniform, unigram and Kneser–Ney n-gram baselines fitted on the training documents.
7. generation: `hfpretrain generate --compare` — one prompt under each decoding preset.
8. attention map and report: `hfpretrain attention-map`, `hfpretrain report`.

Each stage prints the command that does the same on its own. `python -m hfpretrain.demo --help` for sizes.
"""

import argparse
import ast
import gzip
import json
import shlex
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

# Folders of the standard library that hold tests, demos, tools or bundled packages rather than library modules.
SKIP_DIRS = {
    "__pycache__",
    "ensurepip",
    "idlelib",
    "lib2to3",
    "site-packages",
    "dist-packages",
    "test",
    "tests",
    "turtledemo",
    "venv",
}
PROMPT = "The with statement"

# The English filters are tuned for web pages; reference documentation is code-heavy prose, so the demo loosens them
# where that prose trips them, and says so in the data config it writes: names and code (`x[0]`, `{}`) are not
# junk, and docstrings repeat the names they document. Everything else runs with datatrove's defaults.
DOCS_QUALITY = {
    "gopher_repetition": {
        "top_n_grams": [[2, 0.4], [3, 0.35], [4, 0.3]],
        "dup_n_grams": [[5, 0.3], [6, 0.28], [7, 0.26], [8, 0.24], [9, 0.22], [10, 0.2]],
    },
    "gopher_quality": {"max_non_alpha_words_ratio": 0.5, "max_symbol_word_ratio": 0.3},
    "c4_quality": {
        "remove_citations": False,  # would delete the `[0]` of `x[0]`
        "filter_curly_bracket": False,
        "min_words_per_line": 1,
        "min_num_sentences": 2,
    },
    "fineweb_quality": {"char_duplicates_ratio": 0.2, "line_punct_thr": 0.0, "short_line_thr": 0.95},
}


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(p in SKIP_DIRS or p.startswith(("test", "config-")) for p in parts):
            continue
        files.append(path)
    return files


def module_docstrings(source: str) -> str:
    """The docstrings of a module, its public classes, functions and methods, each after its qualified name."""
    tree = ast.parse(source)
    parts = [ast.get_docstring(tree) or ""]

    def visit(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if child.name.startswith("_") and not child.name.startswith("__"):
                    continue
                doc = ast.get_docstring(child)
                if doc:
                    parts.append(f"{prefix}{child.name}\n{doc}")
                if isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return "\n\n".join(p for p in parts if p)


def python_corpus(code: bool = False) -> Iterator[dict]:
    """Documents {id, text, source} from Python's own documentation (and, with `code`, its source files)."""
    from pydoc_data.topics import topics

    for name, text in sorted(topics.items()):
        if text.strip():
            yield {"id": f"pydoc-topic/{name}", "text": text, "source": "pydoc_data.topics"}
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in stdlib_files():
        rel = path.relative_to(root).as_posix()
        try:
            source = path.read_text(encoding="utf-8")
            text = module_docstrings(source)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # a handful of files are deliberately invalid (lib2to3 fixtures and the like)
        if text.strip():
            yield {"id": f"stdlib-docstrings/{rel}", "text": text, "source": rel}
        if code:
            yield {"id": f"stdlib-source/{rel}", "text": source, "source": rel}


def read_documents(folder: Path) -> Iterator[dict]:
    for path in sorted(folder.glob("*.jsonl*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def write_jsonl(path: Path, records) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    return n


class Stages:
    """Numbered stage headers with the equivalent command and the time each stage took."""

    def __init__(self, total: int):
        self.total, self.n, self.start, self.times = total, 0, time.time(), {}

    def __call__(self, name: str, command: list[str] | None = None) -> None:
        self.n += 1
        self._mark = (name, time.time())
        print(f"\n[{self.n}/{self.total}] {name}", flush=True)
        if command:
            print("    $ " + shlex.join(command), flush=True)

    def done(self) -> None:
        name, started = self._mark
        self.times[name] = time.time() - started


def run_cli(argv: list[str]) -> None:
    from .cli import main as cli_main

    code = cli_main(argv)
    if code:
        raise SystemExit(f"`hfpretrain {shlex.join(argv)}` failed with exit code {code}")


def pretrain_config(args, out: Path) -> dict:
    return {
        "model": {"preset": "gpt-tiny", "overrides": {"max_position_embeddings": args.seq_len}},
        "data": {"tokenizer": str(out / "tok"), "train": [str(out / "data" / "tokens")], "seq_len": args.seq_len},
        "optimization": {
            "global_batch_tokens": args.batch_tokens,
            "micro_batch_size": max(1, min(16, args.batch_tokens // args.seq_len)),
            "max_tokens": args.tokens,
            "learning_rate": args.lr,
            "warmup_fraction": 0.05,
            "schedule": "cosine",
            "mixed_precision": "bf16",
            "seed": args.seed,
        },
        "checkpointing": {"output_dir": str(out / "run"), "save_every": 500, "keep_last": 1},
        "logging": {"log_every": 10, "eval_every": 250, "eval_sequences": 128, "trackers": ["tensorboard"]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="demo_run", help="folder for every artifact (default: demo_run)")
    parser.add_argument("--tokens", type=int, default=3_000_000, help="training tokens (default: 3M)")
    parser.add_argument("--vocab-size", type=int, default=4096, help="BPE vocabulary size")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per training sequence")
    parser.add_argument("--batch-tokens", type=int, default=2048, help="tokens per optimizer step")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--code", action="store_true", help="also train on the standard library's source code")
    parser.add_argument("--workers", type=int, default=2, help="data pipeline processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--prepare-only", action="store_true", help="stop after the shards (corpus, curation, tokenizer, shards)"
    )
    args = parser.parse_args(argv)

    import yaml

    from .data.shards import split_of
    from .runtime import tune_cpu_allocator

    tune_cpu_allocator()
    out = Path(args.output)
    stage = Stages(8)
    valid_fraction = 0.1

    stage("corpus: Python's own documentation" + (" and source code" if args.code else ""))
    raw = out / "raw" / "python_docs.jsonl"
    n = write_jsonl(raw, python_corpus(args.code))
    print(f"    {n} documents, {raw.stat().st_size / 1e6:.1f} MB -> {raw}")
    stage.done()

    data_config = out / "data.yaml"
    data_config.write_text(yaml.safe_dump({"quality_options": DOCS_QUALITY}, sort_keys=False), encoding="utf-8")
    data_args = ["data", "run", "--config", str(data_config), "--input", str(raw), "--output", str(out / "data")]
    data_args += ["--language", "en"]
    data_args += ["--tasks", str(args.workers), "--workers", str(args.workers)]
    data_args += ["--valid-fraction", str(valid_fraction), "--seed", str(args.seed)]
    stage("data: clean, language id, quality filters, dedup, PII (datatrove)", ["hfpretrain", *data_args])
    run_cli(data_args)
    funnel = json.loads((out / "data" / "funnel.json").read_text(encoding="utf-8"))
    print(
        f"    {funnel['documents_in']} documents in, {funnel['documents_out']} kept; dropped: "
        + (", ".join(f"{k} {v}" for k, v in funnel["dropped"].items()) or "none")
    )
    documents = list(read_documents(out / "data" / "documents"))
    splits = {"train": [], "valid": []}
    for doc in documents:
        splits[split_of(str(doc["id"]), valid_fraction, args.seed)].append({"id": doc["id"], "text": doc["text"]})
    for name, docs in splits.items():
        write_jsonl(out / "data" / "text" / f"{name}.jsonl", docs)
    print(f"    train {len(splits['train'])} / valid {len(splits['valid'])} documents (the token shards split alike)")
    stage.done()

    tok_args = ["tokenizer", "train", "--input", str(out / "data" / "text" / "train.jsonl")]
    tok_args += ["--output", str(out / "tok"), "--vocab-size", str(args.vocab_size)]
    stage("tokenizer: byte-fallback BPE on the training documents", ["hfpretrain", *tok_args])
    run_cli(tok_args)
    stage.done()

    shard_args = [*data_args, "--tokenizer", str(out / "tok")]
    stage("shards: tokenize the curated documents into train/valid shards", ["hfpretrain", *shard_args])
    run_cli(shard_args)
    stage.done()

    if args.prepare_only:
        print(
            f"\nPrepared in {time.time() - stage.start:.0f} s: tokenizer {out / 'tok'}, "
            f"shards {out / 'data' / 'tokens'}"
        )
        return 0

    config_path = out / "pretrain.yaml"
    config_path.write_text(yaml.safe_dump(pretrain_config(args, out), sort_keys=False), encoding="utf-8")
    stage(
        f"pretraining: gpt-tiny on {args.tokens:,} tokens (config {config_path})",
        ["accelerate", "launch", "recipes/pretrain.py", "--config", str(config_path)],
    )
    from .training import main as train_main

    train_main(["--config", str(config_path)])
    stage.done()

    run, final = out / "run", out / "run" / "final"
    eval_args = ["eval", str(final), "--input", str(out / "data" / "text" / "valid.jsonl"), "--baselines"]
    eval_args += [
        "--baseline-train",
        str(out / "data" / "text" / "train.jsonl"),
        "--output",
        str(run / "eval" / "valid.json"),
    ]
    stage("evaluation: held-out documents, beside n-gram baselines", ["hfpretrain", *eval_args])
    run_cli(eval_args)
    result = json.loads((run / "eval" / "valid.json").read_text(encoding="utf-8"))
    stage.done()

    gen_args = ["generate", str(final), "--prompt", PROMPT, "--compare", "--max-new-tokens", "40", "--seed", "0"]
    stage("generation: one prompt under each decoding preset", ["hfpretrain", *gen_args])
    run_cli(gen_args)
    stage.done()

    map_args = ["attention-map", str(final), "--prompt", "def read(path):\n    with open(path) as f:"]
    map_args += ["--output", str(run / "plots" / "attention.png")]
    stage("report: attention map and run report", ["hfpretrain", *map_args])
    run_cli(map_args)
    report_args = ["report", str(run), "--prompt", PROMPT, "--prompt", "Return a new"]
    print("    $ " + shlex.join(["hfpretrain", *report_args]))
    run_cli(report_args)
    stage.done()

    bigram = result["baselines"]["bigram"]["bits_per_char"]
    print(
        f"\nDone in {time.time() - stage.start:.0f} s ("
        + ", ".join(f"{k.split(':')[0]} {v:.0f} s" for k, v in stage.times.items())
        + ")"
    )
    print(
        f"Held-out bits per character: model {result['bits_per_char']:.3f}, token bigram {bigram:.3f}, "
        f"unigram {result['baselines']['unigram']['bits_per_char']:.3f} — {result['comparison']}."
    )
    print(f"Report:  {(run / 'report.md').resolve()}")
    print(f"Plots:   {(run / 'plots').resolve()}")
    print(f"Model:   {final.resolve()}")
    print("Load it and generate:")
    print("    from transformers import AutoModelForCausalLM, AutoTokenizer")
    print(f"    model = AutoModelForCausalLM.from_pretrained({str(final)!r}, trust_remote_code=True)")
    print(
        f"    tok = AutoTokenizer.from_pretrained({str(final)!r}); "
        f"print(tok.decode(model.generate(**tok({PROMPT!r}, return_tensors='pt'), max_new_tokens=40)[0]))"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
