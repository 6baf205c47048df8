"""The training loop: a tiny run, exact resume, atomic checkpoints, guards, config errors, several processes."""

import json
import math
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from hfpretrain.training.checkpoint import COMPLETE, complete_checkpoints
from hfpretrain.training.config import PretrainConfig, config_from_dict, load_config
from hfpretrain.training.loop import TrainingError, train

ROOT = Path(__file__).resolve().parents[1]
_TEXT = (
    "the cat sat on a mat and looked at the dog which ran to the park where children played with a red ball "
    "while their parents talked about the weather and the news of the day"
)
WORDS = _TEXT.split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A small English corpus (structured enough to learn) and a tokenizer trained on it."""
    from hfpretrain.tokenizer import TokenizerTrainingConfig, train_tokenizer

    folder = tmp_path_factory.mktemp("corpus")
    rng = random.Random(0)
    docs = []
    for _ in range(300):
        start = rng.randrange(len(WORDS) - 12)
        docs.append(" ".join(WORDS[start : start + rng.randint(8, 12)]).capitalize() + ".")
    (folder / "train.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    train_tokenizer(
        [str(folder / "train.jsonl")], TokenizerTrainingConfig(vocab_size=384, show_progress=False), folder / "tok"
    )
    return folder


def make_config(corpus, out, **changes) -> PretrainConfig:
    sections = {
        "model": {"preset": "gpt-debug", "overrides": {"max_position_embeddings": 64}},
        "data": {
            "tokenizer": str(corpus / "tok"),
            "train": [str(corpus / "train.jsonl")],
            "seq_len": 32,
            "valid_fraction": 0.1,
        },
        "optimization": {
            "global_batch_tokens": 256,
            "micro_batch_size": 4,
            "max_steps": 12,
            "learning_rate": 3e-3,
            "warmup_steps": 2,
            "mixed_precision": "no",
        },
        "checkpointing": {"output_dir": str(out), "save_every": 4, "keep_last": 3},
        "logging": {"log_every": 1, "eval_every": 6, "eval_sequences": 16, "trackers": [], "progress_bar": False},
    }
    for key, value in changes.items():
        section, name = key.split("__")
        sections.setdefault(section, {})[name] = value
    return config_from_dict(sections)


def losses(run_dir) -> dict[int, float]:
    """The last logged training loss of every step (a resumed run logs the replayed steps again)."""
    out = {}
    for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "loss" in record and "event" not in record:
            out[record["step"]] = record["loss"]
    return out


def test_tiny_run_beats_the_unigram_baseline_and_writes_the_run_folder(corpus, tmp_path):
    config = make_config(corpus, tmp_path / "run", optimization__max_steps=40, logging__eval_every=20)
    summary = train(config)
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "val_loss" in r]
    assert {"step", "loss", "lr", "tokens_per_second"} <= set(records[0])
    assert {"val_loss", "val_bits_per_char", "val_bits_per_byte", "val_perplexity"} <= set(evals[-1])
    # Unigram baseline on the same validation tokens, estimated from the training shard with add-one smoothing.
    from hfpretrain.data.shards import PackedTokenDataset

    shard = PackedTokenDataset(run / "data_cache" / "train", 8)
    train_tokens = shard.tokens(0, shard.num_tokens).tolist()
    counts, total = Counter(train_tokens), len(train_tokens)
    vocab = 384
    valid = PackedTokenDataset(run / "data_cache" / "valid", 8)
    valid_tokens = valid.tokens(1, valid.num_tokens).tolist()
    unigram = -sum(math.log((counts[t] + 1) / (total + vocab)) for t in valid_tokens) / len(valid_tokens)
    assert evals[-1]["val_loss"] < unigram - 0.5, (evals[-1]["val_loss"], unigram)
    assert summary["steps"] == 40 and summary["best_val_loss"] == min(r["val_loss"] for r in evals)
    for name in (
        "resolved_config.yaml",
        "final/config.json",
        "final/model.safetensors",
        "final/tokenizer.json",
        "plots/loss.png",
    ):
        assert (run / name).is_file(), name
    # Any checkpoint loads with AutoModelForCausalLM and generates.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    checkpoint = complete_checkpoints(run / "checkpoints")[0] / "model"
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    out = model.generate(**tokenizer("The cat", return_tensors="pt"), max_new_tokens=5, do_sample=False)
    assert out.shape[1] > 2


def test_exact_resume_after_a_crash(corpus, tmp_path):
    reference = tmp_path / "reference"
    train(make_config(corpus, reference))

    def crash(step):
        if step == 6:
            raise KeyboardInterrupt("killed")

    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(make_config(corpus, run), hooks={"after_step": crash})
    assert [p.name for p in complete_checkpoints(run / "checkpoints")] == ["step-0000004"]
    train(make_config(corpus, run, checkpointing__resume="auto"))
    assert losses(run) == losses(reference)  # every loss, bit for bit
    from safetensors.torch import load_file

    a, b = load_file(reference / "final" / "model.safetensors"), load_file(run / "final" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_crash_during_a_checkpoint_write_never_loads_it(corpus, tmp_path, monkeypatch):
    import hfpretrain.training.checkpoint as checkpoint

    run = tmp_path / "run"
    original = checkpoint.save_checkpoint
    calls = {"n": 0}

    def flaky(accelerator, folder, step, write_model, trainer_state, config_path, keep_last):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint dies half-written
            (folder / f".tmp-{checkpoint.checkpoint_name(step)}").mkdir(parents=True)
            (folder / f".tmp-{checkpoint.checkpoint_name(step)}" / "trainer_state.json").write_text("{")
            raise OSError("disk full")
        return original(accelerator, folder, step, write_model, trainer_state, config_path, keep_last)

    monkeypatch.setattr("hfpretrain.training.loop.save_checkpoint", flaky)
    with pytest.raises(OSError):
        train(make_config(corpus, run))
    assert [p.name for p in complete_checkpoints(run / "checkpoints")] == ["step-0000004"]
    assert list((run / "checkpoints").glob(".tmp-*"))
    monkeypatch.setattr("hfpretrain.training.loop.save_checkpoint", original)
    summary = train(make_config(corpus, run, checkpointing__resume="auto"))
    assert summary["steps"] == 12
    assert not list((run / "checkpoints").glob(".tmp-*"))  # cleaned by the next save
    assert all((p / COMPLETE).is_file() for p in complete_checkpoints(run / "checkpoints"))
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        train(make_config(corpus, tmp_path / "x", checkpointing__resume=str(run / "checkpoints" / "missing")))


def test_nonfinite_loss_never_reaches_the_weights(corpus, tmp_path):
    poisoned = []

    def poison(step, loss):  # one micro-batch of step 5, once
        if step == 5 and not poisoned:
            poisoned.append(step)
            return loss * float("nan")
        return loss

    summary = train(make_config(corpus, tmp_path / "run", optimization__spike_factor=None), hooks={"loss": poison})
    assert summary["skipped_nonfinite"] == 1 and summary["steps"] == 12
    from safetensors.torch import load_file

    weights = load_file(tmp_path / "run" / "final" / "model.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e.get("event") == "skipped_nonfinite"] == [5]


def test_spikes_are_skipped_and_repeated_spikes_roll_back(corpus, tmp_path):
    spiked = []

    def spike(step, loss):  # the two micro-batches of steps 9 and 10, once each
        if step in (9, 10) and spiked.count(step) < 2:
            spiked.append(step)
            return loss * 50
        return loss

    config = make_config(
        corpus,
        tmp_path / "run",
        optimization__spike_warmup_steps=4,
        optimization__rollback_after_spikes=2,
        optimization__max_steps=14,
    )
    summary = train(config, hooks={"loss": spike})
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    spikes = [e for e in events if e.get("event") == "skipped_spike"]
    assert len(spikes) >= 2 and all(len(e["sequences"]) == 8 for e in spikes)  # which sequences it held
    rollback = next(e for e in events if e.get("event") == "rollback")
    assert rollback["to"] == "step-0000008" and rollback["lr_scale"] == 0.5
    assert summary["rollbacks"] == 1 and summary["steps"] == 14


def test_config_errors_name_the_problem(corpus, tmp_path):
    with pytest.raises(ValueError, match=r"Unknown setting 'max_stpes'.*max_steps"):
        config_from_dict({"optimization": {"max_stpes": 3}})
    with pytest.raises(ValueError, match="Unknown setting 'optimisation'"):
        config_from_dict({"optimisation": {}})
    with pytest.raises(ValueError, match="multiple of seq_len"):
        make_config(corpus, tmp_path, optimization__global_batch_tokens=100).validate()
    with pytest.raises(ValueError, match="Set max_steps or max_tokens"):
        make_config(corpus, tmp_path, optimization__max_steps=None).validate()
    with pytest.raises(TrainingError, match="micro_batch_size"):
        train(make_config(corpus, tmp_path / "a", optimization__global_batch_tokens=96, data__seq_len=32))
    with pytest.raises(TrainingError, match="fp16 does nothing on a CPU"):
        train(make_config(corpus, tmp_path / "b", optimization__mixed_precision="fp16"))
    yaml_path = tmp_path / "bad.yaml"
    yaml_path.write_text("model:\n  preset: gpt-debug\nlogging:\n  evry: 3\n")
    with pytest.raises(ValueError, match="Unknown setting 'evry' in section 'logging'"):
        load_config(["--config", str(yaml_path), "--max_steps", "3"])


def test_resume_refuses_changes_to_shapes_or_data_order(corpus, tmp_path):
    run = tmp_path / "run"
    train(make_config(corpus, run, optimization__max_steps=4))
    with pytest.raises(TrainingError, match=r"seq_len: checkpoint 32, now 16"):
        train(make_config(corpus, run, checkpointing__resume="auto", data__seq_len=16, optimization__max_steps=8))
    summary = train(
        make_config(
            corpus,
            run,
            checkpointing__resume="auto",
            optimization__seed=3,
            optimization__max_steps=6,
            checkpointing__allow_config_change=True,
        )
    )
    assert summary["steps"] == 6


def test_flags_override_yaml(tmp_path):
    yaml_path = tmp_path / "r.yaml"
    yaml_path.write_text("data:\n  train: [x.jsonl]\n  seq_len: 64\noptimization:\n  max_steps: 10\n")
    config = load_config(
        [
            "--config",
            str(yaml_path),
            "--max_steps",
            "3",
            "--output_dir",
            "o",
            "--resume",
            "auto",
            "--seed",
            "7",
            "--push_to_hub",
            "--hub_model_id",
            "org/name",
            "--trackers",
        ]
    )
    assert config.optimization.max_steps == 3 and config.data.seq_len == 64 and config.optimization.seed == 7
    assert config.hub.push_to_hub is True and config.hub.hub_model_id == "org/name" and config.logging.trackers == []
    assert config.checkpointing.resume == "auto" and config.checkpointing.output_dir == "o"


def _launch(args: list[str], processes: int, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ACCELERATE_USE_CPU": "true",
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        **(env_extra or {}),
    }
    if processes == 1:
        command = [sys.executable, str(ROOT / "recipes" / "pretrain.py"), *args]
    else:
        command = [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            str(processes),
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "--main_process_port",
            "29517",
            str(ROOT / "recipes" / "pretrain.py"),
            *args,
        ]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def test_two_processes_match_one_and_resume_exactly(corpus, tmp_path):
    import yaml

    config = make_config(corpus, tmp_path / "unused").to_dict()
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(config))
    one = _launch(["--config", str(recipe), "--output_dir", str(tmp_path / "one")], 1)
    assert one.returncode == 0, one.stderr[-3000:]
    two = _launch(["--config", str(recipe), "--output_dir", str(tmp_path / "two")], 2)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert a.keys() == b.keys()
    assert all(abs(a[k] - b[k]) < 1e-4 * max(1.0, abs(a[k])) for k in a), (a, b)
    # Two processes stopped at step 6 (a time-limited job), resumed: every loss bit for bit.
    stopped = _launch(
        ["--config", str(recipe), "--output_dir", str(tmp_path / "two_resumed"), "--stop_after_step", "6"], 2
    )
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    resumed = _launch(["--config", str(recipe), "--output_dir", str(tmp_path / "two_resumed"), "--resume", "auto"], 2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert losses(tmp_path / "two_resumed") == b


def test_several_processes_without_distribution_are_refused(corpus, tmp_path):
    import yaml

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(make_config(corpus, tmp_path / "x").to_dict()))
    result = _launch(["--config", str(recipe)], 1, {"WORLD_SIZE": "2", "ACCELERATE_USE_CPU": "false"})
    assert result.returncode != 0 and "unsynchronized" in result.stderr


def test_endless_skips_stop_with_an_error(corpus, tmp_path):
    config = make_config(corpus, tmp_path / "run", optimization__max_consecutive_skips=3)
    with pytest.raises(TrainingError, match="4 steps in a row were skipped"):
        train(config, hooks={"loss": lambda step, loss: loss * float("inf") if step >= 2 else loss})


def test_export_format_and_tensorboard(corpus, tmp_path):
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    run = tmp_path / "run"
    train(
        make_config(
            corpus,
            run,
            optimization__max_steps=4,
            checkpointing__export_format="llama",
            logging__trackers=["tensorboard"],
        )
    )
    exported = AutoModelForCausalLM.from_pretrained(run / "final-llama")
    assert isinstance(exported, LlamaForCausalLM)
    assert (run / "final-llama" / "tokenizer.json").is_file()
    assert list((run / "tracker").rglob("events.out.tfevents*"))


def test_push_to_hub_from_the_recipe_against_a_loopback_hub(corpus, tmp_path):
    import yaml

    from .test_hub import StandInHub

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(make_config(corpus, tmp_path / "unused").to_dict()))
    with StandInHub() as hub:
        result = _launch(
            [
                "--config",
                str(recipe),
                "--output_dir",
                str(tmp_path / "run"),
                "--max_steps",
                "4",
                "--push_to_hub",
                "--hub_model_id",
                "tester/tiny-gpt",
                "--hub_private",
            ],
            1,
            {"HF_ENDPOINT": hub.endpoint, "HF_HUB_OFFLINE": "0", "HF_TOKEN": hub.token, "HF_HOME": str(tmp_path / "h")},
        )
    assert result.returncode == 0, result.stderr[-3000:]
    commit = hub.commits[-1]
    assert commit["repo"] == "tester/tiny-gpt"
    files = commit["files"]
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "README.md",
        "resolved_config.yaml",
        "modeling_gpt.py",
    ):
        assert name in files, sorted(files)
    card = files["README.md"].decode()
    assert "tester/tiny-gpt" in card and "AutoModelForCausalLM" in card and "Validation" in card
    assert (tmp_path / "run" / "final" / "model.safetensors").read_bytes() == files["model.safetensors"]
