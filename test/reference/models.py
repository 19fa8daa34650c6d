#!/usr/bin/env python3
"""Writes test/goldens/models.json: Transformer blocks and models in PyTorch.

- Encoder block: torch.nn.TransformerEncoderLayer (norm_first False/True, a
  key padding mask), decoder block: torch.nn.TransformerDecoderLayer with
  cross-attention (both norm_first settings). Our params are their weights,
  transposed to [in, out].
- GPT-2-style and Llama-style decoder-only models: plain-torch reference
  implementations (nanoGPT-like, and Llama's RMSNorm/RoPE/SwiGLU/GQA) fed the
  same random weights, in float64.

Run: python test/reference/models.py   (torch >= 1.13)
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '..', 'goldens', 'models.json')


def f32(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=torch.float32) * scale).double()


def enc(t):
    if isinstance(t, dict):
        return {k: enc(v) for k, v in t.items()}
    if isinstance(t, list):
        return [enc(v) for v in t]
    if isinstance(t, (int, float, str, bool)) or t is None:
        return t
    t = t.detach()
    if t.dtype == torch.bool:
        return {'shape': list(t.shape), 'dtype': 'bool', 'data': t.flatten().tolist()}
    if t.dtype in (torch.int64, torch.int32):
        return {'shape': list(t.shape), 'dtype': 'int32', 'data': t.flatten().tolist()}
    return {'shape': list(t.shape), 'data': [float('%.9g' % x) for x in t.double().flatten().tolist()]}


def randomize(module, scale=0.3):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(f32(*p.shape, scale=scale))


def mha_params(mha, heads):
    wq, wk, wv = mha.in_proj_weight.chunk(3)
    bq, bk, bv = mha.in_proj_bias.chunk(3)
    lin = lambda w, b: {'kernel': w.t(), 'bias': b}
    return {'numHeads': heads, 'numKvHeads': heads, 'query': lin(wq, bq), 'key': lin(wk, bk), 'value': lin(wv, bv),
            'output': lin(mha.out_proj.weight, mha.out_proj.bias)}


def norm_params(ln):
    return {'gamma': ln.weight, 'beta': ln.bias}


def ff_params(layer):
    return {'up': {'kernel': layer.linear1.weight.t(), 'bias': layer.linear1.bias},
            'down': {'kernel': layer.linear2.weight.t(), 'bias': layer.linear2.bias}}


D, H, FF = 16, 4, 32
cases = {}
for norm_first in [False, True]:
    layer = torch.nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, activation='gelu', batch_first=True, norm_first=norm_first).double()
    randomize(layer)
    layer.eval()
    x = f32(2, 5, D)
    padding = torch.tensor([[False] * 5, [False, False, False, True, True]])  # True = padding (torch)
    with torch.no_grad():
        y = layer(x, src_key_padding_mask=padding)
    cases[f'encoder_block_norm_first_{norm_first}'] = {
        'config': {'dModel': D, 'numHeads': H, 'norm': {'kind': 'layer', 'epsilon': 1e-5},
                   'normPosition': 'pre' if norm_first else 'post',
                   'feedForward': {'hidden': FF, 'kind': 'mlp', 'activation': 'gelu', 'useBias': True}},
        'params': enc({'attentionNorm': norm_params(layer.norm1), 'attention': mha_params(layer.self_attn, H),
                       'feedForwardNorm': norm_params(layer.norm2), 'feedForward': ff_params(layer)}),
        'x': enc(x), 'mask': enc((~padding).view(2, 1, 1, 5)), 'output': enc(y)}

    dec = torch.nn.TransformerDecoderLayer(D, H, FF, dropout=0.0, activation='relu', batch_first=True, norm_first=norm_first).double()
    randomize(dec)
    dec.eval()
    tgt, memory = f32(2, 4, D), f32(2, 6, D)
    causal = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)
    with torch.no_grad():
        y = dec(tgt, memory, tgt_mask=causal)
    cases[f'decoder_block_norm_first_{norm_first}'] = {
        'config': {'dModel': D, 'numHeads': H, 'norm': {'kind': 'layer', 'epsilon': 1e-5},
                   'normPosition': 'pre' if norm_first else 'post',
                   'feedForward': {'hidden': FF, 'kind': 'mlp', 'activation': 'relu', 'useBias': True}},
        'params': enc({'attentionNorm': norm_params(dec.norm1), 'attention': mha_params(dec.self_attn, H),
                       'crossAttentionNorm': norm_params(dec.norm2), 'crossAttention': mha_params(dec.multihead_attn, H),
                       'feedForwardNorm': norm_params(dec.norm3), 'feedForward': ff_params(dec)}),
        'x': enc(tgt), 'context': enc(memory), 'output': enc(y)}


# --------------------------------------------------------------- models
def attention(q, k, v):
    heads, kv = q.shape[1], k.shape[1]
    k, v = k.repeat_interleave(heads // kv, 1), v.repeat_interleave(heads // kv, 1)
    t = q.shape[2]
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    s = s.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float('-inf'))
    return torch.softmax(s, -1) @ v


def rope(x, base=10000.0):
    d, t = x.shape[-1], x.shape[2]
    inv = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    ang = torch.outer(torch.arange(t, dtype=torch.float64), inv)
    emb = torch.cat((ang, ang), -1)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * emb.cos() + torch.cat((-x2, x1), -1) * emb.sin()


def lin(p, x):
    y = x @ p['kernel']
    return y + p['bias'] if 'bias' in p else y


def self_attention(p, h, use_rope):
    b, t, _ = h.shape
    heads, kv = p['numHeads'], p['numKvHeads']
    hd = p['query']['kernel'].shape[1] // heads
    split = lambda y, n: y.view(b, t, n, hd).transpose(1, 2)
    q, k, v = split(lin(p['query'], h), heads), split(lin(p['key'], h), kv), split(lin(p['value'], h), kv)
    if use_rope:
        q, k = rope(q), rope(k)
    return lin(p['output'], attention(q, k, v).transpose(1, 2).reshape(b, t, heads * hd))


def attn_init(d, heads, kv, bias):
    hd = d // heads
    mk = lambda i, o: {'kernel': f32(i, o, scale=1 / math.sqrt(i)), **({'bias': f32(o, scale=0.1)} if bias else {})}
    return {'numHeads': heads, 'numKvHeads': kv, 'query': mk(d, heads * hd), 'key': mk(d, kv * hd),
            'value': mk(d, kv * hd), 'output': mk(heads * hd, d)}


def gpt2_case(vocab=40, max_len=12, d=16, layers=2, heads=4, t=7):
    mk = lambda i, o: {'kernel': f32(i, o, scale=1 / math.sqrt(i)), 'bias': f32(o, scale=0.1)}
    ln_p = lambda: {'gamma': 1 + f32(d, scale=0.1), 'beta': f32(d, scale=0.1)}
    P = {'tokenEmbedding': {'table': f32(vocab, d, scale=0.5)}, 'positionEmbedding': {'table': f32(max_len, d, scale=0.2)},
         'blocks': [{'attentionNorm': ln_p(), 'attention': attn_init(d, heads, heads, True), 'feedForwardNorm': ln_p(),
                     'feedForward': {'up': mk(d, 4 * d), 'down': mk(4 * d, d)}} for _ in range(layers)],
         'finalNorm': ln_p()}
    ids = torch.randint(0, vocab, (2, t))
    ln = lambda p, x: F.layer_norm(x, (d,), p['gamma'], p['beta'], 1e-5)
    x = P['tokenEmbedding']['table'][ids] + P['positionEmbedding']['table'][:t]
    for blk in P['blocks']:
        x = x + self_attention(blk['attention'], ln(blk['attentionNorm'], x), False)
        h = ln(blk['feedForwardNorm'], x)
        x = x + lin(blk['feedForward']['down'], F.gelu(lin(blk['feedForward']['up'], h), approximate='tanh'))
    logits = ln(P['finalNorm'], x) @ P['tokenEmbedding']['table'].t()
    sizes = {'vocabSize': vocab, 'maxLength': max_len, 'dModel': d, 'numLayers': layers, 'numHeads': heads}
    return {'preset': 'gpt2', 'sizes': sizes, 'params': enc(P), 'ids': enc(ids), 'output': enc(logits)}


def llama_case(vocab=40, max_len=12, d=16, layers=2, heads=4, kv=2, hidden=24, t=7, tie=False):
    mk = lambda i, o: {'kernel': f32(i, o, scale=1 / math.sqrt(i))}
    P = {'tokenEmbedding': {'table': f32(vocab, d, scale=0.5)},
         'blocks': [{'attentionNorm': {'gamma': 1 + f32(d, scale=0.1)}, 'attention': attn_init(d, heads, kv, False),
                     'feedForwardNorm': {'gamma': 1 + f32(d, scale=0.1)},
                     'feedForward': {'up': mk(d, hidden), 'gate': mk(d, hidden), 'down': mk(hidden, d)}} for _ in range(layers)],
         'finalNorm': {'gamma': 1 + f32(d, scale=0.1)}}
    if not tie:
        P['lmHead'] = mk(d, vocab)
    ids = torch.randint(0, vocab, (2, t))
    rms = lambda p, x: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * p['gamma']
    x = P['tokenEmbedding']['table'][ids]
    for blk in P['blocks']:
        x = x + self_attention(blk['attention'], rms(blk['attentionNorm'], x), True)
        h = rms(blk['feedForwardNorm'], x)
        ff = blk['feedForward']
        x = x + lin(ff['down'], F.silu(lin(ff['gate'], h)) * lin(ff['up'], h))
    h = rms(P['finalNorm'], x)
    logits = lin(P['lmHead'], h) if not tie else h @ P['tokenEmbedding']['table'].t()
    sizes = {'vocabSize': vocab, 'maxLength': max_len, 'dModel': d, 'numLayers': layers, 'numHeads': heads,
             'numKvHeads': kv, 'hidden': hidden, 'tieEmbeddings': tie}
    return {'preset': 'llama', 'sizes': sizes, 'params': enc(P), 'ids': enc(ids), 'output': enc(logits)}


cases['gpt2'] = gpt2_case()
cases['llama_gqa'] = llama_case()
cases['llama_tied_mha'] = llama_case(kv=4, tie=True, layers=1)

with open(OUT, 'w') as f:
    json.dump({'generator': 'test/reference/models.py', 'torch': torch.__version__, 'cases': cases}, f, separators=(',', ':'))
print(f'wrote {os.path.normpath(OUT)}: {len(cases)} cases, {os.path.getsize(OUT)} bytes')
