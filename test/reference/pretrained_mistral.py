#!/usr/bin/env python3
"""Writes test/fixtures/pretrained/mistral/: a tiny random-weight Mistral made
with the real transformers classes (MistralForCausalLM(MistralConfig(
sliding_window=4, ...))) and saved with save_pretrained, plus expected.json:
the logits of a left-padded batch of two prompts longer than the window, and
HF's greedy `generate` of 12 new tokens (past the window) for the same batch.

The script also checks that HF's cached `generate` (a DynamicSlidingWindowLayer
cache, which keeps the last window - 1 keys) equals a greedy loop over HF's
own full forward without a cache, and records that in expected.json.

Run: /work/venv/bin/python test/reference/pretrained_mistral.py
(torch 2, transformers 5, safetensors; see ../shared/tools/reference-venv.sh)
"""
import json
import os
import sys

# test/reference/safetensors.py would shadow the safetensors package.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or '.') != HERE]

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import MistralConfig, MistralForCausalLM  # noqa: E402

OUT = os.path.join(HERE, '..', 'fixtures', 'pretrained', 'mistral')
WINDOW = 4
NEW_TOKENS = 12
PAD = 0
# Two prompts longer than the window; the second is left-padded by two.
PROMPTS = [[5, 17, 33, 2, 41, 8, 60, 12, 27], [9, 44, 3, 51, 19, 30, 6]]

torch.manual_seed(0)
config = MistralConfig(
    vocab_size=64,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    rms_norm_eps=1e-6,
    sliding_window=WINDOW,
    tie_word_embeddings=False,
    bos_token_id=1,
    eos_token_id=None,
    pad_token_id=PAD,
    attn_implementation='eager',
)
model = MistralForCausalLM(config).eval()
# transformers' init (std 0.02) gives near-uniform logits; wider weights make
# every layer (and the window) move the argmax.
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith('norm.weight'):
            p.copy_(1 + 0.2 * torch.randn_like(p))
        else:
            p.copy_(0.3 * torch.randn_like(p))

width = max(len(p) for p in PROMPTS)
ids = torch.tensor([[PAD] * (width - len(p)) + p for p in PROMPTS])
mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in PROMPTS])


def positions(m):
    # As generate makes them: count real tokens, padding at 1.
    pos = m.long().cumsum(-1) - 1
    return pos.masked_fill(m == 0, 1)


with torch.no_grad():
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask)).logits
    generated = model.generate(
        input_ids=ids,
        attention_mask=mask,
        max_new_tokens=NEW_TOKENS,
        do_sample=False,
        pad_token_id=PAD,
        eos_token_id=None,
    )[:, width:]
    # The same greedy decode by HF's full forward, no cache.
    seq, m = ids.clone(), mask.clone()
    for _ in range(NEW_TOKENS):
        nxt = model(input_ids=seq, attention_mask=m, position_ids=positions(m), use_cache=False)
        token = nxt.logits[:, -1].argmax(-1, keepdim=True)
        seq = torch.cat([seq, token], 1)
        m = torch.cat([m, torch.ones_like(token)], 1)
    uncached = seq[:, width:]
    # Without the window the continuation differs (the fixture tests the window).
    model.config.sliding_window = None
    for layer in model.model.layers:
        layer.self_attn.sliding_window = None
    no_window = model.generate(
        input_ids=ids, attention_mask=mask, max_new_tokens=NEW_TOKENS, do_sample=False,
        pad_token_id=PAD, eos_token_id=None,
    )[:, width:]
    model.config.sliding_window = WINDOW
    for layer in model.model.layers:
        layer.self_attn.sliding_window = WINDOW

assert torch.equal(generated, uncached), (generated, uncached)
assert not torch.equal(generated, no_window), 'the window does not change the greedy output'

os.makedirs(OUT, exist_ok=True)
model.save_pretrained(OUT)
# Logits of real positions only (padding queries attend to nothing useful).
real_logits = [logits[b, width - len(p):].tolist() for b, p in enumerate(PROMPTS)]
with open(os.path.join(OUT, 'expected.json'), 'w') as f:
    json.dump(
        {
            'transformers': transformers.__version__,
            'torch': torch.__version__,
            'window': WINDOW,
            'prompts': PROMPTS,
            'logits': [[[round(v, 7) for v in row] for row in rows] for rows in real_logits],
            'greedy': generated.tolist(),
            'greedyWithoutWindow': no_window.tolist(),
            'hfGenerateEqualsFullForward': True,
        },
        f,
    )
    f.write('\n')
print('wrote', OUT, 'greedy', generated.tolist(), 'without window', no_window.tolist())
