#!/usr/bin/env python3
"""Writes test/fixtures/lora/: tiny random GPT-2 and Llama Hugging Face
folders (config.json + model.safetensors), each with a LoRA adapter made by
the real peft (`LoraConfig`, `get_peft_model`), its B factors set non-zero,
and in `expected.json`: the adapter's tensors (PEFT names, PEFT layouts),
the logits of a fixed prompt and the gradients of `sum(logits * R)` with
respect to every trainable tensor (lora_A, lora_B, modules_to_save copies).
test/fine-tuning/lora-parity.test.ts maps them onto our adapter by hand.

Run: /work/venv/bin/python test/reference/lora_core.py   (torch 2, transformers 5, peft 0.21)
"""
import json
import os
import sys

# test/reference/safetensors.py would shadow the safetensors package.
sys.path = [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(os.path.abspath(__file__))]

import peft  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'lora')
PROMPT = [3, 14, 15, 9, 2, 6, 5]


def case(name, model, lora_config):
    folder = os.path.join(OUT, name)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    peft_model = get_peft_model(model, lora_config)
    g = torch.Generator().manual_seed(1)
    trainable = {}
    with torch.no_grad():
        for key, p in peft_model.named_parameters():
            if p.requires_grad:
                # B starts at zero in peft; make every trainable tensor non-trivial.
                p.add_(torch.randn(p.shape, generator=g) * 0.2)
                trainable[key] = p
    ids = torch.tensor([PROMPT])
    logits = peft_model(input_ids=ids).logits
    weights = torch.randn(logits.shape, generator=g)
    (logits * weights).sum().backward()
    expected = {
        'peft_version': peft.__version__,
        'transformers_version': transformers.__version__,
        'config': {
            'r': lora_config.r,
            'lora_alpha': lora_config.lora_alpha,
            'use_rslora': lora_config.use_rslora,
            'target_modules': sorted(lora_config.target_modules) if not isinstance(lora_config.target_modules, str) else lora_config.target_modules,
            'modules_to_save': lora_config.modules_to_save,
        },
        'prompt': PROMPT,
        'logits': logits.detach().reshape(-1).tolist(),
        'logits_shape': list(logits.shape),
        'loss_weights': weights.reshape(-1).tolist(),
        'tensors': {k: {'shape': list(p.shape), 'values': p.detach().reshape(-1).tolist()} for k, p in trainable.items()},
        'grads': {k: p.grad.reshape(-1).tolist() for k, p in trainable.items()},
    }
    with open(os.path.join(folder, 'expected.json'), 'w') as f:
        json.dump(expected, f)
    print(name, sorted(trainable)[:4], len(trainable))


torch.manual_seed(0)
gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=2, n_head=4))
case('gpt2', gpt2, LoraConfig(r=4, lora_alpha=8, target_modules=['c_attn', 'c_proj'], fan_in_fan_out=True,
                              modules_to_save=['ln_f']))

torch.manual_seed(0)
llama = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16,
                                     tie_word_embeddings=False))
case('llama', llama, LoraConfig(r=2, lora_alpha=5, use_rslora=True, target_modules=['q_proj', 'v_proj', 'down_proj']))
