"""Perplexity of a causal language model on texts (hfpretrain, local evaluate module)."""

import evaluate

from hfpretrain.evaluation.evaluate_modules import ARGUMENTS, compute_for_evaluate, metric_info

_DESCRIPTION = (
    "Perplexity: exp of the mean negative log-likelihood per token. `perplexity` is token-weighted over all texts "
    "(total NLL / total tokens); `perplexities` and `mean_perplexity` are per text and their plain mean. Each text "
    "is scored after the end-of-text token, with a strided sliding window beyond the model's context. Perplexity "
    "depends on the tokenizer: compare models with different tokenizers by bits per byte or per character."
)
_RETURNS = "perplexity (float), perplexities (list of float), mean_perplexity (float), tokens (int)."


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, ARGUMENTS + _RETURNS)
class Perplexity(evaluate.Metric):
    def _info(self):
        return metric_info(_DESCRIPTION, _RETURNS, "https://huggingface.co/docs/transformers/perplexity")

    def _compute(self, predictions, **kwargs):
        result = compute_for_evaluate(predictions, **kwargs)
        per_text = [doc["perplexity"] for doc in result["per_document"]]
        return {
            "perplexity": result["perplexity"],
            "perplexities": per_text,
            "mean_perplexity": sum(per_text) / len(per_text) if per_text else float("nan"),
            "tokens": result["tokens"],
        }
