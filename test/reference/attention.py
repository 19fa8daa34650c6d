#!/usr/bin/env python3
"""Writes test/goldens/attention.json: PyTorch reference values and gradients
for tfjs-blocks' attention core (attention, RoPE, ALiBi, positions, norms,
activations, multi-head attention).

Inputs are drawn in float32 (so the TypeScript tests can feed the very same
numbers); references are computed in float64 from them. Gradients are those
of sum(output * cotangent) for a fixed random cotangent.

Run: /usr/bin/python3 test/reference/attention.py   (torch >= 1.13; plain
torch ops only, since 1.13 has no scaled_dot_product_attention or RMSNorm)
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '..', 'goldens', 'attention.json')


def rand(*shape, scale=1.0):
    """float32 draw, promoted to float64 leaf that requires grad."""
    return (torch.randn(*shape, dtype=torch.float32) * scale).double().requires_grad_(True)


def enc(t):
    t = t.detach()
    if t.dtype == torch.bool:
        return {'shape': list(t.shape), 'dtype': 'bool', 'data': [bool(x) for x in t.flatten().tolist()]}
    return {'shape': list(t.shape), 'data': [float('%.10g' % x) for x in t.double().flatten().tolist()]}


def with_grads(fn, inputs, **extra):
    """Runs fn(**inputs), returns encoded inputs, output, cotangent and grads."""
    out = fn(**inputs)
    cot = torch.randn(*out.shape, dtype=torch.float32).double()
    (out * cot).sum().backward()
    case = {
        'inputs': {k: enc(v) for k, v in inputs.items() if isinstance(v, torch.Tensor)},
        'output': enc(out),
        'cotangent': enc(cot),
        'grads': {k: enc(v.grad) for k, v in inputs.items()
                  if isinstance(v, torch.Tensor) and v.requires_grad},
    }
    case.update(extra)
    return case


# ---------------------------------------------------------------- attention
def masked_softmax(s):
    """Softmax over the last axis; rows that are all -inf give zeros."""
    m = s.max(-1, keepdim=True).values
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(s - m)
    z = e.sum(-1, keepdim=True)
    return e / torch.where(z == 0, torch.ones_like(z), z)


def reference_attention(q, k, v, mask=None, causal=False, scale=None):
    """softmax(q kᵀ · scale + bias) v with kv heads repeated for GQA."""
    heads, kv_heads = q.shape[1], k.shape[1]
    k = k.repeat_interleave(heads // kv_heads, dim=1)
    v = v.repeat_interleave(heads // kv_heads, dim=1)
    tq, tk = q.shape[2], k.shape[2]
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ k.transpose(-1, -2) * scale
    if mask is not None:
        if mask.dtype == torch.bool:
            s = s.masked_fill(~mask, float('-inf'))
        else:
            s = s + mask
    if causal:
        i = torch.arange(tq).view(tq, 1) + (tk - tq)
        j = torch.arange(tk).view(1, tk)
        s = s.masked_fill(j > i, float('-inf'))
    return masked_softmax(s) @ v


def alibi_slopes(n):
    # The ALiBi authors' construction, including non-power-of-two head counts.
    def power_of_2(n):
        start = 2 ** (-2 ** -(math.log2(n) - 3))
        return [start * start ** i for i in range(n)]
    if math.log2(n).is_integer():
        return power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_2(closest) + alibi_slopes(2 * closest)[0::2][:n - closest]


def alibi_bias(heads, tq, tk):
    i = torch.arange(tq, dtype=torch.float64).view(tq, 1) + (tk - tq)
    j = torch.arange(tk, dtype=torch.float64).view(1, tk)
    slopes = torch.tensor(alibi_slopes(heads), dtype=torch.float64).view(1, heads, 1, 1)
    return -slopes * (j - i).abs().view(1, 1, tq, tk)


def attention_case(b, h, hk, tq, tk, d, dv=None, mask=None, causal=False, scale=None):
    dv = dv or d
    inputs = {'q': rand(b, h, tq, d), 'k': rand(b, hk, tk, d), 'v': rand(b, hk, tk, dv)}
    options = {'causal': causal}
    if scale is not None:
        options['scale'] = scale
    extra = {'options': options}
    if mask is not None:
        extra['mask'] = enc(mask)
    return with_grads(lambda q, k, v: reference_attention(q, k, v, mask, causal, scale), inputs, **extra)


def bool_mask(*shape, p=0.35):
    m = torch.rand(*shape) > p
    m.view(-1, shape[-1])[0] = False  # at least one fully masked row
    return m


cases = {}
cases['sdpa_basic'] = attention_case(2, 4, 4, 5, 5, 8)
cases['sdpa_cross_value_dim'] = attention_case(2, 2, 2, 3, 7, 8, dv=6)
cases['sdpa_causal'] = attention_case(2, 4, 4, 6, 6, 8, causal=True)
cases['sdpa_causal_tq_lt_tk'] = attention_case(1, 2, 2, 3, 7, 4, causal=True)
cases['sdpa_causal_tq_gt_tk'] = attention_case(1, 2, 2, 5, 3, 4, causal=True)
cases['sdpa_bool_mask'] = attention_case(2, 4, 4, 5, 6, 8, mask=bool_mask(2, 1, 5, 6))
cases['sdpa_bool_mask_2d_causal'] = attention_case(2, 2, 2, 4, 4, 8, mask=bool_mask(4, 4, p=0.2), causal=True)
cases['sdpa_float_mask'] = attention_case(2, 4, 4, 5, 6, 8, mask=torch.randn(1, 4, 5, 6).double())
cases['sdpa_gqa_causal'] = attention_case(2, 8, 2, 6, 6, 4, causal=True)
cases['sdpa_mqa_mask'] = attention_case(2, 4, 1, 5, 7, 8, mask=bool_mask(2, 4, 5, 7))
cases['sdpa_gqa_headwise_float_mask'] = attention_case(1, 6, 3, 4, 5, 4, mask=torch.randn(1, 6, 4, 5).double())
cases['sdpa_scale'] = attention_case(1, 2, 2, 4, 4, 8, scale=0.3)
cases['sdpa_alibi_causal'] = attention_case(2, 6, 6, 5, 5, 4, mask=alibi_bias(6, 5, 5), causal=True)

# ------------------------------------------------------------------- RoPE
def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def reference_rope(x, offset=0, base=10000.0):
    d = x.shape[-1]
    inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    t = torch.arange(offset, offset + x.shape[2], dtype=torch.float64)
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return x * emb.cos() + rotate_half(x) * emb.sin()


for name, offset, base in [('rope_default', 0, 10000.0), ('rope_offset', 37, 10000.0),
                           ('rope_base', 5, 500.0)]:
    cases[name] = with_grads(lambda x: reference_rope(x, offset, base), {'x': rand(2, 3, 6, 8)},
                             options={'offset': offset, 'base': base})

# ------------------------------------------------------------------ ALiBi
cases['alibi_slopes'] = {str(n): alibi_slopes(n) for n in [1, 2, 3, 4, 5, 6, 8, 12, 16]}
cases['alibi_bias'] = {'numHeads': 6, 'tq': 4, 'tk': 7, 'output': enc(alibi_bias(6, 4, 7))}

# ------------------------------------------------------------- positions
def sinusoidal(length, dim, base=10000.0):
    pos = torch.arange(length, dtype=torch.float64).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(base) / dim))
    pe = torch.zeros(length, dim, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


cases['sinusoidal'] = {'length': 50, 'dim': 16, 'output': enc(sinusoidal(50, 16))}

# ---------------------------------------------------- norms, activations
cases['layer_norm'] = with_grads(
    lambda x, gamma, beta: F.layer_norm(x, (16,), gamma, beta, eps=1e-5),
    {'x': rand(2, 3, 16, scale=3.0), 'gamma': rand(16), 'beta': rand(16)}, options={'epsilon': 1e-5})
cases['rms_norm'] = with_grads(
    lambda x, gamma: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * gamma,
    {'x': rand(2, 3, 16, scale=3.0), 'gamma': rand(16)}, options={'epsilon': 1e-6})
cases['gelu_exact'] = with_grads(lambda x: F.gelu(x), {'x': rand(4, 25, scale=2.5)})
cases['gelu_tanh'] = with_grads(lambda x: F.gelu(x, approximate='tanh'), {'x': rand(4, 25, scale=2.5)})
cases['silu'] = with_grads(lambda x: F.silu(x), {'x': rand(4, 25, scale=2.5)})

# ------------------------------------------------- multi-head attention
def torch_mha_case(d_model, heads, tq, tk=None, context_dim=None, causal=False, padding=False):
    """torch.nn.MultiheadAttention with random weights; our params are its transposes."""
    cross = tk is not None
    kdim = context_dim or d_model
    mha = torch.nn.MultiheadAttention(d_model, heads, batch_first=True, kdim=kdim, vdim=kdim).double()
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(torch.randn(*p.shape, dtype=torch.float32).double() * 0.3)
    x = rand(2, tq, d_model)
    inputs = {'x': x}
    if cross:
        inputs['context'] = rand(2, tk, kdim)
    tk_ = tk or tq
    attn_mask = None
    if causal:
        attn_mask = torch.triu(torch.ones(tq, tk_, dtype=torch.bool), diagonal=1)  # True = blocked
    key_padding = None
    if padding:
        key_padding = torch.zeros(2, tk_, dtype=torch.bool)
        key_padding[1, -2:] = True  # the second sequence's last two keys are padding

    def fn(x, context=None):
        ctx = x if context is None else context
        out, _ = mha(x, ctx, ctx, attn_mask=attn_mask, key_padding_mask=key_padding, need_weights=False)
        return out

    case = with_grads(fn, inputs, options={'causal': causal})
    if padding:  # ours: true = may attend, shape [batch, 1, 1, tk]
        case['mask'] = enc((~key_padding).view(2, 1, 1, tk_))
    if mha._qkv_same_embed_dim:
        wq, wk, wv = mha.in_proj_weight.chunk(3)
        gq, gk, gv = mha.in_proj_weight.grad.chunk(3)
    else:
        wq, wk, wv = mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight
        gq, gk, gv = mha.q_proj_weight.grad, mha.k_proj_weight.grad, mha.v_proj_weight.grad
    bq, bk, bv = mha.in_proj_bias.chunk(3)
    gbq, gbk, gbv = mha.in_proj_bias.grad.chunk(3)
    case['params'] = {
        'numHeads': heads, 'numKvHeads': heads,
        'query': {'kernel': enc(wq.t()), 'bias': enc(bq)},
        'key': {'kernel': enc(wk.t()), 'bias': enc(bk)},
        'value': {'kernel': enc(wv.t()), 'bias': enc(bv)},
        'output': {'kernel': enc(mha.out_proj.weight.t()), 'bias': enc(mha.out_proj.bias)},
    }
    case['paramGrads'] = {
        'query': {'kernel': enc(gq.t()), 'bias': enc(gbq)},
        'key': {'kernel': enc(gk.t()), 'bias': enc(gbk)},
        'value': {'kernel': enc(gv.t()), 'bias': enc(gbv)},
        'output': {'kernel': enc(mha.out_proj.weight.grad.t()), 'bias': enc(mha.out_proj.bias.grad)},
    }
    return case


def gqa_rope_case(d_model, heads, kv_heads, t, offset):
    """Llama-style attention (no biases, GQA, RoPE, causal) in plain torch."""
    hd = d_model // heads
    w = {n: rand(d_model, width, scale=0.3) for n, width in
         [('query', heads * hd), ('key', kv_heads * hd), ('value', kv_heads * hd), ('output', d_model)]}

    def fn(x, query, key, value, output):
        b = x.shape[0]
        split = lambda y, n: y.view(b, t, n, hd).transpose(1, 2)
        q = reference_rope(split(x @ query, heads), offset)
        k = reference_rope(split(x @ key, kv_heads), offset)
        v = split(x @ value, kv_heads)
        o = reference_attention(q, k, v, causal=True)
        return o.transpose(1, 2).reshape(b, t, heads * hd) @ output

    case = with_grads(fn, {'x': rand(2, t, d_model), **w}, options={'causal': True, 'rope': {'offset': offset}})
    case['params'] = {'numHeads': heads, 'numKvHeads': kv_heads,
                      **{n: {'kernel': case['inputs'].pop(n)} for n in w}}
    case['paramGrads'] = {n: {'kernel': case['grads'].pop(n)} for n in w}
    return case


cases['mha_self'] = torch_mha_case(16, 4, 5)
cases['mha_causal'] = torch_mha_case(16, 4, 6, causal=True)
cases['mha_cross_padding'] = torch_mha_case(16, 2, 4, tk=6, context_dim=12, padding=True)
cases['mha_gqa_rope'] = gqa_rope_case(16, 4, 2, 6, offset=3)

with open(OUT, 'w') as f:
    json.dump({'generator': 'test/reference/attention.py', 'torch': torch.__version__, 'cases': cases}, f,
              separators=(',', ':'))
print(f'wrote {os.path.normpath(OUT)}: {len(cases)} cases, {os.path.getsize(OUT)} bytes')
