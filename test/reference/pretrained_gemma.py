#!/usr/bin/env python3
"""Writes test/fixtures/pretrained/gemma/: a tiny random-weight Gemma made with
transformers' own GemmaForCausalLM(GemmaConfig(...)) and save_pretrained
(config.json, generation_config.json, model.safetensors), plus expected.json:
the logits of a batch of 2 prompts and each prompt's greedy continuation (10
tokens) from model.generate.

Sizes: 2 layers, hidden 32, 4 heads x head_dim 16 (64 != 32: Gemma's own
per-head width), 2 key/value heads (GQA), vocab 100. RMSNorm weights are
randomised too (HF initialises them to 0, which would hide a missing `1 +`).

It also checks, in Python:
- legacy-config/config.json (hidden_act "gelu", no hidden_activation, as the
  first Hub releases) loads with the same weights and gives the same logits:
  transformers runs the tanh GELU for it;
- ours.config.json (what gemmaFamily.toConfigJson writes for this model,
  committed by the TypeScript side; test/pretrained/families/gemma.test.ts
  checks it is still what toConfigJson gives) reads back with GemmaConfig and
  gives the same logits.

Run: /work/venv/bin/python test/reference/pretrained_gemma.py
"""
import json
import os
import shutil
import sys
import tempfile

# test/reference/safetensors.py would shadow the safetensors package.
sys.path = [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(os.path.abspath(__file__))]

import torch  # noqa: E402
from transformers import GemmaConfig, GemmaForCausalLM  # noqa: E402

torch.manual_seed(0)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'fixtures', 'pretrained', 'gemma')
os.makedirs(OUT, exist_ok=True)

config = GemmaConfig(
    vocab_size=100,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=64,
    rms_norm_eps=1e-6,
    rope_parameters={'rope_type': 'default', 'rope_theta': 10000.0},
    pad_token_id=0,
    bos_token_id=2,
    eos_token_id=1,
)
model = GemmaForCausalLM(config).eval()
# Random weights of a scale where the blocks, not the tied embedding's
# self-similarity, decide the next token (with HF's std 0.02 greedy decoding
# repeats its input token, a weak test).
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith('norm.weight'):
            p.copy_(torch.randn_like(p) * 0.3)
        elif name.endswith('embed_tokens.weight'):
            p.copy_(torch.randn_like(p) * 0.3)
        else:
            p.copy_(torch.randn_like(p) * 0.5)
model.save_pretrained(OUT)

PROMPTS = [
    [2, 17, 43, 5, 88, 61, 9],
    [2, 71, 3, 3, 50, 24, 99],
]
GENERATE = [
    [2, 17, 43, 5, 88],
    [2, 71, 3, 50, 24, 99, 12, 8],
]


def logits_of(m):
    with torch.no_grad():
        return m(torch.tensor(PROMPTS)).logits


logits = logits_of(model)

# Greedy, one prompt at a time (no padding), never stopping early.
greedy = []
for prompt in GENERATE:
    with torch.no_grad():
        out = model.generate(
            torch.tensor([prompt]),
            max_new_tokens=10,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
        )
    greedy.append(out[0, len(prompt):].tolist())
    # Each greedy pick wins by a margin far above float32 noise, so the ids are a fair test.
    with torch.no_grad():
        scores = model(out[:, :-1]).logits[0, len(prompt) - 1:]
    top2 = scores.topk(2).values
    assert (top2[:, 0] - top2[:, 1]).min() > 1e-3, top2


def relative(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def load_with_config(config_json):
    """GemmaForCausalLM.from_pretrained of a folder with our weights and this config.json."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(OUT, 'model.safetensors'), tmp)
        with open(os.path.join(tmp, 'config.json'), 'w') as f:
            json.dump(config_json, f)
        GemmaConfig.from_pretrained(tmp)  # reads back
        return GemmaForCausalLM.from_pretrained(tmp).eval()


with open(os.path.join(OUT, 'config.json')) as f:
    saved = json.load(f)

# The first Hub Gemma configs say hidden_act "gelu" and meant the tanh GELU.
legacy = {k: v for k, v in saved.items() if k not in ('hidden_activation',)}
legacy['hidden_act'] = 'gelu'
LEGACY = os.path.join(OUT, 'legacy-config')
os.makedirs(LEGACY, exist_ok=True)
with open(os.path.join(LEGACY, 'config.json'), 'w') as f:
    json.dump(legacy, f, indent=2, sort_keys=True)
legacy_error = relative(logits_of(load_with_config(legacy)), logits)
assert legacy_error == 0, legacy_error

ours_path = os.path.join(OUT, 'ours.config.json')
ours_error = None
if os.path.exists(ours_path):
    with open(ours_path) as f:
        ours = json.load(f)
    ours_error = relative(logits_of(load_with_config(ours)), logits)
    assert ours_error == 0, ours_error

with open(os.path.join(OUT, 'expected.json'), 'w') as f:
    json.dump(
        {
            'prompts': PROMPTS,
            'logits': logits.tolist(),
            'generate': {'prompts': GENERATE, 'maxNewTokens': 10, 'greedy': greedy},
            'checks': {
                'legacyConfigRelativeError': legacy_error,
                'oursConfigRelativeError': ours_error,
            },
            'versions': {'torch': torch.__version__, 'transformers': __import__('transformers').__version__},
        },
        f,
    )
print('greedy', greedy, 'legacy', legacy_error, 'ours', ours_error)
