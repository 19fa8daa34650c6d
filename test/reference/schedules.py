#!/usr/bin/env python3
"""Writes test/goldens/schedules.json: 1,000 steps of torch.optim.lr_scheduler.

Each case builds a fresh SGD optimizer (base learning rate BASE_LR) and one
PyTorch scheduler, then records, for k = 0 .. STEPS - 1, the learning rate
that the (k + 1)-th optimizer.step() uses: the value of get_last_lr() after
k calls of scheduler.step(). That is our schedule's value at step k (steps
count from 0, as in optax), so the tests compare `schedule(k)` with
`lrs[k]` directly.

Chainable schedulers (LinearLR, ExponentialLR, CosineAnnealingLR,
PolynomialLR, ... and so SequentialLR) update the rate recursively,
lr_k = lr_{k-1} * ratio, which accumulates float error. For each case the
script also evaluates torch's own closed form (`_get_closed_form_lr()` of the
scheduler, or of SequentialLR's active child) and stores the recursive
values unless they differ from the closed form by more than 1e-7 relative;
then it stores the closed form and says so in the case's "reference" field
(with the measured difference in "recursiveVsClosedForm").
OneCycleLR and CosineAnnealingWarmRestarts compute each rate directly from
the step, so for them the two agree by construction.

Run: /opt/torch2/bin/python test/reference/schedules.py  (torch 2.x). The
Debian /usr/bin/python3 with torch 1.13 also works: it writes the same values
(checked: every rate equal), only the "torch" field differs.
"""
import bisect
import json
import os
import warnings

import torch
from torch.optim import lr_scheduler as S

OUT = os.path.join(os.path.dirname(__file__), '..', 'goldens', 'schedules.json')
STEPS = 1000
BASE_LR = 0.1
TOLERANCE = 1e-7

warnings.filterwarnings('ignore')


def optimizer():
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=BASE_LR)


def closed_form(scheduler):
    if isinstance(scheduler, S.SequentialLR):
        child = scheduler._schedulers[bisect.bisect_right(scheduler._milestones, scheduler.last_epoch)]
        return closed_form(child)
    if hasattr(scheduler, '_get_closed_form_lr'):
        return scheduler._get_closed_form_lr()[0]
    return scheduler.get_last_lr()[0]


# Each case: the torch scheduler, and the options of our equivalent (for the
# test to build), in the units our factories take.
CASES = {
    'LinearLR': (
        lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=100),
        {'schedule': 'linearSchedule', 'options': {'initValue': BASE_LR * 0.25, 'endValue': BASE_LR, 'transitionSteps': 100}},
    ),
    'StepLR': (
        lambda o: S.StepLR(o, step_size=30, gamma=0.7),
        {'schedule': 'exponentialDecaySchedule', 'options': {'initValue': BASE_LR, 'transitionSteps': 30, 'decayRate': 0.7, 'staircase': True}},
    ),
    'MultiStepLR': (
        lambda o: S.MultiStepLR(o, milestones=[100, 300, 600], gamma=0.1),
        {'schedule': 'piecewiseConstantSchedule', 'options': {'initValue': BASE_LR, 'boundariesAndScales': {'100': 0.1, '300': 0.1, '600': 0.1}}},
    ),
    'ExponentialLR': (
        lambda o: S.ExponentialLR(o, gamma=0.995),
        {'schedule': 'exponentialDecaySchedule', 'options': {'initValue': BASE_LR, 'transitionSteps': 1, 'decayRate': 0.995}},
    ),
    'CosineAnnealingLR': (
        lambda o: S.CosineAnnealingLR(o, T_max=STEPS - 1, eta_min=1e-4),
        {'schedule': 'cosineDecaySchedule', 'options': {'initValue': BASE_LR, 'decaySteps': STEPS - 1, 'alpha': 1e-4 / BASE_LR}},
    ),
    'PolynomialLR': (
        lambda o: S.PolynomialLR(o, total_iters=800, power=2.0),
        {'schedule': 'polynomialSchedule', 'options': {'initValue': BASE_LR, 'endValue': 0, 'power': 2, 'transitionSteps': 800}},
    ),
    'OneCycleLR-cos': (
        lambda o: S.OneCycleLR(o, max_lr=BASE_LR, total_steps=STEPS, cycle_momentum=False),
        {'schedule': 'oneCycleSchedule', 'options': {'maxValue': BASE_LR, 'totalSteps': STEPS}},
    ),
    'OneCycleLR-linear-three-phase': (
        lambda o: S.OneCycleLR(o, max_lr=BASE_LR, total_steps=STEPS, pct_start=0.25, anneal_strategy='linear',
                               div_factor=10.0, final_div_factor=100.0, three_phase=True, cycle_momentum=False),
        {'schedule': 'oneCycleSchedule', 'options': {'maxValue': BASE_LR, 'totalSteps': STEPS, 'pctStart': 0.25,
                                                     'annealStrategy': 'linear', 'divFactor': 10, 'finalDivFactor': 100, 'threePhase': True}},
    ),
    'CosineAnnealingWarmRestarts-mult2': (
        lambda o: S.CosineAnnealingWarmRestarts(o, T_0=100, T_mult=2, eta_min=1e-4),
        {'schedule': 'cosineRestartsSchedule', 'options': {'initValue': BASE_LR, 'firstPeriod': 100, 'periodMultiplier': 2, 'minValue': 1e-4}},
    ),
    'CosineAnnealingWarmRestarts-mult1': (
        lambda o: S.CosineAnnealingWarmRestarts(o, T_0=150, T_mult=1, eta_min=0.0),
        {'schedule': 'cosineRestartsSchedule', 'options': {'initValue': BASE_LR, 'firstPeriod': 150}},
    ),
    'SequentialLR-warmup-cosine': (
        lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.01, end_factor=1.0, total_iters=100),
                                     S.CosineAnnealingLR(o, T_max=STEPS - 100, eta_min=1e-5)], milestones=[100]),
        {'schedule': 'warmupCosineDecaySchedule', 'options': {'initValue': BASE_LR * 0.01, 'peakValue': BASE_LR, 'warmupSteps': 100,
                                                              'decaySteps': STEPS, 'endValue': 1e-5}},
    ),
}


def run(make):
    scheduler = make(optimizer())
    recursive, closed = [], []
    for _ in range(STEPS):
        recursive.append(float(scheduler.get_last_lr()[0]))
        closed.append(float(closed_form(scheduler)))
        scheduler.step()
    return recursive, closed


def relative_difference(a, b):
    return max(abs(x - y) / max(abs(y), 1e-300) if y != 0 else abs(x) for x, y in zip(a, b))


# ReduceLROnPlateau is driven by a metric, not the step: feed it a fixed
# sequence (plateaus, tiny improvements under the threshold, real ones) and
# record the rate after each epoch's scheduler.step(metric).
PLATEAU_METRICS = [5, 4, 4, 4, 4, 3.999, 4, 4, 4, 4, 4, 2, 2.0001, 1.9995, 2, 2, 2, 2, 2, 2,
                   2, 2, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
PLATEAU_CASES = {
    'ReduceLROnPlateau-min': {'mode': 'min', 'factor': 0.5, 'patience': 2, 'threshold': 1e-3, 'cooldown': 2, 'minimum': 0.02},
    'ReduceLROnPlateau-max': {'mode': 'max', 'factor': 0.3, 'patience': 1, 'threshold': 1e-4, 'cooldown': 0, 'minimum': 0.0},
}


def plateau(options, metrics):
    opt = optimizer()
    scheduler = S.ReduceLROnPlateau(opt, mode=options['mode'], factor=options['factor'], patience=options['patience'],
                                    threshold=options['threshold'], threshold_mode='rel', cooldown=options['cooldown'],
                                    min_lr=options['minimum'])
    lrs = []
    for m in metrics:
        scheduler.step(m)
        lrs.append(float('%.17g' % opt.param_groups[0]['lr']))
    return lrs


cases = {}
for name, options in PLATEAU_CASES.items():
    metrics = [float(m) if options['mode'] == 'min' else 10 - float(m) for m in PLATEAU_METRICS]
    cases[name] = {'plateau': options, 'metrics': metrics, 'lrs': plateau(options, metrics)}

for name, (make, ours) in CASES.items():
    recursive, closed = run(make)
    difference = relative_difference(recursive, closed)
    use_closed = difference > TOLERANCE
    cases[name] = {
        **ours,
        'reference': 'closed_form' if use_closed else 'get_last_lr',
        'recursiveVsClosedForm': float('%.3g' % difference),
        'lrs': [float('%.17g' % x) for x in (closed if use_closed else recursive)],
    }
    print(f'{name:36s} recursive vs closed form: {difference:.3g}  -> {cases[name]["reference"]}')

with open(OUT, 'w') as f:
    json.dump({'torch': torch.__version__, 'steps': STEPS, 'baseLr': BASE_LR, 'cases': cases}, f, separators=(',', ':'))
    f.write('\n')
print(f'wrote {OUT} ({os.path.getsize(OUT)} bytes)')
