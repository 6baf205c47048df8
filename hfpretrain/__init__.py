"""hfpretrain: from raw text to a pretrained GPT that loads with `AutoModelForCausalLM`.

Importing the package registers `GPTConfig` / `GPTModel` / `GPTForCausalLM` with transformers' Auto classes, and
marks them so that `save_pretrained` copies their code into the folder (`auto_map`), which then loads with
`trust_remote_code=True` where hfpretrain is not installed.
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from .accounting import parameter_breakdown, training_flops_per_token
from .configuration_gpt import PRESETS, GPTConfig
from .modeling_gpt import GPTForCausalLM, GPTModel, GPTPreTrainedModel

__version__ = "0.1.0"

AutoConfig.register(GPTConfig.model_type, GPTConfig, exist_ok=True)
AutoModel.register(GPTConfig, GPTModel, exist_ok=True)
AutoModelForCausalLM.register(GPTConfig, GPTForCausalLM, exist_ok=True)
GPTConfig.register_for_auto_class()
GPTModel.register_for_auto_class("AutoModel")
GPTForCausalLM.register_for_auto_class("AutoModelForCausalLM")

__all__ = [
    "PRESETS",
    "GPTConfig",
    "GPTForCausalLM",
    "GPTModel",
    "GPTPreTrainedModel",
    "parameter_breakdown",
    "training_flops_per_token",
]
