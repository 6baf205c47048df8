"""Atomic checkpoints: written into a temporary folder, renamed into place, then marked complete.

    checkpoints/step-000100/
        model/                 save_pretrained folder + tokenizer: loads with AutoModelForCausalLM
        state/                 Accelerate's save_state: optimizer, scheduler, RNG of every process (weights_only)
        trainer_state.json     step, tokens seen, data position, guard counters, best validation loss
        resolved_config.yaml   every setting used
        COMPLETE               written last; a folder without it is never loaded

A crash at any point leaves either the previous checkpoints untouched and a `.tmp-*` folder (removed by the next
save), or a complete new checkpoint. Old checkpoints are pruned only after the new one is complete.
"""

import json
import os
import re
import shutil
from pathlib import Path

COMPLETE = "COMPLETE"
_STEP = re.compile(r"^step-(\d+)$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}"


def complete_checkpoints(folder: str | Path) -> list[Path]:
    """Complete checkpoints under `folder`, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and _STEP.match(p.name) and (p / COMPLETE).is_file()]
    return sorted(found, key=lambda p: int(_STEP.match(p.name).group(1)))


def find_resume_checkpoint(resume: str | None, output_dir: str | Path) -> Path | None:
    """`auto`: the latest complete checkpoint of the run (None if there is none); a path: that checkpoint."""
    if resume is None:
        return None
    if resume == "auto":
        found = complete_checkpoints(Path(output_dir) / "checkpoints")
        return found[-1] if found else None
    path = Path(resume)
    if not (path / COMPLETE).is_file():
        raise FileNotFoundError(
            f"{path} is not a complete checkpoint (no {COMPLETE} marker): it may be half-written. "
            "Use --resume auto to take the latest complete one."
        )
    return path


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(
    accelerator, folder: Path, step: int, write_model, trainer_state: dict, config_path: Path, keep_last: int
) -> Path:
    """Write a checkpoint atomically. `write_model(path)` saves the model and tokenizer (main process only)."""
    final = folder / checkpoint_name(step)
    tmp = folder / f".tmp-{checkpoint_name(step)}"
    if accelerator.is_main_process:
        for leftover in folder.glob(".tmp-*"):  # a crash during an earlier save
            shutil.rmtree(leftover, ignore_errors=True)
        if final.exists():  # a re-run of the same step after a rollback
            shutil.rmtree(final)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp / "state"), safe_serialization=True)  # every process writes its RNG state
    if accelerator.is_main_process:
        write_model(tmp / "model")
        shutil.copy(config_path, tmp / "resolved_config.yaml")
        (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        os.replace(tmp, final)
        (final / COMPLETE).write_text(f"{step}\n")
        _fsync_dir(final)
        _fsync_dir(folder)
        for old in complete_checkpoints(folder)[:-keep_last] if keep_last > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator, path: Path) -> dict:
    """Restore model, optimizer, scheduler and RNG states (Accelerate loads them with weights_only=True) and return
    the trainer state."""
    accelerator.load_state(str(path / "state"))
    return json.loads((path / "trainer_state.json").read_text())
