"""Bits per character of a causal language model on texts (hfpretrain, local evaluate module)."""

import evaluate

from hfpretrain.evaluation.evaluate_modules import ARGUMENTS, compute_for_evaluate, metric_info

_DESCRIPTION = (
    "Bits per character: the total negative log-likelihood of the texts in bits divided by their characters "
    "(Unicode code points). It does not depend on the tokenizer, so models with different tokenizers compare. "
    "`bits_per_character` is over all texts together; `bits_per_character_per_text` is one figure per text. "
    "Each text is scored after the end-of-text token, with a strided sliding window beyond the model's context."
)
_RETURNS = (
    "bits_per_character (float), bits_per_character_per_text (list of float), nll_nats (float), characters (int)."
)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, ARGUMENTS + _RETURNS)
class BitsPerCharacter(evaluate.Metric):
    def _info(self):
        return metric_info(_DESCRIPTION, _RETURNS, "https://arxiv.org/abs/2101.00027")

    def _compute(self, predictions, **kwargs):
        result = compute_for_evaluate(predictions, **kwargs)
        return {
            "bits_per_character": result["bits_per_char"],
            "bits_per_character_per_text": [doc["bits_per_char"] for doc in result["per_document"]],
            "nll_nats": result["nll_nats"],
            "characters": result["chars"],
        }
