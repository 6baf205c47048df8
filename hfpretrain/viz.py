"""Attention maps: which earlier tokens each token attends to, per layer and head and averaged, as PNG.

The model runs with the eager attention reference (the fused kernels return no weights). Token labels are the text
each token spells; byte-fallback pieces of one character are shown as that character with a `·` per extra piece.
Japanese labels are drawn with IPAexGothic from the `matplotlib-fontja` package.
"""

import contextlib
from pathlib import Path

import torch


def token_labels(tokenizer, ids: list[int]) -> list[str]:
    """Readable label per token: its text (spaces as ␣, newlines as ⏎). A character spelled in byte tokens
    (<0xE5><0x90><0xBE>) is shown on its first byte token, and its other byte tokens as ·."""
    from .tokenizer import is_byte_token

    pieces = tokenizer.convert_ids_to_tokens(ids)
    labels: list[str] = []
    pending: list[int] = []  # positions of byte tokens not yet forming a character

    def flush():
        data = bytes(int(pieces[p][3:5], 16) for p in pending)
        text = data.decode("utf-8", errors="replace")
        chars = list(text) + ["·"] * max(0, len(pending) - len(text))
        # the first byte of each character carries it; continuation bytes get ·
        at = 0
        for p in pending:
            lead = (int(pieces[p][3:5], 16) & 0xC0) != 0x80
            labels.append(chars[at] if lead and at < len(chars) else "·")
            at += lead
        pending.clear()

    for position, (token_id, piece) in enumerate(zip(ids, pieces, strict=True)):
        if piece is not None and is_byte_token(piece):
            pending.append(position)
            continue
        if pending:
            flush()
        text = tokenizer.decode([token_id], skip_special_tokens=False) or "·"
        labels.append(text.replace(" ", "␣").replace("\n", "⏎"))
    if pending:
        flush()
    return labels


@torch.no_grad()
def attention_weights(model, tokenizer, prompt: str) -> tuple[torch.Tensor, list[str]]:
    """Attention probabilities (layers, heads, tokens, tokens) of the prompt, and the token labels."""
    from .generation import encode_prompt

    if model.config._attn_implementation != "eager":
        model.set_attn_implementation("eager")
    inputs = encode_prompt(tokenizer, prompt, model.device)
    out = model(**inputs, output_attentions=True)
    weights = torch.stack([a[0] for a in out.attentions]).float().cpu()
    return weights, token_labels(tokenizer, inputs["input_ids"][0].tolist())


def plot_attention(
    weights: torch.Tensor,
    labels: list[str],
    output: str | Path,
    layer: int | None = None,
    head: int | None = None,
    title: str = "",
) -> Path:
    """One heatmap for (layer, head) or a layer's heads, or a grid of every layer × head plus each layer's average
    (rows: layers; columns: heads, then the mean)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with contextlib.suppress(ImportError):
        import matplotlib_fontja  # noqa: F401  — registers IPAexGothic for Japanese labels
    layers, heads, n, _ = weights.shape
    if layer is not None and not 0 <= layer < layers:
        raise ValueError(f"layer {layer} does not exist: the model has layers 0..{layers - 1}")
    if head is not None and not 0 <= head < heads:
        raise ValueError(f"head {head} does not exist: the model has heads 0..{heads - 1}")
    panels = []  # (row, column, matrix, name)
    rows = [layer] if layer is not None else list(range(layers))
    for r, lay in enumerate(rows):
        columns = [head] if head is not None else list(range(heads))
        for col, h in enumerate(columns):
            panels.append((r, col, weights[lay, h], f"layer {lay} head {h}"))
        if head is None:
            panels.append((r, len(columns), weights[lay].mean(0), f"layer {lay} mean"))
    n_rows = len(rows)
    n_cols = max(p[1] for p in panels) + 1
    size = max(2.2, 0.28 * n + 1.0)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows), squeeze=False, dpi=100)
    show_labels = n <= 40
    for r, col, matrix, name in panels:
        ax = axes[r][col]
        ax.imshow(matrix.numpy(), cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_title(name, fontsize=8)
        if show_labels:
            ax.set_xticks(range(n), labels, rotation=90, fontsize=6)
            ax.set_yticks(range(n), labels, fontsize=6)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
    for r in range(n_rows):
        for col in range(n_cols):
            if not any(p[0] == r and p[1] == col for p in panels):
                axes[r][col].axis("off")
    fig.suptitle(title or "attention: rows attend to columns (earlier tokens)", fontsize=10)
    fig.tight_layout()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    plt.close(fig)
    return output


def attention_map(
    model_dir: str, prompt: str, output: str | Path, layer: int | None = None, head: int | None = None
) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="eager").eval()
    weights, labels = attention_weights(model, tokenizer, prompt)
    return plot_attention(weights, labels, output, layer, head, title=f"{Path(model_dir).name}: {prompt[:40]}")
