"""AdamW with decoupled weight decay on matrices only, and the learning-rate schedules."""

import math

import torch
from torch import nn


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on the weight matrices of linear layers only: not on norms, biases or embeddings (decaying an
    embedding pulls rare tokens' vectors to zero; decaying gains and biases fights the normalization). A tied
    output head shares the embedding matrix and so is not decayed either."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    decay, no_decay = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        if param.ndim >= 2 and id(param) not in embeddings:
            decay.append(param)
        else:
            no_decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, o, device: torch.device) -> torch.optim.Optimizer:
    """AdamW, fused on CUDA (one kernel for all parameters) and foreach elsewhere."""
    kwargs = dict(lr=o.learning_rate, betas=(o.beta1, o.beta2), eps=o.eps)
    if device.type == "cuda":
        kwargs["fused"] = True
    else:
        kwargs["foreach"] = True
    return torch.optim.AdamW(parameter_groups(model, o.weight_decay), **kwargs)


def lr_factor(step: int, total: int, warmup: int, schedule: str, min_ratio: float, decay_fraction: float) -> float:
    """Multiplier of the peak learning rate at `step` (0-based) of `total` steps."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    if schedule == "wsd":  # warmup-stable-decay (Hu et al. 2024, MiniCPM): flat, then linear decay at the end
        decay_steps = max(1, round(decay_fraction * total))
        start = total - decay_steps
        if step < start:
            return 1.0
        return 1.0 - (1.0 - min_ratio) * (step - start + 1) / decay_steps
    progress = min(1.0, (step - warmup + 1) / max(1, total - warmup))
    if schedule == "linear":
        return 1.0 - (1.0 - min_ratio) * progress
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))  # cosine (Loshchilov & Hutter)


def make_scheduler(optimizer, o, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = o.warmup_steps if o.warmup_steps is not None else round(o.warmup_fraction * total_steps)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(step, total_steps, max(warmup, 0), o.schedule, o.min_lr_ratio, o.decay_fraction),
    )
