"""Our metrics as local `evaluate` modules: `evaluate.load(module_path("bits_per_byte"))` works offline, where
`evaluate.load("perplexity")` would fetch a script from the Hub.

Each module scores texts (`predictions`) under a causal LM (`model_id`: a folder that `AutoModelForCausalLM`
loads, or `model=` and `tokenizer=` objects) with `hfpretrain.evaluation.metrics.evaluate_texts`: the corpus figure
is token-weighted, and the per-text figures come beside it.

    import evaluate
    from hfpretrain.evaluation.evaluate_modules import module_path

    bpb = evaluate.load(module_path("bits_per_byte"))
    bpb.compute(predictions=["吾輩は猫である。"], model_id="runs/ja-small/final")
"""

from pathlib import Path

MODULES = ("perplexity", "bits_per_character", "bits_per_byte")


def module_path(name: str) -> str:
    """The folder of one of our `evaluate` modules, for `evaluate.load`."""
    if name not in MODULES:
        raise ValueError(f"unknown metric {name!r}; ours are {', '.join(MODULES)}")
    return str(Path(__file__).parent / name)


ARGUMENTS = """
Args:
    predictions (list of str): the texts to score.
    model_id (str): a folder (or Hub id) that AutoModelForCausalLM and AutoTokenizer load; or pass
        model= and tokenizer= objects instead.
    batch_size (int): windows per forward pass (8). max_length, stride: the sliding window (model context, half).
    device (str): where to load model_id ("cpu", "cuda"). trust_remote_code (bool): for models that need it.
Returns:
"""


def metric_info(description: str, returns: str, reference: str):
    """The `evaluate.MetricInfo` of one of our modules: texts in, figures out."""
    import datasets
    import evaluate

    return evaluate.MetricInfo(
        module_type="metric",
        description=description,
        citation="",
        inputs_description=ARGUMENTS + "    " + returns + "\n",
        features=datasets.Features({"predictions": datasets.Value("string")}),
        reference_urls=[reference],
    )


def compute_for_evaluate(
    predictions,
    model_id=None,
    model=None,
    tokenizer=None,
    batch_size: int = 8,
    max_length: int | None = None,
    stride: int | None = None,
    device: str | None = None,
    trust_remote_code: bool = False,
) -> dict:
    """What the three modules share: load the model (unless given), score every text, keep per-text figures."""
    from .. import metrics

    if model is None:
        if model_id is None:
            raise ValueError("pass model_id= (a local model folder or Hub id) or model= and tokenizer=")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_id, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(model_id, trust_remote_code=trust_remote_code)
        if device:
            model = model.to(device)
    elif tokenizer is None:
        raise ValueError("model= needs tokenizer= beside it")
    empty = [i for i, text in enumerate(predictions) if not text]
    if empty:
        raise ValueError(f"predictions {empty[:5]} are empty strings: an empty text has no characters to score")
    return metrics.evaluate_texts(
        model,
        tokenizer,
        predictions,
        max_length=max_length,
        stride=stride,
        batch_size=batch_size,
        per_document=True,
        count_words_=False,
    )
