#!/usr/bin/env python3
"""Writes test/goldens/losses.json: PyTorch values and gradients for the losses.

Inputs are float32 draws; references are computed in float64 from them.
Gradients are of sum(loss * cotangent) (a scalar loss: cotangent 1) with
respect to the differentiable inputs (logits, predictions, embeddings).
CTC gradients are taken with respect to the logits under log_softmax, as
PyTorch's CTC backward is only the true gradient through log_softmax.

Deviations from PyTorch, by design: with every target ignored, PyTorch's
mean cross-entropy is 0/0 = NaN; ours is 0 with zero gradients (the golden
records 0). An ignored row of all -inf logits has a NaN gradient in PyTorch
and a zero one here; probability targets of 0 on a -inf logit give NaN in
PyTorch and contribute 0 here (see the masked cases below).

Run: python test/reference/losses.py   (torch >= 1.13; the goldens were last written with torch 2)
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '..', 'goldens', 'losses.json')


def rand(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=torch.float32) * scale).double().requires_grad_(True)


def enc(t):
    t = t.detach() if isinstance(t, torch.Tensor) else torch.tensor(t)
    if t.dtype in (torch.int64, torch.int32):
        return {'shape': list(t.shape), 'dtype': 'int32', 'data': t.flatten().tolist()}
    vals = []
    for x in t.double().flatten().tolist():
        vals.append(x if math.isfinite(x) else ('Infinity' if x > 0 else ('-Infinity' if x < 0 else 'NaN')))
    return {'shape': list(t.shape), 'data': [v if isinstance(v, str) else float('%.10g' % v) for v in vals]}


def case(fn, inputs, constants=None, options=None, override_output=None, override_grads=None):
    out = fn(**inputs, **(constants or {}))
    cot = torch.randn(*out.shape, dtype=torch.float32).double() if out.dim() > 0 else torch.tensor(1.0, dtype=torch.float64)
    if override_output is None:
        (out * cot).sum().backward()
    result = {
        'inputs': {k: enc(v) for k, v in inputs.items()},
        'constants': {k: enc(v) for k, v in (constants or {}).items() if isinstance(v, torch.Tensor)},
        'options': options or {},
        'output': enc(out if override_output is None else override_output),
        'cotangent': enc(cot),
        'grads': {k: enc(v.grad if override_grads is None else override_grads[k]) for k, v in inputs.items()},
    }
    return result


cases = {}
# ------------------------------------------------------- cross-entropy
labels = torch.tensor([0, 3, 1, 4, 2, 3])
cases['ce_int'] = case(lambda logits, labels: F.cross_entropy(logits, labels), {'logits': rand(6, 5)}, {'labels': labels})
ign = torch.tensor([[1, -100, 3], [0, 2, -100]])
w = torch.tensor([0.5, 2.0, 1.0, 1.5], dtype=torch.float64)
cases['ce_int_weights_smoothing_ignore'] = case(
    lambda logits, labels, weights: F.cross_entropy(logits.reshape(6, 4), labels.reshape(6), weight=weights, label_smoothing=0.1, ignore_index=-100),
    {'logits': rand(2, 3, 4)}, {'labels': ign, 'weights': w}, {'labelSmoothing': 0.1})
for red in ['sum', 'none']:
    cases[f'ce_int_{red}'] = case(
        lambda logits, labels, weights, red=red: F.cross_entropy(logits, labels, weight=weights, ignore_index=7, reduction=red, label_smoothing=0.2),
        {'logits': rand(5, 4)}, {'labels': torch.tensor([1, 7, 3, 0, 7]), 'weights': w}, {'reduction': red, 'ignoreIndex': 7, 'labelSmoothing': 0.2})
all_ign = rand(3, 4)
cases['ce_all_ignored'] = case(lambda logits, labels: F.cross_entropy(logits, labels), {'logits': all_ign},
                               {'labels': torch.tensor([-100, -100, -100])},
                               override_output=torch.tensor(0.0), override_grads={'logits': torch.zeros(3, 4)})
probs = torch.softmax(torch.randn(4, 5, dtype=torch.float64), -1)
cases['ce_probs_smoothing_weights'] = case(
    lambda logits, labels, weights: F.cross_entropy(logits, labels, weight=weights, label_smoothing=0.1),
    {'logits': rand(4, 5)}, {'labels': probs, 'weights': torch.tensor([1.0, 2.0, 0.5, 1.0, 1.0], dtype=torch.float64)}, {'labelSmoothing': 0.1})


def ce_z(logits, labels):
    keep = labels != -100
    ce = F.cross_entropy(logits, labels)
    z = torch.logsumexp(logits, -1) ** 2
    return ce + 1e-2 * z[keep].mean()


cases['ce_zloss'] = case(ce_z, {'logits': rand(5, 6, scale=3.0)}, {'labels': torch.tensor([1, -100, 5, 0, 2])}, {'zLossWeight': 1e-2})
ext = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0], [3.0, 1e4, 1e4]], dtype=torch.float32).double().requires_grad_(True)
cases['ce_extreme'] = case(lambda logits, labels: F.cross_entropy(logits, labels), {'logits': ext}, {'labels': torch.tensor([1, 1, 0])})

# ------------------------------------------------------------ binary
cases['bce_pos_weight'] = case(
    lambda logits, targets, posWeight: F.binary_cross_entropy_with_logits(logits, targets, pos_weight=posWeight),
    {'logits': rand(4, 3, scale=2.0)}, {'targets': torch.rand(4, 3, dtype=torch.float64).round(), 'posWeight': torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64)})
ext_b = torch.tensor([1e4, -1e4, 1e4, -1e4, 0.5], dtype=torch.float32).double().requires_grad_(True)
cases['bce_extreme'] = case(lambda logits, targets: F.binary_cross_entropy_with_logits(logits, targets),
                            {'logits': ext_b}, {'targets': torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0], dtype=torch.float64)})


def focal(logits, targets, alpha=0.25, gamma=2.0):
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction='none')
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * loss).mean()


cases['focal'] = case(focal, {'logits': rand(3, 4, scale=2.0)}, {'targets': torch.rand(3, 4, dtype=torch.float64).round()})

# -------------------------------------------------------- regression
cases['mse'] = case(lambda predictions, targets: F.mse_loss(predictions, targets), {'predictions': rand(3, 4)}, {'targets': torch.randn(3, 4, dtype=torch.float64)})
cases['mae_sum'] = case(lambda predictions, targets: F.l1_loss(predictions, targets, reduction='sum'), {'predictions': rand(3, 4)},
                        {'targets': torch.randn(3, 4, dtype=torch.float64)}, {'reduction': 'sum'})
cases['huber'] = case(lambda predictions, targets: F.huber_loss(predictions, targets, delta=0.5), {'predictions': rand(3, 4, scale=2.0)},
                      {'targets': torch.randn(3, 4, dtype=torch.float64)}, {'delta': 0.5})

# ---------------------------------------------------------------- KL
tgt = torch.softmax(torch.randn(3, 5, dtype=torch.float64), -1)
tgt[0, 2] = 0.0  # a zero target: 0 · log 0 = 0
for red in ['batchmean', 'mean', 'sum', 'none']:
    cases[f'kl_{red}'] = case(lambda input, target, red=red: F.kl_div(input, target, reduction=red),
                              {'input': rand(3, 5)}, {'target': tgt}, {'reduction': red})
cases['kl_log_target'] = case(lambda input, target: F.kl_div(input, target, reduction='batchmean', log_target=True),
                              {'input': rand(3, 5)}, {'target': torch.log_softmax(torch.randn(3, 5, dtype=torch.float64), -1)},
                              {'reduction': 'batchmean', 'logTarget': True})

# --------------------------------------------------------- embeddings
cases['cosine_embedding'] = case(lambda x1, x2, y: F.cosine_embedding_loss(x1, x2, y, margin=0.2),
                                 {'x1': rand(4, 6), 'x2': rand(4, 6)}, {'y': torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64)}, {'margin': 0.2})
for swap in [False, True]:
    cases[f'triplet_swap_{swap}'] = case(lambda anchor, positive, negative, swap=swap: F.triplet_margin_loss(anchor, positive, negative, margin=0.5, swap=swap),
                                         {'anchor': rand(4, 6), 'positive': rand(4, 6), 'negative': rand(4, 6)}, options={'margin': 0.5, 'swap': swap})
cases['triplet_p1'] = case(lambda anchor, positive, negative: F.triplet_margin_loss(anchor, positive, negative, margin=1.0, p=1),
                           {'anchor': rand(3, 5), 'positive': rand(3, 5), 'negative': rand(3, 5)}, options={'p': 1})


def infonce(a, b, t=0.1):
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).t() / t
    labels = torch.arange(a.shape[0])
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


cases['infonce'] = case(infonce, {'a': rand(5, 8), 'b': rand(5, 8)}, options={'temperature': 0.1})


def distill(student, teacher, labels, T=3.0, alpha=0.7):
    soft = F.kl_div(F.log_softmax(student / T, -1), F.softmax(teacher / T, -1), reduction='batchmean') * T * T
    return alpha * soft + (1 - alpha) * F.cross_entropy(student, labels)


cases['distillation'] = case(distill, {'student': rand(4, 6)}, {'teacher': torch.randn(4, 6, dtype=torch.float64) * 2, 'labels': torch.tensor([0, 5, 2, 2])},
                             {'temperature': 3.0, 'alpha': 0.7})

# ---------------------------------------------------------------- CTC
def ctc(logits, targets, input_lengths, target_lengths, reduction='mean', zero_infinity=False, blank=0):
    return F.ctc_loss(F.log_softmax(logits, -1), targets, input_lengths, target_lengths, blank=blank,
                      reduction=reduction, zero_infinity=zero_infinity)


ctc_cases = {
    'ctc_basic': dict(T=12, B=2, C=6, targets=[[1, 2, 3], [4, 5, 0]], il=[12, 10], tl=[3, 2], opts={}),
    'ctc_repeated': dict(T=10, B=2, C=5, targets=[[2, 2, 3, 3], [1, 1, 1, 0]], il=[10, 9], tl=[4, 3], opts={'reduction': 'sum'}),
    'ctc_blank_last': dict(T=8, B=2, C=4, targets=[[1, 2], [0, 1]], il=[8, 8], tl=[2, 2], opts={'blank': 3, 'reduction': 'none'}),
    'ctc_impossible_zero_inf': dict(T=4, B=2, C=4, targets=[[1, 1, 1], [2, 3, 0]], il=[4, 3], tl=[3, 2], opts={'zeroInfinity': True, 'reduction': 'none'}),
    'ctc_empty_target': dict(T=6, B=2, C=4, targets=[[0, 0], [1, 2]], il=[6, 5], tl=[0, 2], opts={}),
}
for name, c in ctc_cases.items():
    o = c['opts']
    cases[name] = case(
        lambda logits, targets, c=c, o=o: ctc(logits, targets, c['il'], c['tl'], o.get('reduction', 'mean'), o.get('zeroInfinity', False), o.get('blank', 0)),
        {'logits': rand(c['T'], c['B'], c['C'], scale=2.0)}, {'targets': torch.tensor(c['targets'])},
        {**o, 'inputLengths': c['il'], 'targetLengths': c['tl']})

# Impossible alignment without zero_infinity: the loss is +inf (value only).
lg = rand(3, 1, 4)
inf_loss = ctc(lg, torch.tensor([[1, 1, 2]]), [3], [3], reduction='sum')
cases['ctc_impossible_inf'] = {'inputs': {'logits': enc(lg)}, 'constants': {'targets': enc(torch.tensor([[1, 1, 2]]))},
                               'options': {'reduction': 'sum', 'inputLengths': [3], 'targetLengths': [3]}, 'output': enc(inf_loss)}

# ------------------------------------------- cross-entropy, masked (-inf) logits
# A class masked with -inf, and ignored rows whose logits are all -inf (fully
# masked positions). PyTorch's values are finite (+inf with label smoothing,
# which puts weight on a class of probability 0); its gradient is NaN on an
# all -inf ignored row, where ours is 0 (an ignored row contributes nothing):
# those rows are zeroed in the golden, every other entry is torch's own.
NINF = float('-inf')


def masked_logits(rows, classes, masked, all_masked, scale=2.0):
    x = torch.randn(rows, classes, dtype=torch.float32) * scale
    for r, c in masked:
        x[r, c] = NINF
    for r in all_masked:
        x[r, :] = NINF
    return x.double().requires_grad_(True)


def masked_case(fn, logits, labels, options, ignore_index=-100, constants=None):
    result = case(fn, {'logits': logits}, {'labels': labels, **(constants or {})}, options)
    grad = logits.grad.clone()
    ignored = labels == ignore_index
    assert torch.isfinite(grad[~ignored]).all(), 'torch gave a non-finite gradient on a counted row'
    grad[ignored] = 0.0
    result['grads']['logits'] = enc(grad)
    return result


mask_labels = torch.tensor([0, -100, 3, 2, -100])
mask_spec = dict(rows=5, classes=4, masked=[(0, 1), (2, 0), (2, 1), (3, 3)], all_masked=[1])
cw = torch.tensor([1.0, 0.0, 2.0, 0.5], dtype=torch.float64)  # weight 0 on a masked class
for name, kw, opts in [
    ('ce_masked_mean', {}, {}),
    ('ce_masked_sum', {'reduction': 'sum'}, {'reduction': 'sum'}),
    ('ce_masked_none', {'reduction': 'none'}, {'reduction': 'none'}),
    ('ce_masked_weights', {'weight': cw}, {}),
    ('ce_masked_weights_sum', {'weight': cw, 'reduction': 'sum'}, {'reduction': 'sum'}),
    ('ce_masked_smoothing', {'label_smoothing': 0.1}, {'labelSmoothing': 0.1}),
    ('ce_masked_smoothing_none', {'label_smoothing': 0.1, 'reduction': 'none'}, {'labelSmoothing': 0.1, 'reduction': 'none'}),
]:
    consts = {'weights': cw} if 'weight' in kw else None
    cases[name] = masked_case(
        lambda logits, labels, weights=None, kw=kw: F.cross_entropy(logits, labels, **kw),
        masked_logits(**mask_spec), mask_labels, opts, constants=consts)


def ce_z_masked(logits, labels, weight=1e-2):
    keep = labels != -100
    z = torch.logsumexp(logits[keep], -1) ** 2
    return F.cross_entropy(logits, labels) + weight * z.mean()


cases['ce_masked_zloss'] = masked_case(ce_z_masked, masked_logits(**mask_spec), mask_labels, {'zLossWeight': 1e-2})
cases['ce_masked_ignore_index_7'] = masked_case(
    lambda logits, labels: F.cross_entropy(logits, labels, ignore_index=7),
    masked_logits(**mask_spec), torch.tensor([0, 7, 3, 2, 7]), {'ignoreIndex': 7}, ignore_index=7)

# Probability targets: torch computes sum(target · log p) as a product, so a
# masked class with target 0 gives 0 · -inf = NaN there. Ours takes 0 · log 0
# as 0 (as kl_div does); the reference writes that convention with where().
def ce_probs_masked(logits, labels):
    logp = torch.log_softmax(logits, -1)
    return -(torch.where(labels > 0, labels * logp, torch.zeros_like(logp))).sum(-1).mean()


pm = torch.tensor([[0.7, 0.0, 0.3, 0.0], [0.1, 0.2, 0.3, 0.4], [0.0, 0.0, 0.5, 0.5]], dtype=torch.float64)
cases['ce_probs_masked'] = case(ce_probs_masked, {'logits': masked_logits(3, 4, [(0, 1), (0, 3), (2, 0)], [])}, {'labels': pm})

with open(OUT, 'w') as f:
    json.dump({'generator': 'test/reference/losses.py', 'torch': torch.__version__, 'cases': cases}, f, separators=(',', ':'))
print(f'wrote {os.path.normpath(OUT)}: {len(cases)} cases, {os.path.getsize(OUT)} bytes')
