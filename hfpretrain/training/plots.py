"""Pictures rendered from metrics.jsonl (never from in-memory state): the loss curve of a run."""

import json
from pathlib import Path


def read_metrics(path: str | Path) -> list[dict]:
    path = Path(path)
    return (
        [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if path.is_file()
        else []
    )


def plot_metrics(metrics_path: str | Path, out: str | Path) -> Path | None:
    """Training and validation loss against tokens (left axis), learning rate (right axis); skipped steps marked."""
    records = read_metrics(metrics_path)
    train = [r for r in records if "loss" in r and "event" not in r]
    if not train:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tokens_per_step = train[-1]["tokens"] / max(train[-1]["step"], 1)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    ax.plot([r["tokens"] for r in train], [r["loss"] for r in train], label="train loss", linewidth=1)
    evals = [r for r in records if "val_loss" in r]
    if evals:
        ax.plot(
            [r["step"] * tokens_per_step for r in evals],
            [r["val_loss"] for r in evals],
            "o-",
            label="validation loss",
            markersize=3,
        )
    for r in records:
        if r.get("event", "").startswith("skipped") or r.get("event") == "rollback":
            ax.axvline(r["step"] * tokens_per_step, color="red", alpha=0.3, linewidth=0.8)
    ax.set_xlabel("tokens")
    ax.set_ylabel("loss (nats/token)")
    ax.grid(alpha=0.3)
    lr_axis = ax.twinx()
    lr_axis.plot([r["tokens"] for r in train], [r["lr"] for r in train], color="gray", alpha=0.5, linewidth=0.8)
    lr_axis.set_ylabel("learning rate", color="gray")
    ax.legend(loc="upper right")
    ax.set_title(f"{Path(metrics_path).parent.name}: loss")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
