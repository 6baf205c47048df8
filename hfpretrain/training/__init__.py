"""Pretraining with Accelerate: configuration (`config`), data (`data`), optimizer and schedules (`optim`), atomic
checkpoints (`checkpoint`), the loop (`loop`), plots, and the Hub push (`hub`)."""

from .config import PretrainConfig, load_config
from .loop import TrainingError, main, train

__all__ = ["PretrainConfig", "TrainingError", "load_config", "main", "train"]
