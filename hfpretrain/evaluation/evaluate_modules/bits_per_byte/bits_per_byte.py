"""Bits per byte of a causal language model on texts (hfpretrain, local evaluate module)."""

import datasets
import evaluate

from hfpretrain.evaluation.evaluate_modules import compute_for_evaluate

_DESCRIPTION = (
    "Bits per byte: the total negative log-likelihood of the texts in bits divided by their UTF-8 bytes. "
    "It does not depend on the tokenizer, so models with different tokenizers compare. `bits_per_byte` is over all "
    "texts together; `bits_per_byte_per_text` is one figure per text. Each text is scored after the end-of-text "
    "token, with a strided sliding window beyond the model's context."
)
_KWARGS = """
Args:
    predictions (list of str): the texts to score.
    model_id (str): a folder (or Hub id) that AutoModelForCausalLM and AutoTokenizer load; or pass
        model= and tokenizer= objects instead.
    batch_size (int): windows per forward pass (8). max_length, stride: the sliding window (model context, half).
    device (str): where to load model_id ("cpu", "cuda"). trust_remote_code (bool): for models that need it.
Returns:
    bits_per_byte (float), bits_per_byte_per_text (list of float), nll_nats (float), bytes (int).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class BitsPerByte(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string")}),
            reference_urls=["https://arxiv.org/abs/2101.00027"],
        )

    def _compute(self, predictions, **kwargs):
        result = compute_for_evaluate(predictions, **kwargs)
        return {
            "bits_per_byte": result["bits_per_byte"],
            "bits_per_byte_per_text": [doc["bits_per_byte"] for doc in result["per_document"]],
            "nll_nats": result["nll_nats"],
            "bytes": result["bytes"],
        }
