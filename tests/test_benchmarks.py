"""Smoke test: the speed benchmark runs end to end on tiny settings (its numbers are checked by people, not here)."""

import importlib.util
from pathlib import Path


def test_model_speed_benchmark_runs(tmp_path):
    path = Path(__file__).parents[1] / "benchmarks" / "model_speed.py"
    spec = importlib.util.spec_from_file_location("model_speed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(
        [
            "--seq-len",
            "32",
            "--batch-size",
            "2",
            "--reps",
            "1",
            "--inner",
            "1",
            "--gen-batch-sizes",
            "2",
            "--new-tokens",
            "4",
            "--gen-reps",
            "1",
            "--peak-n",
            "64",
            "--peak-seconds",
            "0.05",
            "--json",
            str(tmp_path / "out.json"),
        ]
    )
    kinds = {(r["bench"], r["family"], r.get("precision")) for r in rows}
    assert ("train", "gpt2", "bf16") in kinds and ("train", "modern", "fp32") in kinds
    assert ("generate", "modern", None) in kinds
    assert all(r["speedup"] > 0 for r in rows)
    assert (tmp_path / "out.json").is_file()
