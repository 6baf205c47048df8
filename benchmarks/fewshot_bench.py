"""Few-shot JCommonsenseQA: hfpretrain.evaluation.multiple_choice against lm-evaluation-harness, question by question.

1. Train a Japanese tokenizer (Wikipedia KWC + the JCommonsenseQA train questions) and a tiny GPT (gpt-tiny preset)
   with hfpretrain's training loop, on the same text plus the train questions written in the prompt format (so the
   model has seen "質問：…\\n回答：…"; the valid questions are never trained on). Both are reused when present.
2. Subsample the valid set (seeded) into a JSONL file and write the few-shot exemplars (the first max(k)+1 of
   `shuffle_fewshot(train, seed)`) into another: both programs read these very files.
3. Evaluate k = 0 and k = 3 with our code and with lm-eval's `simple_evaluate` + `HFLM(pretrained=RUN/final)` on a
   local task YAML written to a temporary folder (same template, target delimiter "", exemplars by the `first_n`
   sampler over the exemplar file, acc / acc_norm / acc_bytes).
4. Print the accuracies side by side, check that every prompt is the same string, and list every question whose
   prediction differs, with the log-likelihood gap that explains it.

    pip install "lm-eval==0.4.*"
    python benchmarks/fewshot_bench.py                      # ~10 min on 2 CPU cores, most of it training
    python benchmarks/fewshot_bench.py --limit 0            # the whole valid set (1,119 questions)
"""

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import yaml

from hfpretrain.evaluation.multiple_choice import (
    PromptFormat,
    evaluate_multiple_choice,
    load_multiple_choice,
    shuffle_fewshot,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
JGLUE = DATA / "jglue"
TASK = "jcommonsenseqa_hfpretrain"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="/tmp/fewshot_bench", help="Folder for the tokenizer, run and subsets.")
    parser.add_argument("--model", help="Evaluate this model folder instead of training one.")
    parser.add_argument("--steps", type=int, default=150, help="Training steps of the tiny GPT.")
    parser.add_argument("--vocab-size", type=int, default=8192, help="Tokenizer vocabulary.")
    parser.add_argument("--limit", type=int, default=300, help="Valid questions (seeded sample); 0: all.")
    parser.add_argument("--shots", type=int, nargs="+", default=[0, 3], help="Values of k.")
    parser.add_argument("--seed", type=int, default=1234, help="Seed of the exemplars and of the valid sample.")
    parser.add_argument("--batch-size", type=int, default=32, help="Sequences per forward pass (both programs).")
    parser.add_argument("--tie-tolerance", type=float, default=1e-3, help="Gap (nats) below which two choices tie.")
    parser.add_argument("--json", help="Write the results here.")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------------- model


def write_jsonl(path: Path, records) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def train_model(work: Path, steps: int, vocab_size: int) -> Path:
    from hfpretrain.tokenizer import TokenizerTrainingConfig, train_tokenizer
    from hfpretrain.training.config import config_from_dict
    from hfpretrain.training.loop import train

    run = work / "run"
    if (run / "final" / "config.json").is_file():
        print(f"reusing the model in {run / 'final'}")
        return run / "final"
    work.mkdir(parents=True, exist_ok=True)
    train_items, _ = load_multiple_choice(JGLUE / "jcommonsenseqa-train-v1.3.jsonl")
    prompt = PromptFormat()
    qa_text = write_jsonl(
        work / "jcqa_train_text.jsonl",
        (
            {
                "text": prompt.question_template.format(question=i.question)
                + prompt.target_delimiter
                + i.choices[i.label]
            }
            for i in train_items
        ),
    )
    wiki = str(DATA / "ja_wikipedia_kwc" / "train.jsonl")
    tokenizer_dir = work / "tokenizer"
    if not (tokenizer_dir / "tokenizer.json").is_file():
        started = time.time()
        train_tokenizer([wiki, str(qa_text)], TokenizerTrainingConfig(vocab_size=vocab_size), tokenizer_dir)
        print(f"tokenizer: {time.time() - started:.0f} s")
    config = config_from_dict(
        {
            "model": {"preset": "gpt-tiny"},
            "data": {"tokenizer": str(tokenizer_dir), "train": [wiki, str(qa_text)], "seq_len": 256},
            "optimization": {
                "global_batch_tokens": 8192,
                "micro_batch_size": 8,
                "max_steps": steps,
                "mixed_precision": "bf16",
            },
            "checkpointing": {"output_dir": str(run), "save_every": None},
            "logging": {"trackers": [], "eval_every": None},
        }
    )
    started = time.time()
    train(config)
    print(f"training: {time.time() - started:.0f} s")
    return run / "final"


# ---------------------------------------------------------------------------------------------------- inputs


def write_inputs(work: Path, limit: int, max_k: int, seed: int) -> tuple[Path, Path]:
    """The valid subset and the exemplar file, as verbatim lines of the JGLUE files."""
    valid_lines = (JGLUE / "jcommonsenseqa-valid-v1.3.jsonl").read_text(encoding="utf-8").splitlines()
    keep = sorted(random.Random(seed).sample(range(len(valid_lines)), limit)) if limit else range(len(valid_lines))
    valid = work / "valid_subset.jsonl"
    valid.write_text("".join(valid_lines[i] + "\n" for i in keep), encoding="utf-8")

    train_path = JGLUE / "jcommonsenseqa-train-v1.3.jsonl"
    by_id = {str(json.loads(line)["q_id"]): line for line in train_path.read_text(encoding="utf-8").splitlines()}
    train_items, _ = load_multiple_choice(train_path)
    exemplars = shuffle_fewshot(train_items, seed)[: max_k + 1]  # one spare, as fewshot_examples may need it
    fewshot = work / "fewshot.jsonl"
    fewshot.write_text("".join(by_id[e.id] + "\n" for e in exemplars), encoding="utf-8")
    return valid, fewshot


def write_task(folder: Path, valid: Path, fewshot: Path, prompt: PromptFormat) -> Path:
    """An lm-eval task equivalent to `evaluate_multiple_choice` with `prompt`."""
    task = {
        "task": TASK,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"validation": str(valid), "train": str(fewshot)}},
        "validation_split": "validation",
        "fewshot_split": "train",
        # the exemplar file holds our shuffle's first exemplars in order: first_n gives every item the same k
        "fewshot_config": {"sampler": "first_n"},
        "output_type": "multiple_choice",
        "doc_to_text": prompt.question_template.replace("{question}", "{{question}}"),
        "doc_to_choice": "{{[choice0, choice1, choice2, choice3, choice4]}}",
        "doc_to_target": "label",
        "target_delimiter": prompt.target_delimiter,
        "fewshot_delimiter": prompt.fewshot_delimiter,
        "metric_list": [
            {"metric": m, "aggregation": "mean", "higher_is_better": True} for m in ("acc", "acc_norm", "acc_bytes")
        ],
        "metadata": {"version": 1.0},
    }
    path = folder / f"{TASK}.yaml"
    path.write_text(yaml.safe_dump(task, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------- compare


def lm_eval_samples(model_dir: Path, task_dir: Path, k: int, batch_size: int) -> tuple[dict, list[dict]]:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=str(model_dir), dtype="float32", device="cpu", batch_size=batch_size)
    out = simple_evaluate(
        model=lm,
        tasks=[TASK],
        num_fewshot=k,
        task_manager=TaskManager(include_path=str(task_dir)),
        log_samples=True,
        bootstrap_iters=0,
    )
    return out["results"][TASK], sorted(out["samples"][TASK], key=lambda s: s["doc_id"])


def sample_requests(sample: dict) -> list[tuple[str, str]]:
    """(context, continuation) of every choice of one lm-eval sample."""
    arguments = sample["arguments"]
    if isinstance(arguments, dict):  # {"gen_args_0": {"arg_0": context, "arg_1": continuation}, …}
        arguments = [(a["arg_0"], a["arg_1"]) for a in arguments.values()]
    return [tuple(a) for a in arguments]


def compare(ours, theirs: list[dict], items, prompt: PromptFormat, k: int, seed: int, tolerance: float) -> dict:
    from hfpretrain.evaluation.multiple_choice import build_context, fewshot_examples

    pool = shuffle_fewshot(load_multiple_choice(JGLUE / "jcommonsenseqa-train-v1.3.jsonl")[0], seed) if k else []
    prompts_equal, max_gap, differences = 0, 0.0, []
    for item, mine, sample in zip(items, ours.predictions, theirs, strict=True):
        context = build_context(item, fewshot_examples(pool, item, k), prompt)
        expected = [(context, prompt.target_delimiter + c) for c in item.choices]
        prompts_equal += sample_requests(sample) == expected
        lls = [float(r[0][0]) if isinstance(r[0], (list, tuple)) else float(r[0]) for r in sample["resps"]]
        max_gap = max(max_gap, *(abs(a - b) for a, b in zip(lls, mine["loglikelihoods"], strict=True)))
        for name, normalize in (
            ("pred", lambda ll, c: ll),
            ("pred_norm", lambda ll, c: ll / len(c)),
            ("pred_bytes", lambda ll, c: ll / len(c.encode("utf-8"))),
        ):
            scores = [normalize(ll, c) for ll, c in zip(lls, item.choices, strict=True)]
            theirs_pred = max(range(len(scores)), key=lambda i: (scores[i], -i))
            if theirs_pred != mine[name]:
                ours_scores = [normalize(ll, c) for ll, c in zip(mine["loglikelihoods"], item.choices, strict=True)]
                top = sorted(ours_scores, reverse=True)
                reason = (
                    f"near tie: our top two differ by {top[0] - top[1]:.2e} nats, the programs' scores by up to "
                    f"{max(abs(a - b) for a, b in zip(ours_scores, scores, strict=True)):.2e}"
                    if top[0] - top[1] < tolerance
                    else "not a tie: inspect the prompts and token ids"
                )
                differences.append(
                    {"id": item.id, "metric": name, "ours": mine[name], "lm_eval": theirs_pred, "reason": reason}
                )
    return {"prompts_identical": prompts_equal, "max_abs_loglikelihood_gap": max_gap, "differences": differences}


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import hfpretrain  # noqa: F401  (registers hfpretrain_gpt with the Auto classes, for HFLM too)

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    model_dir = Path(args.model) if args.model else train_model(work, args.steps, args.vocab_size)
    valid, fewshot = write_inputs(work, args.limit, max(args.shots), args.seed)
    items, skipped = load_multiple_choice(valid)
    train_items, _ = load_multiple_choice(JGLUE / "jcommonsenseqa-train-v1.3.jsonl")
    prompt = PromptFormat()

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = []
    with tempfile.TemporaryDirectory() as task_dir:
        write_task(Path(task_dir), valid, fewshot, prompt)
        for k in args.shots:
            started = time.time()
            ours = evaluate_multiple_choice(
                model, tokenizer, items, train_items, k=k, seed=args.seed, prompt=prompt, batch_size=args.batch_size
            )
            ours_seconds = time.time() - started
            started = time.time()
            theirs, samples = lm_eval_samples(model_dir, Path(task_dir), k, args.batch_size)
            theirs_seconds = time.time() - started
            check = compare(ours, samples, items, prompt, k, args.seed, args.tie_tolerance)
            rows.append(
                {
                    "k": k,
                    "n": ours.n,
                    "ours": {m: getattr(ours, m) for m in ("acc", "acc_norm", "acc_bytes")},
                    "lm_eval": {m: theirs[f"{m},none"] for m in ("acc", "acc_norm", "acc_bytes")},
                    "ci95": ours.ci95,
                    "chance": ours.chance,
                    "seconds": {"ours": round(ours_seconds, 1), "lm_eval": round(theirs_seconds, 1)},
                    **check,
                }
            )

    print(f"\nJCommonsenseQA valid, {len(items)} questions (seed {args.seed}; skipped lines: {dict(skipped) or 0})")
    print(f"model: {model_dir}\n")
    print("| k | metric | ours | lm-eval | ours 95% CI (Wilson) | chance | prompts identical | max |Δll| |")
    print("|---|---|---:|---:|---|---:|---:|---:|")
    for row in rows:
        for m in ("acc", "acc_norm", "acc_bytes"):
            low, high = row["ci95"][m]
            gap, same = row["max_abs_loglikelihood_gap"], f"{row['prompts_identical']}/{row['n']}"
            print(
                f"| {row['k']} | {m} | {row['ours'][m]:.4f} | {row['lm_eval'][m]:.4f} | [{low:.3f}, {high:.3f}] | "
                f"{row['chance']:.2f} | {same} | {gap:.1e} |"
            )
    for row in rows:
        print(f"\nk={row['k']}: {len(row['differences'])} differing predictions; seconds {row['seconds']}")
        for d in row["differences"]:
            print(f"  q_id {d['id']} {d['metric']}: ours {d['ours']}, lm-eval {d['lm_eval']} — {d['reason']}")
    result = {"args": vars(args), "model": str(model_dir), "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
