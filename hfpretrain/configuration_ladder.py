"""Configurations of the ladder's neural rungs below the GPT, as transformers `PreTrainedConfig`s.

- `MLPLMConfig`: a fixed-window MLP language model (Bengio, Ducharme, Vincent & Jauvin 2003, "A Neural
  Probabilistic Language Model"): the embeddings of the last `context_size` tokens, concatenated, one tanh layer,
  a softmax over the vocabulary.
- `RNNLMConfig`: a recurrent language model (LSTM, Hochreiter & Schmidhuber 1997, or GRU, Cho et al. 2014).
- `AttentionLMConfig`: a one-layer, attention-only Transformer (no feed-forward block), the "one attention layer"
  of Elhage et al. 2021, "A Mathematical Framework for Transformer Circuits".

Each validates its fields in `validate_architecture` with a message that names the field and what to change. This
file imports only transformers and huggingface_hub (never hfpretrain): saved folders carry it as remote code.
"""

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


def _check_positive(config: PreTrainedConfig, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(config, name)
        if value is None or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}. Set {name} to a value >= 1.")


def _check_common(config: PreTrainedConfig) -> None:
    """Dropout range and special token ids, shared by the three configs."""
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"dropout is a probability in [0, 1); got {config.dropout}. Use 0.0 to disable dropout.")
    if not config.initializer_range > 0:
        raise ValueError(f"initializer_range must be > 0, got {config.initializer_range}.")
    for name in ("bos_token_id", "pad_token_id", "eos_token_id"):
        value = getattr(config, name)
        for token_id in value if isinstance(value, list) else [value]:
            if token_id is not None and not 0 <= token_id < config.vocab_size:
                raise ValueError(
                    f"{name} ({token_id}) is outside the vocabulary [0, {config.vocab_size}). Set {name} to an id "
                    "of your tokenizer, or raise vocab_size to the tokenizer's length."
                )


@strict
class MLPLMConfig(PreTrainedConfig):
    """Configuration of [`MLPLMForCausalLM`]."""

    model_type = "hfpretrain_mlp"

    vocab_size: int = 8192
    """Number of token ids (rows of the embedding and of the output layer)."""
    context_size: int = 16
    """Tokens the model sees before the one it predicts (Bengio et al. used n − 1 = 2..5 words; 16 characters or
    BPE tokens cover a few Japanese words). Tokens further back are invisible: the point of this rung."""
    embedding_size: int = 64
    """Width of each token's embedding (Bengio et al.'s m: 30..100)."""
    hidden_size: int = 512
    """Width of the tanh hidden layer (Bengio et al.'s h: 50..100, here wider because there is more compute)."""
    dropout: float = 0.0
    """Dropout on the concatenated embeddings and the hidden layer."""
    initializer_range: float = 0.1
    """Standard deviation of the normal init of weights. 0.1, the scale of the uniform(±0.1) init of Zaremba et al.
    2014 and PyTorch's word_language_model example. With GPT-2's 0.02 and no normalization the initial signals are
    tiny: on a 150k-token trial of the ladder benchmark this model stayed near the unigram (8.26 bits/char against
    7.73 with 0.1 at the same learning rate; BENCHMARKS.md, "Ladder")."""
    bos_token_id: int | None = None
    """Id of the beginning-of-sequence token, if the tokenizer has one."""
    eos_token_id: int | list[int] | None = None
    """Id of the end-of-sequence token (generation stops there)."""
    pad_token_id: int | None = None
    """Id of the padding token."""
    use_cache: bool = False
    """No cache: `generate()` feeds the whole sequence at every step (the model only reads its last window)."""
    tie_word_embeddings: bool = False
    """The output layer reads the hidden layer, not an embedding-sized vector: it cannot share the embedding."""

    def validate_architecture(self):
        _check_positive(self, ("vocab_size", "context_size", "embedding_size", "hidden_size"))
        _check_common(self)
        if self.tie_word_embeddings:
            raise ValueError("tie_word_embeddings must be False for the MLP language model (hidden_size outputs).")


@strict
class RNNLMConfig(PreTrainedConfig):
    """Configuration of [`RNNLMForCausalLM`]."""

    model_type = "hfpretrain_rnn"

    vocab_size: int = 8192
    """Number of token ids (rows of the embedding and of the output layer)."""
    cell: Literal["lstm", "gru"] = "lstm"
    """lstm (Hochreiter & Schmidhuber 1997; the default: the char-RNN baseline of Karpathy 2015) or gru (Cho et al.
    2014; 3/4 of the LSTM's weights)."""
    hidden_size: int = 256
    """Width of the embedding and of the recurrent state."""
    num_hidden_layers: int = 1
    """Stacked recurrent layers."""
    dropout: float = 0.0
    """Dropout on the embeddings, between layers and before the output layer (Zaremba et al. 2014)."""
    tie_word_embeddings: bool = True
    """Share the embedding matrix with the output layer (Press & Wolf 2017; Inan et al. 2017 for LSTMs)."""
    initializer_range: float = 0.1
    """Standard deviation of the normal init of the embedding and output weights (recurrent weights keep
    PyTorch's uniform(±1/sqrt(hidden_size)) init). 0.1 as for the MLP model (Zaremba et al. 2014's scale)."""
    bos_token_id: int | None = None
    """Id of the beginning-of-sequence token, if the tokenizer has one."""
    eos_token_id: int | list[int] | None = None
    """Id of the end-of-sequence token (generation stops there)."""
    pad_token_id: int | None = None
    """Id of the padding token."""
    use_cache: bool = False
    """No cache: `generate()` reruns the recurrence over the whole sequence at every step."""

    def validate_architecture(self):
        if self.cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be lstm or gru; got {self.cell!r}.")
        _check_positive(self, ("vocab_size", "hidden_size", "num_hidden_layers"))
        _check_common(self)


@strict
class AttentionLMConfig(PreTrainedConfig):
    """Configuration of [`AttentionLMForCausalLM`]."""

    model_type = "hfpretrain_attention"

    vocab_size: int = 8192
    """Number of token ids (rows of the embedding and of the output layer)."""
    max_position_embeddings: int = 256
    """Longest sequence; size of the learned position table."""
    hidden_size: int = 256
    """Width of the residual stream."""
    num_attention_heads: int = 4
    """Attention heads; hidden_size must be divisible by it."""
    dropout: float = 0.0
    """Dropout on embeddings and on the attention output."""
    tie_word_embeddings: bool = False
    """Untied by default: with one layer and no feed-forward block, the direct path embedding → output layer is the
    model's bigram table (Elhage et al. 2021), and tied it would be symmetric (the score of b after a equals that of
    a after b). Measured on tests/test_ladder.py's corpus: 3.40 bits/char tied, 1.43 untied, the bigram 2.35."""
    initializer_range: float = 0.02
    """Standard deviation of the normal init of weights."""
    bos_token_id: int | None = None
    """Id of the beginning-of-sequence token, if the tokenizer has one."""
    eos_token_id: int | list[int] | None = None
    """Id of the end-of-sequence token (generation stops there)."""
    pad_token_id: int | None = None
    """Id of the padding token."""
    use_cache: bool = False
    """No cache: `generate()` recomputes attention over the whole sequence at every step."""

    def validate_architecture(self):
        _check_positive(self, ("vocab_size", "max_position_embeddings", "hidden_size", "num_attention_heads"))
        _check_common(self)
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads}). Change one of them."
            )


__all__ = ["AttentionLMConfig", "MLPLMConfig", "RNNLMConfig"]
