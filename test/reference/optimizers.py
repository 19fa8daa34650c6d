#!/usr/bin/env python3
"""Writes test/goldens/optimizers.json: 50-step optimizer trajectories.

For each optimizer configuration and each problem (a small MLP and a
quadratic), PyTorch runs 50 steps in float64 from fixed initial weights,
recording the gradient it saw at every step and the parameters at
checkpoints. The TypeScript tests feed the same gradients to our
optimizers and compare the parameters ("same initial weights, same
gradients"), so only the optimizer's arithmetic is under test.

torch.optim is the reference for SGD, Adam, AdamW, Adamax, NAdam, RAdam,
Adagrad, Adadelta and RMSprop (PyTorch >= 2: 1.13's NAdam has a since-fixed
bug in its momentum product). Lion, LAMB and Adafactor, which torch 1.x/2.x
lack or define differently, follow optax's update equations, written below
in plain torch.

Run: python test/reference/optimizers.py  with torch >= 2 (e.g. a venv with
the wheel from the local pip mirror: pip install torch).
"""
import json
import math
import os

import torch

assert int(torch.__version__.split('.')[0]) >= 2, 'needs torch >= 2 (NAdam semantics)'
torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '..', 'goldens', 'optimizers.json')
STEPS = 50
CHECKPOINTS = [1, 2, 3, 5, 10, 20, 30, 40, 50]


def f32(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=torch.float32) * scale).double()


def rounded(t):
    return [float('%.9g' % x) for x in t.detach().flatten().tolist()]


# ------------------------------------------------------------- problems
mlp_x = f32(8, 3)
mlp_y = torch.randint(0, 2, (8,))
quad_m = f32(4, 4)
quad_a = quad_m @ quad_m.t() / 4 + torch.eye(4, dtype=torch.float64) * 0.5
quad_b = f32(4)

PROBLEMS = {
    'mlp': {
        'init': {'w1': f32(3, 4, scale=0.5), 'b1': f32(4, scale=0.1), 'w2': f32(4, 2, scale=0.5), 'b2': f32(2, scale=0.1)},
        'loss': lambda p: torch.nn.functional.cross_entropy(torch.tanh(mlp_x @ p['w1'] + p['b1']) @ p['w2'] + p['b2'], mlp_y),
    },
    'quadratic': {
        'init': {'x': f32(4)},
        'loss': lambda p: 0.5 * p['x'] @ quad_a @ p['x'] - quad_b @ p['x'],
    },
}


# ------------------------------------------- optax-equation references
def lion_step(p, g, s, lr, b1=0.9, b2=0.99, wd=0.0):
    mu = s.setdefault('mu', torch.zeros_like(p))
    update = torch.sign(b1 * mu + (1 - b1) * g) + wd * p
    s['mu'] = b2 * mu + (1 - b2) * g
    return p - lr * update


def lamb_step(p, g, s, lr, t, b1=0.9, b2=0.999, eps=1e-6, wd=0.0):
    mu = s['mu'] = b1 * s.get('mu', torch.zeros_like(p)) + (1 - b1) * g
    nu = s['nu'] = b2 * s.get('nu', torch.zeros_like(p)) + (1 - b2) * g * g
    u = (mu / (1 - b1 ** t)) / (torch.sqrt(nu / (1 - b2 ** t)) + eps) + wd * p
    pn, un = p.norm(), u.norm()
    ratio = 1.0 if (pn == 0 or un == 0) else pn / un
    return p - lr * ratio * u


def adafactor_step(p, g, s, lr, t, min_dim=128, decay_rate=0.8, eps=1e-30, clip=1.0, momentum=None, wd=0.0, factored=True):
    decay = 1 - t ** (-decay_rate)
    g2 = g * g + eps
    dims = None
    if factored and p.dim() >= 2:
        order = sorted(range(p.dim()), key=lambda i: (p.shape[i], i))
        if p.shape[order[-2]] >= min_dim:
            dims = (order[-2], order[-1])
    if dims:
        d1, d0 = dims
        s['vr'] = decay * s.get('vr', torch.zeros_like(g2.mean(d0))) + (1 - decay) * g2.mean(d0)
        s['vc'] = decay * s.get('vc', torch.zeros_like(g2.mean(d1))) + (1 - decay) * g2.mean(d1)
        rd1 = d1 - 1 if d1 > d0 else d1
        row = (s['vr'] / s['vr'].mean(rd1, keepdim=True)) ** -0.5
        col = s['vc'] ** -0.5
        u = g * row.unsqueeze(d0) * col.unsqueeze(d1)
    else:
        s['v'] = decay * s.get('v', torch.zeros_like(g)) + (1 - decay) * g2
        u = g * s['v'] ** -0.5
    if clip is not None:
        u = u / max(1.0, (u.pow(2).mean().sqrt() / clip).item())
    u = u * lr
    u = u * max(p.pow(2).mean().sqrt().item(), 1e-3)
    if momentum is not None:
        s['m'] = momentum * s.get('m', torch.zeros_like(u)) + (1 - momentum) * u
        u = s['m']
    u = u + wd * p
    return p - u


# ----------------------------------------------------------- configs
# name: (torch factory or optax-equation step, our options)
TORCH = {
    'sgd_momentum': (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), {'learningRate': 0.1, 'momentum': 0.9}),
    'sgd_nesterov_wd': (lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
                        {'learningRate': 0.05, 'momentum': 0.9, 'nesterov': True, 'weightDecay': 0.01}),
    'sgd_dampening_wd': (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.8, dampening=0.3, weight_decay=0.05),
                         {'learningRate': 0.1, 'momentum': 0.8, 'dampening': 0.3, 'weightDecay': 0.05}),
    'adam': (lambda ps: torch.optim.Adam(ps, lr=1e-2), {'learningRate': 1e-2}),
    'adam_amsgrad_wd': (lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.01),
                        {'learningRate': 1e-2, 'b1': 0.8, 'b2': 0.99, 'amsgrad': True, 'weightDecay': 0.01}),
    'adamw': (lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1), {'learningRate': 1e-2, 'weightDecay': 0.1}),
    'adamax_wd': (lambda ps: torch.optim.Adamax(ps, lr=2e-2, weight_decay=0.01), {'learningRate': 2e-2, 'weightDecay': 0.01}),
    'nadam': (lambda ps: torch.optim.NAdam(ps, lr=1e-2), {'learningRate': 1e-2}),
    'radam': (lambda ps: torch.optim.RAdam(ps, lr=1e-2), {'learningRate': 1e-2}),
    'adagrad': (lambda ps: torch.optim.Adagrad(ps, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
                {'learningRate': 0.1, 'lrDecay': 0.01, 'initialAccumulatorValue': 0.1}),
    'adadelta': (lambda ps: torch.optim.Adadelta(ps, lr=1.0, rho=0.9), {'learningRate': 1.0, 'rho': 0.9}),
    'rmsprop_centered': (lambda ps: torch.optim.RMSprop(ps, lr=1e-2, alpha=0.9, centered=True),
                         {'learningRate': 1e-2, 'alpha': 0.9, 'centered': True}),
    'rmsprop_momentum_wd': (lambda ps: torch.optim.RMSprop(ps, lr=1e-3, momentum=0.9, weight_decay=0.01),
                            {'learningRate': 1e-3, 'momentum': 0.9, 'weightDecay': 0.01}),
}
OPTAX = {
    'lion': (lambda p, g, s, t: lion_step(p, g, s, 1e-3, wd=0.1), {'learningRate': 1e-3, 'weightDecay': 0.1}),
    'lamb': (lambda p, g, s, t: lamb_step(p, g, s, 1e-2, t, wd=0.01), {'learningRate': 1e-2, 'weightDecay': 0.01}),
    'adafactor_factored': (lambda p, g, s, t: adafactor_step(p, g, s, 1e-1, t, min_dim=2),
                           {'learningRate': 1e-1, 'minDimSizeToFactor': 2}),
    'adafactor_momentum_wd': (lambda p, g, s, t: adafactor_step(p, g, s, 5e-2, t, momentum=0.9, wd=1e-3, factored=False),
                              {'learningRate': 5e-2, 'momentum': 0.9, 'weightDecay': 1e-3, 'factored': False}),
}


def run(problem, step_fn):
    params = {k: v.clone().requires_grad_(True) for k, v in problem['init'].items()}
    grads, checkpoints, losses = [], {}, []
    for t in range(1, STEPS + 1):
        for p in params.values():
            p.grad = None
        loss = problem['loss'](params)
        loss.backward()
        losses.append(loss.item())
        grads.append({k: rounded(p.grad) for k, p in params.items()})
        # Feed exactly the float32-rounded gradient that the TypeScript side reads.
        for p in params.values():
            p.grad = torch.tensor([float('%.9g' % x) for x in p.grad.flatten().tolist()], dtype=torch.float64).view_as(p.grad)
        step_fn(params, t)
        if t in CHECKPOINTS:
            checkpoints[str(t)] = {k: rounded(p) for k, p in params.items()}
    return {'grads': grads, 'checkpoints': checkpoints, 'losses': [losses[0], losses[-1]]}


cases = {}
for pname, problem in PROBLEMS.items():
    for name, (factory, options) in TORCH.items():
        def torch_step(params, t, opt=[]):
            if not opt:
                opt.append(factory(list(params.values())))
            opt[0].step()
        cases[f'{name}/{pname}'] = {'optimizer': name, 'options': options, 'problem': pname, **run(problem, torch_step)}
    for name, (fn, options) in OPTAX.items():
        states = {}

        def optax_step(params, t, fn=fn, states=states):
            with torch.no_grad():
                for k, p in params.items():
                    p.copy_(fn(p.detach().clone(), p.grad, states.setdefault(k, {}), t))
        cases[f'{name}/{pname}'] = {'optimizer': name, 'options': options, 'problem': pname, **run(problem, optax_step)}

initial = {pname: {k: {'shape': list(v.shape), 'data': rounded(v)} for k, v in problem['init'].items()}
           for pname, problem in PROBLEMS.items()}
with open(OUT, 'w') as f:
    json.dump({'generator': 'test/reference/optimizers.py', 'torch': torch.__version__, 'steps': STEPS,
               'initial': initial, 'cases': cases}, f, separators=(',', ':'))
print(f'wrote {os.path.normpath(OUT)}: {len(cases)} trajectories, {os.path.getsize(OUT)} bytes')
