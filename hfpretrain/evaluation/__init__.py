"""Evaluation: language-model metrics, n-gram baselines, few-shot multiple choice."""
