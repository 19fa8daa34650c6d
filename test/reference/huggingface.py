#!/usr/bin/env python3
"""Writes test/fixtures/huggingface/: tiny GPT-2 and Llama checkpoints with
Hugging Face's tensor names and layouts (random weights), saved with
safetensors, plus the logits and greedy continuation of a fixed prompt.

The forward passes are plain-torch reimplementations of transformers'
GPT2LMHeadModel and LlamaForCausalLM (GPT-2: Conv1D weights [in, out], packed
c_attn, gelu_new, tied lm_head; Llama: Linear weights [out, in], rotate-half
RoPE, RMSNorm eps 1e-6, SwiGLU, grouped-query attention). The transformers
package was not installable on the machine that wrote them (the local mirror
lacks some of its dependencies); where it is, load the same files with
`from_pretrained` to cross-check.

Run: /opt/torch2/bin/python test/reference/huggingface.py   (torch >= 2, safetensors)
"""
import json
import math
import os
import sys

# test/reference/safetensors.py would shadow the safetensors package.
sys.path = [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(os.path.abspath(__file__))]

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'huggingface')
os.makedirs(OUT, exist_ok=True)
V, P, D, L, H, KV, FF = 40, 16, 16, 2, 4, 2, 24
HD = D // H
PROMPT = [3, 14, 15, 9, 2, 6]


def r(*shape, scale=0.3):
    return (torch.randn(*shape) * scale).float()


def attention(q, k, v):
    k = k.repeat_interleave(q.shape[1] // k.shape[1], 1)
    v = v.repeat_interleave(q.shape[1] // v.shape[1], 1)
    t = q.shape[2]
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    s = s.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float('-inf'))
    return torch.softmax(s, -1) @ v


def gpt2_logits(sd, ids):
    x = sd['transformer.wte.weight'][ids] + sd['transformer.wpe.weight'][: ids.shape[1]]
    b, t, _ = x.shape
    split = lambda y: y.view(b, t, H, HD).transpose(1, 2)
    ln = lambda y, n: F.layer_norm(y, (D,), sd[f'{n}.weight'], sd[f'{n}.bias'], 1e-5)
    for i in range(L):
        h = f'transformer.h.{i}'
        qkv = ln(x, f'{h}.ln_1') @ sd[f'{h}.attn.c_attn.weight'] + sd[f'{h}.attn.c_attn.bias']
        q, k, v = qkv.split(D, -1)
        a = attention(split(q), split(k), split(v)).transpose(1, 2).reshape(b, t, D)
        x = x + a @ sd[f'{h}.attn.c_proj.weight'] + sd[f'{h}.attn.c_proj.bias']
        m = F.gelu(ln(x, f'{h}.ln_2') @ sd[f'{h}.mlp.c_fc.weight'] + sd[f'{h}.mlp.c_fc.bias'], approximate='tanh')
        x = x + m @ sd[f'{h}.mlp.c_proj.weight'] + sd[f'{h}.mlp.c_proj.bias']
    return ln(x, 'transformer.ln_f') @ sd['transformer.wte.weight'].t()


def rope(x):
    t = x.shape[2]
    inv = 1.0 / (10000 ** (torch.arange(0, HD, 2, dtype=torch.float64) / HD))
    ang = torch.outer(torch.arange(t, dtype=torch.float64), inv)
    emb = torch.cat((ang, ang), -1)
    x1, x2 = x[..., : HD // 2], x[..., HD // 2:]
    return x * emb.cos() + torch.cat((-x2, x1), -1) * emb.sin()


def llama_logits(sd, ids):
    x = sd['model.embed_tokens.weight'][ids]
    b, t, _ = x.shape
    rms = lambda y, n: y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + 1e-6) * sd[n]
    lin = lambda y, n: y @ sd[n].t()
    for i in range(L):
        h = f'model.layers.{i}'
        y = rms(x, f'{h}.input_layernorm.weight')
        q = rope(lin(y, f'{h}.self_attn.q_proj.weight').view(b, t, H, HD).transpose(1, 2))
        k = rope(lin(y, f'{h}.self_attn.k_proj.weight').view(b, t, KV, HD).transpose(1, 2))
        v = lin(y, f'{h}.self_attn.v_proj.weight').view(b, t, KV, HD).transpose(1, 2)
        x = x + lin(attention(q, k, v).transpose(1, 2).reshape(b, t, D), f'{h}.self_attn.o_proj.weight')
        y = rms(x, f'{h}.post_attention_layernorm.weight')
        x = x + lin(F.silu(lin(y, f'{h}.mlp.gate_proj.weight')) * lin(y, f'{h}.mlp.up_proj.weight'), f'{h}.mlp.down_proj.weight')
    return lin(rms(x, 'model.norm.weight'), 'lm_head.weight')


gpt2 = {'transformer.wte.weight': r(V, D, scale=0.5), 'transformer.wpe.weight': r(P, D, scale=0.2),
        'transformer.ln_f.weight': 1 + r(D, scale=0.1), 'transformer.ln_f.bias': r(D, scale=0.1)}
for i in range(L):
    h = f'transformer.h.{i}'
    gpt2.update({f'{h}.ln_1.weight': 1 + r(D, scale=0.1), f'{h}.ln_1.bias': r(D, scale=0.1),
                 f'{h}.attn.c_attn.weight': r(D, 3 * D), f'{h}.attn.c_attn.bias': r(3 * D, scale=0.1),
                 f'{h}.attn.c_proj.weight': r(D, D), f'{h}.attn.c_proj.bias': r(D, scale=0.1),
                 f'{h}.ln_2.weight': 1 + r(D, scale=0.1), f'{h}.ln_2.bias': r(D, scale=0.1),
                 f'{h}.mlp.c_fc.weight': r(D, 4 * D), f'{h}.mlp.c_fc.bias': r(4 * D, scale=0.1),
                 f'{h}.mlp.c_proj.weight': r(4 * D, D), f'{h}.mlp.c_proj.bias': r(D, scale=0.1)})
llama = {'model.embed_tokens.weight': r(V, D, scale=0.5), 'model.norm.weight': 1 + r(D, scale=0.1),
         'lm_head.weight': r(V, D)}
for i in range(L):
    h = f'model.layers.{i}'
    llama.update({f'{h}.input_layernorm.weight': 1 + r(D, scale=0.1), f'{h}.post_attention_layernorm.weight': 1 + r(D, scale=0.1),
                  f'{h}.self_attn.q_proj.weight': r(H * HD, D), f'{h}.self_attn.k_proj.weight': r(KV * HD, D),
                  f'{h}.self_attn.v_proj.weight': r(KV * HD, D), f'{h}.self_attn.o_proj.weight': r(D, H * HD),
                  f'{h}.mlp.gate_proj.weight': r(FF, D), f'{h}.mlp.up_proj.weight': r(FF, D), f'{h}.mlp.down_proj.weight': r(D, FF)})

expected = {}
for name, sd, forward in [('gpt2', gpt2, gpt2_logits), ('llama', llama, llama_logits)]:
    save_file(sd, os.path.join(OUT, f'{name}.safetensors'))
    sd64 = {k: v.double() for k, v in sd.items()}
    ids = torch.tensor([PROMPT])
    logits = forward(sd64, ids)
    seq = list(PROMPT)
    for _ in range(6):  # greedy continuation
        seq.append(int(forward(sd64, torch.tensor([seq]))[0, -1].argmax()))
    expected[name] = {'prompt': PROMPT, 'logits': [float('%.9g' % x) for x in logits.flatten().tolist()],
                      'shape': list(logits.shape), 'greedy': seq[len(PROMPT):]}
with open(os.path.join(OUT, 'expected.json'), 'w') as f:
    json.dump({'generator': 'test/reference/huggingface.py', 'torch': torch.__version__,
               'sizes': {'vocab': V, 'maxLength': P, 'dModel': D, 'layers': L, 'heads': H, 'kvHeads': KV, 'hidden': FF},
               'cases': expected}, f)
print('wrote', OUT, sorted(os.listdir(OUT)))
