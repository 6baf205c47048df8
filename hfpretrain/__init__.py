"""hfpretrain: from raw text to a pretrained GPT that loads with `AutoModelForCausalLM`.

Importing the package registers `GPTConfig` / `GPTModel` / `GPTForCausalLM` (and the ladder's MLP, RNN and
attention-only models, `modeling_ladder.py`) with transformers' Auto classes, and
marks them so that `save_pretrained` copies their code into the folder (`auto_map`), which then loads with
`trust_remote_code=True` where hfpretrain is not installed.
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from .accounting import parameter_breakdown, training_flops_per_token
from .configuration_gpt import PRESETS, GPTConfig
from .configuration_ladder import AttentionLMConfig, MLPLMConfig, RNNLMConfig
from .modeling_gpt import GPTForCausalLM, GPTModel, GPTPreTrainedModel
from .modeling_ladder import LADDER_MODELS, AttentionLMForCausalLM, MLPLMForCausalLM, RNNLMForCausalLM

__version__ = "0.1.0"

AutoConfig.register(GPTConfig.model_type, GPTConfig, exist_ok=True)
AutoModel.register(GPTConfig, GPTModel, exist_ok=True)
AutoModelForCausalLM.register(GPTConfig, GPTForCausalLM, exist_ok=True)
GPTConfig.register_for_auto_class()
GPTModel.register_for_auto_class("AutoModel")
GPTForCausalLM.register_for_auto_class("AutoModelForCausalLM")
# The ladder's MLP, RNN and attention-only models (`hfpretrain ladder`), registered the same way.
for _config_class, _model_class in LADDER_MODELS.values():
    AutoConfig.register(_config_class.model_type, _config_class, exist_ok=True)
    AutoModelForCausalLM.register(_config_class, _model_class, exist_ok=True)
    _config_class.register_for_auto_class()
    _model_class.register_for_auto_class("AutoModelForCausalLM")

__all__ = [
    "PRESETS",
    "AttentionLMConfig",
    "AttentionLMForCausalLM",
    "GPTConfig",
    "GPTForCausalLM",
    "GPTModel",
    "GPTPreTrainedModel",
    "MLPLMConfig",
    "MLPLMForCausalLM",
    "RNNLMConfig",
    "RNNLMForCausalLM",
    "parameter_breakdown",
    "training_flops_per_token",
]
