import pytest
from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError

from hfpretrain import PRESETS, GPTConfig
from hfpretrain.configuration_gpt import default_intermediate_size

from .conftest import TINY


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (
            dict(hidden_size=30),
            ["hidden_size (30) must be divisible by num_attention_heads (4)", "Change num_attention_heads"],
        ),
        (dict(num_key_value_heads=3), ["num_key_value_heads (3) must divide num_attention_heads (4)", "[1, 2, 4]"]),
        (dict(num_hidden_layers=0), ["num_hidden_layers must be a positive integer", "Set num_hidden_layers"]),
        (dict(vocab_size=-5), ["vocab_size must be a positive integer"]),
        (dict(intermediate_size=0), ["intermediate_size must be a positive integer"]),
        (dict(hidden_size=36, num_attention_heads=12, position_embedding_type="rope"), ["head_dim", "must be even"]),
        (dict(hidden_size=2, num_attention_heads=2, position_embedding_type="sinusoidal"), []),
        (dict(dropout=1.0), ["dropout is a probability in [0, 1)"]),
        (dict(attention_dropout=-0.1), ["attention_dropout is a probability"]),
        (dict(norm_eps=0.0), ["norm_eps must be > 0"]),
        (dict(initializer_range=-1.0), ["initializer_range must be > 0"]),
        (dict(rope_theta=0.0), ["rope_theta must be > 0"]),
        (dict(eos_token_id=97), ["eos_token_id (97) is outside the vocabulary [0, 97)", "raise vocab_size"]),
        (dict(pad_token_id=-1), ["pad_token_id (-1) is outside the vocabulary"]),
        (dict(bos_token_id=500), ["bos_token_id (500) is outside the vocabulary"]),
    ],
)
def test_validation_errors_name_the_field(overrides, fragments):
    if not fragments:  # a valid edge case: must construct
        GPTConfig(**{**TINY, **overrides})
        return
    with pytest.raises(StrictDataclassClassValidationError) as err:
        GPTConfig(**{**TINY, **overrides})
    for fragment in fragments:
        assert fragment in str(err.value)


@pytest.mark.parametrize(
    "field, value",
    [
        ("hidden_act", "gelu_new"),
        ("position_embedding_type", "alibi"),
        ("norm_type", "batchnorm"),
        ("hidden_size", "768"),
        ("qk_norm", "yes"),
    ],
)
def test_type_and_choice_errors_name_the_field(field, value):
    with pytest.raises(StrictDataclassFieldValidationError) as err:
        GPTConfig(**{**TINY, field: value})
    assert f"'{field}'" in str(err.value)


def test_assignment_is_validated_too():
    config = GPTConfig(**TINY)
    with pytest.raises(StrictDataclassFieldValidationError):
        config.norm_type = "groupnorm"


def test_intermediate_size_default():
    assert GPTConfig(**TINY, hidden_act="gelu").intermediate_size == 4 * 32
    # SwiGLU: 2/3 of 4h rounded up to 64 keeps the parameter count of a 4h non-gated MLP (Shazeer 2020).
    assert default_intermediate_size(768, "swiglu") == 2048
    assert GPTConfig(**TINY, hidden_act="swiglu").intermediate_size == 128
    assert GPTConfig(**TINY, intermediate_size=50).intermediate_size == 50


def test_presets_build_and_override():
    for name in PRESETS:
        config = GPTConfig.from_preset(name)
        assert config.hidden_size % config.num_attention_heads == 0
    small = GPTConfig.from_preset("gpt2-small")
    assert (small.num_hidden_layers, small.hidden_size, small.num_attention_heads) == (12, 768, 12)
    assert small.position_embedding_type == "learned" and small.tie_word_embeddings and small.bias
    modern = GPTConfig.from_preset("modern-small", vocab_size=32000)
    assert modern.vocab_size == 32000
    assert (modern.position_embedding_type, modern.norm_type, modern.hidden_act) == ("rope", "rmsnorm", "swiglu")
    wider = GPTConfig.from_preset("gpt2-small", hidden_size=1024, num_attention_heads=16)
    assert wider.intermediate_size == 4096  # re-derived from the overridden width
    with pytest.raises(ValueError, match=r"Unknown preset 'gpt5'.*gpt2-small"):
        GPTConfig.from_preset("gpt5")


def test_config_round_trips_through_json(tmp_path):
    config = GPTConfig.from_preset("gpt-debug", qk_norm=True, dropout=0.1)
    config.save_pretrained(tmp_path)
    loaded = GPTConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
