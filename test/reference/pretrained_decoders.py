#!/usr/bin/env python3
"""Writes test/fixtures/pretrained/<name>/: tiny random-weight decoder models
built with the real transformers classes (GPT2LMHeadModel, LlamaForCausalLM
plain, with llama3 and with linear RoPE scaling, with head_dim 16 where
hidden_size / num_attention_heads is 8, Qwen2ForCausalLM plain and with a
sliding window of 4 on every layer, Phi3ForCausalLM plain and with a sliding
window of 4 and head_dim 16), each saved with save_pretrained (config.json,
model.safetensors), plus expected.json: the logits of a batch of two
prompts, the greedy generate() output (10 new tokens, do_sample=False), and
`configJson`: the config.json our family's toConfigJson must write for that
model. The script checks that from_pretrained of a folder holding only
that config.json and the same weights gives the same logits, i.e. that what
we write is read back by transformers to the same model.

Run: /work/venv/bin/python test/reference/pretrained_decoders.py
(torch 2, transformers 5.18, safetensors)
"""
import copy
import json
import os
import shutil
import sys
import tempfile

# test/reference/safetensors.py would shadow the safetensors package.
sys.path = [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(os.path.abspath(__file__))]

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    Phi3Config,
    Phi3ForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'pretrained')
V, D, L, H, KV, FF, P = 64, 32, 2, 4, 2, 48, 64
PROMPTS = [[3, 14, 15, 9, 2, 6, 53], [27, 1, 8, 28, 18, 28, 4]]
NEW_TOKENS = 10
NO_SPECIAL = dict(bos_token_id=None, eos_token_id=None, pad_token_id=None)
LLAMA_SIZES = dict(vocab_size=V, hidden_size=D, intermediate_size=FF, num_hidden_layers=L,
                   num_attention_heads=H, num_key_value_heads=KV, max_position_embeddings=P)

MODELS = {
    'gpt2': (GPT2LMHeadModel, GPT2Config(vocab_size=V, n_positions=P, n_embd=D, n_layer=L, n_head=H,
                                         **NO_SPECIAL)),
    'llama': (LlamaForCausalLM, LlamaConfig(**LLAMA_SIZES, rms_norm_eps=1e-5, **NO_SPECIAL)),
    'llama3-rope': (LlamaForCausalLM, LlamaConfig(
        **LLAMA_SIZES, rope_theta=10000.0, **NO_SPECIAL,
        rope_scaling={'rope_type': 'llama3', 'factor': 8.0, 'low_freq_factor': 1.0,
                      'high_freq_factor': 4.0, 'original_max_position_embeddings': 16})),
    'llama-linear-rope': (LlamaForCausalLM, LlamaConfig(
        **LLAMA_SIZES, rope_theta=500.0, rope_scaling={'rope_type': 'linear', 'factor': 2.0},
        **NO_SPECIAL)),
    'qwen2': (Qwen2ForCausalLM, Qwen2Config(**LLAMA_SIZES, tie_word_embeddings=True, **NO_SPECIAL)),
    'phi3': (Phi3ForCausalLM, Phi3Config(**LLAMA_SIZES, sliding_window=None, **NO_SPECIAL)),
    # head_dim 16 where hidden_size / num_attention_heads = 8: q/o projections 64 wide.
    'llama-head-dim': (LlamaForCausalLM, LlamaConfig(**LLAMA_SIZES, head_dim=16, **NO_SPECIAL)),
    # A window of 4 (7-token prompts, 10 new tokens: far past it), with fused
    # qkv_proj of head_dim 16.
    'phi3-window': (Phi3ForCausalLM, Phi3Config(**LLAMA_SIZES, sliding_window=4, head_dim=16,
                                                **NO_SPECIAL)),
    # The window on every layer (max_window_layers 0).
    'qwen2-window': (Qwen2ForCausalLM, Qwen2Config(**LLAMA_SIZES, use_sliding_window=True, sliding_window=4,
                                                   max_window_layers=0, **NO_SPECIAL)),
}


def rope_parameters(config, extra=()):
    rp = config.rope_parameters
    out = {'rope_theta': rp['rope_theta'], 'rope_type': rp.get('rope_type', 'default')}
    keys = {'linear': ['factor'],
            'llama3': ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings']}
    for k in keys.get(out['rope_type'], []) + list(extra):
        out[k] = rp[k]
    return out


def our_config_json(name, model_type, c):
    """What our family's toConfigJson writes for this model (test/pretrained checks that it does)."""
    if model_type == 'gpt2':
        return dict(architectures=['GPT2LMHeadModel'], model_type='gpt2', vocab_size=c.vocab_size,
                    n_positions=c.n_positions, n_embd=c.n_embd, n_layer=c.n_layer, n_head=c.n_head,
                    n_inner=c.n_inner or 4 * c.n_embd, activation_function=c.activation_function,
                    layer_norm_epsilon=c.layer_norm_epsilon, tie_word_embeddings=c.tie_word_embeddings)
    common = dict(vocab_size=c.vocab_size, max_position_embeddings=c.max_position_embeddings,
                  hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
                  num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
                  num_key_value_heads=c.num_key_value_heads,
                  head_dim=getattr(c, 'head_dim', None) or c.hidden_size // c.num_attention_heads,
                  hidden_act=c.hidden_act,
                  rms_norm_eps=c.rms_norm_eps, tie_word_embeddings=c.tie_word_embeddings,
                  rope_parameters=rope_parameters(c))
    arch = MODELS[name][0].__name__
    if model_type == 'llama':
        return dict(architectures=[arch], model_type='llama', **common,
                    attention_bias=c.attention_bias, mlp_bias=c.mlp_bias)
    if model_type == 'qwen2':
        window = (dict(use_sliding_window=True, sliding_window=c.sliding_window, max_window_layers=0)
                  if c.use_sliding_window else dict(use_sliding_window=False))
        return dict(architectures=[arch], model_type='qwen2', **common, **window)
    if model_type == 'phi3':
        common['rope_parameters'] = {**rope_parameters(c), 'partial_rotary_factor': 1}
        return dict(architectures=[arch], model_type='phi3', **common,
                    original_max_position_embeddings=c.max_position_embeddings,
                    sliding_window=c.sliding_window,
                    pad_token_id=None)
    raise ValueError(model_type)


def main():
    torch.manual_seed(0)
    ids = torch.tensor(PROMPTS)
    for name, (cls, config) in MODELS.items():
        config._attn_implementation = 'eager'
        model = cls(config).eval()
        with torch.no_grad():
            # Every parameter random (norms and biases too), so each is checked.
            for p in model.parameters():
                p.normal_(0, 0.3)
        folder = os.path.join(OUT, name)
        shutil.rmtree(folder, ignore_errors=True)
        model.save_pretrained(folder)
        for extra in os.listdir(folder):
            if extra not in ('config.json', 'model.safetensors'):
                os.remove(os.path.join(folder, extra))
        with torch.no_grad():
            logits = model(ids).logits
            greedy = model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False,
                                    attention_mask=torch.ones_like(ids))
        if getattr(config, 'sliding_window', None) is not None:
            # The fixture tests the window: the same weights without it give other logits.
            unwindowed = copy.deepcopy(config)
            unwindowed.sliding_window = None
            unwindowed.layer_types = ['full_attention'] * config.num_hidden_layers
            full = cls(unwindowed).eval()
            full.load_state_dict(model.state_dict())
            with torch.no_grad():
                assert (full(ids).logits - logits).abs().max().item() > 1e-3, name
        ours = our_config_json(name, config.model_type, config)
        # transformers reads what we write back to the same model.
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, 'config.json'), 'w') as f:
                json.dump(ours, f)
            shutil.copy(os.path.join(folder, 'model.safetensors'), tmp)
            back = AutoModelForCausalLM.from_pretrained(tmp, attn_implementation='eager').eval()
            assert type(back) is cls, (name, type(back))
            with torch.no_grad():
                diff = (back(ids).logits - logits).abs().max().item()
            assert diff == 0, (name, diff)
        # And loaded from the folder it wrote.
        again = AutoModelForCausalLM.from_pretrained(folder, attn_implementation='eager').eval()
        with torch.no_grad():
            assert (again(ids).logits - logits).abs().max().item() == 0, name
        expected = {
            'prompts': PROMPTS,
            'logits': [[[round(v, 7) for v in row] for row in seq] for seq in logits.tolist()],
            'greedy': greedy[:, ids.shape[1]:].tolist(),
            'configJson': ours,
            'transformers': transformers.__version__,
            'torch': torch.__version__,
        }
        with open(os.path.join(folder, 'expected.json'), 'w') as f:
            json.dump(expected, f)
        print(name, 'ok', os.path.getsize(os.path.join(folder, 'model.safetensors')), 'bytes')


if __name__ == '__main__':
    main()
