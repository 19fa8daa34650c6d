#!/usr/bin/env python3
"""Writes test/goldens/privacy.json: RDP and (epsilon, delta) of DP-SGD.

DP-SGD with Poisson sampling at rate q and Gaussian noise multiplier sigma is
the Poisson-subsampled Gaussian mechanism (Mironov, Talwar, Zhang 2019,
https://arxiv.org/abs/1908.10530), composed over `steps` steps. For each case
this script records:

- `rdp`: the RDP of ONE step at every order of `orders` (dp_accounting's
  DEFAULT_RDP_ORDERS: 1.1, 1.2, ..., 10.9, 11, ..., 63, 128, 256, 512, 1024);
- `epsilon`, `order`: the epsilon for `delta` after `steps` steps and the order
  that attains it, with the conversion current dp_accounting uses (Canonne,
  Kamath, Steinke 2020, https://arxiv.org/abs/2004.00010 Prop. 12; Balle et
  al. 2020 https://arxiv.org/abs/1905.09982 Thm. 21), including its KL-bound
  shortcut (epsilon = 0 when delta^2 + expm1(-rdp) > 0) and its rule that
  orders <= 1.01 give no bound;
- `epsilonClassic`, `orderClassic`: the classic conversion of Mironov 2017
  (https://arxiv.org/abs/1702.07476 Prop. 3), min over orders of
  rdp - log(delta) / (order - 1).

Where the RDP comes from (the "source" field of the JSON):

1. If Google's `dp_accounting` package imports, its `RdpAccountant` composes
   `PoissonSampledDpEvent(q, GaussianDpEvent(sigma))` `steps` times and gives
   the epsilon and order; the per-step RDP curve is read from a one-step
   accountant. This is the reference the issue asks for.
2. Otherwise (the machine that wrote the committed JSON could not install
   dp_accounting: the pip mirror does not carry it) the RDP is computed here
   from the definition, independently of the series that dp_accounting and our
   TypeScript evaluate: A_alpha = E_{z ~ N(0, sigma^2)} [((1 - q) + q
   exp((2z - 1) / (2 sigma^2)))^alpha] and rdp = log(A_alpha) / (alpha - 1),
   in 30-digit arithmetic with mpmath: for integer orders the exact binomial
   sum; for fractional orders tanh-sinh quadrature of the integral over the
   whole real line (checked against the exact sum at integer orders, see
   `check_quadrature`). The conversion to epsilon is the formula above.

The inverse questions (`budget`, written to test/goldens/privacy-budget.json):
the smallest noise multiplier whose epsilon is at most a target, and the most
steps a budget buys, found here by bisection over the exact binomial-sum RDP
at integer orders (ORDERS_INT, which the TypeScript tests pass as `orders`),
with nothing shared with the TypeScript search.

Run: /work/venv/bin/python test/reference/privacy.py [budget]   (numpy + mpmath; with
dp_accounting installed it is used: pip install dp-accounting)
"""
import json
import math
import os
import sys

import mpmath as mp

mp.mp.dps = 30
OUT = os.path.join(os.path.dirname(__file__), '..', 'goldens', 'privacy.json')

ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(11, 64)) + [128, 256, 512, 1024]


def log_a_integer(q, sigma, alpha):
    """log A_alpha as the exact finite binomial sum (integer alpha)."""
    q, s2 = mp.mpf(q), mp.mpf(sigma) ** 2
    total = mp.mpf(0)
    for k in range(alpha + 1):
        total += mp.binomial(alpha, k) * (1 - q) ** (alpha - k) * q**k * mp.exp((k * k - k) / (2 * s2))
    return mp.log(total)


def log_a_quadrature(q, sigma, alpha):
    """log A_alpha by numerical integration of its definition (any alpha > 1)."""
    q, sigma, alpha = mp.mpf(q), mp.mpf(sigma), mp.mpf(alpha)
    s2 = sigma**2

    def integrand(z):
        density = mp.exp(-z * z / (2 * s2)) / (sigma * mp.sqrt(2 * mp.pi))
        return density * ((1 - q) + q * mp.exp((2 * z - 1) / (2 * s2))) ** alpha

    # The integrand has mass near 0 (the N(0, sigma^2) part) and, for large
    # orders, near z = alpha (where the q-term's growth meets the Gaussian
    # tail); z0 is where the two terms of the base are equal.
    z0 = s2 * mp.log(1 / q - 1) + mp.mpf(0.5)
    points = sorted({mp.mpf(0), mp.mpf(0.5), z0, alpha, 2 * alpha + 20 * sigma})
    value = mp.quad(integrand, [-mp.inf, *points, mp.inf])
    return mp.log(value)


def rdp_one_step(q, sigma, alpha):
    if q == 0:
        return 0.0
    if q == 1:
        return alpha / (2 * sigma**2)
    if float(alpha).is_integer():
        log_a = log_a_integer(q, sigma, int(alpha))
    else:
        log_a = log_a_quadrature(q, sigma, alpha)
    return float(log_a / (mp.mpf(alpha) - 1))


def check_quadrature():
    """The quadrature must reproduce the exact sum where both apply."""
    worst = 0.0
    for q, sigma in [(0.01, 1.0), (256 / 60000, 1.1), (0.1, 0.5), (0.01, 4.0)]:
        for alpha in [2, 3, 8, 32, 63]:
            exact = log_a_integer(q, sigma, alpha)
            quad = log_a_quadrature(q, sigma, alpha)
            worst = max(worst, float(abs(quad - exact) / abs(exact)))
    assert worst < 1e-15, f'quadrature disagrees with the exact sum: {worst}'
    return worst


def epsilon_improved(orders, rdp, delta):
    best = (math.inf, 0.0)
    for a, r in zip(orders, rdp):
        if r < 0:
            eps = 0.0
        elif delta**2 + math.expm1(-r) > 0:
            eps = 0.0
        elif a > 1.01:
            eps = r + math.log1p(-1 / a) - math.log(delta * a) / (a - 1)
        else:
            eps = math.inf
        if eps < best[0]:
            best = (eps, a)
    return max(0.0, best[0]), best[1]


def epsilon_classic(orders, rdp, delta):
    best = (math.inf, 0.0)
    for a, r in zip(orders, rdp):
        eps = r - math.log(delta) / (a - 1)
        if eps < best[0]:
            best = (eps, a)
    return max(0.0, best[0]), best[1]


# name, sampling rate q, noise multiplier sigma, steps, delta
CASES = [
    # TF Privacy's MNIST tutorial: 60000 examples, batch 256, 60 epochs.
    ('mnist-sigma1.1-60epochs', 256 / 60000, 1.1, math.ceil(60 * 60000 / 256), 1e-5),
    ('mnist-sigma1.12-60epochs', 256 / 60000, 1.12, 60 * 60000 // 256, 1e-5),
    ('mnist-sigma0.6-30epochs', 256 / 60000, 0.6, 30 * 60000 // 256, 1e-5),
    ('mnist-sigma1.2-10epochs', 256 / 60000, 1.2, 10 * 60000 // 256, 1e-5),
    ('mnist-sigma0.7-45epochs', 256 / 60000, 0.7, 45 * 60000 // 256, 1e-5),
    # Abadi et al. 2016: lots of 600 of 60000 (q = 0.01), small/medium/large noise.
    ('abadi-q0.01-sigma2-10000steps', 0.01, 2.0, 10000, 1e-5),
    ('abadi-q0.01-sigma4-10000steps', 0.01, 4.0, 10000, 1e-5),
    ('abadi-q0.01-sigma8-10000steps', 0.01, 8.0, 10000, 1e-5),
    # Edges: one step; full batch (q = 1, plain Gaussian); a tiny rate; a
    # large epsilon whose best order is fractional; a loose delta where the
    # KL shortcut gives epsilon 0.
    ('one-step-q0.01-sigma1', 0.01, 1.0, 1, 1e-5),
    ('full-batch-sigma5-100steps', 1.0, 5.0, 100, 1e-5),
    ('tiny-rate-q1e-4-sigma0.8', 1e-4, 0.8, 100000, 1e-6),
    ('large-epsilon-q0.1-sigma0.5', 0.1, 0.5, 1000, 1e-5),
    ('loose-delta-kl-shortcut', 0.001, 20.0, 10, 0.5),
    # The browser demo's private run (examples/web/private-fine-tune.ts, defaults): q = 32 / 3641,
    # the sigma noiseMultiplierForEpsilon picks for epsilon 8 at delta 1e-5 in 100 steps.
    ('web-demo-private-100steps', 32 / 3641, 0.48974609375, 100, 1e-5),
]


def with_dp_accounting(q, sigma, steps, delta):
    import dp_accounting  # noqa: PLC0415

    event = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma))
    one = dp_accounting.rdp.RdpAccountant(ORDERS)
    one.compose(event, 1)
    many = dp_accounting.rdp.RdpAccountant(ORDERS)
    many.compose(event, steps)
    eps, order = many.get_epsilon_and_optimal_order(delta)
    return [float(r) for r in one.rdp], float(eps), float(order)


def main():
    try:
        import dp_accounting  # noqa: F401, PLC0415

        source = f'dp_accounting {getattr(dp_accounting, "__version__", "?")} RdpAccountant'
        use_package = True
    except ImportError:
        source = (
            'mpmath 30-digit evaluation of the definition (exact binomial sum at integer '
            'orders, quadrature at fractional orders); dp_accounting was not installable'
        )
        use_package = False
    quadrature_error = None if use_package else check_quadrature()

    cases = []
    for name, q, sigma, steps, delta in CASES:
        print(name, file=sys.stderr)
        if use_package:
            rdp, eps, order = with_dp_accounting(q, sigma, steps, delta)
        else:
            rdp = [rdp_one_step(q, sigma, a) for a in ORDERS]
            eps, order = epsilon_improved(ORDERS, [steps * r for r in rdp], delta)
        eps_classic, order_classic = epsilon_classic(ORDERS, [steps * r for r in rdp], delta)
        cases.append({
            'name': name,
            'samplingRate': q,
            'noiseMultiplier': sigma,
            'steps': steps,
            'delta': delta,
            'rdp': [float('%.15g' % r) for r in rdp],
            'epsilon': float('%.15g' % eps),
            'order': order,
            'epsilonClassic': float('%.15g' % eps_classic),
            'orderClassic': order_classic,
        })
    out = {
        'source': source,
        'quadratureVsExactSum': quadrature_error,
        'orders': ORDERS,
        'cases': cases,
    }
    with open(OUT, 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')
    print(f'wrote {OUT} ({len(cases)} cases, source: {source})', file=sys.stderr)


ORDERS_INT = list(range(2, 65)) + [128, 256]
BUDGET_OUT = os.path.join(os.path.dirname(__file__), '..', 'goldens', 'privacy-budget.json')

# name, sampling rate q, steps, delta, target epsilon
NOISE_CASES = [
    ('mnist-60epochs-eps3', 256 / 60000, 14063, 1e-5, 3.0),
    ('abadi-q0.01-10000steps-eps2', 0.01, 10000, 1e-5, 2.0),
    ('fedavg-q0.01-500rounds-eps1', 0.01, 500, 1e-6, 1.0),
    ('full-batch-one-step-eps0.5', 1.0, 1, 1e-5, 0.5),
    ('q0.05-2000steps-eps8', 0.05, 2000, 1e-5, 8.0),
    # The browser demo's private mode as it runs by default (examples/web/private-fine-tune.ts):
    # batches of 32 of the 3,641 private training names, 100 steps, target epsilon 8 at delta 1e-5.
    ('web-demo-private-100steps-eps8', 32 / 3641, 100, 1e-5, 8.0),
]
# name, sampling rate q, noise multiplier sigma, delta, target epsilon
STEPS_CASES = [
    ('q0.01-sigma1-eps8', 0.01, 1.0, 1e-5, 8.0),
    ('mnist-sigma1.1-eps3', 256 / 60000, 1.1, 1e-5, 3.0),
    ('q0.001-sigma0.8-eps2', 0.001, 0.8, 1e-6, 2.0),
]


def one_step_rdp_int(q, sigma):
    """Exact one-step RDP at ORDERS_INT (binomial sum; q = 1: the Gaussian's alpha / (2 sigma^2))."""
    if q == 1:
        return [a / (2 * sigma**2) for a in ORDERS_INT]
    return [float(log_a_integer(q, sigma, a) / (a - 1)) for a in ORDERS_INT]


def epsilon_int(q, sigma, steps, delta):
    return epsilon_improved(ORDERS_INT, [steps * r for r in one_step_rdp_int(q, sigma)], delta)[0]


def noise_for_epsilon(q, steps, delta, target):
    """Bisection on sigma to 1e-12 relative: the smallest sigma with epsilon <= target."""
    lo, hi = 0.0, 1.0
    while epsilon_int(q, hi, steps, delta) > target:
        lo, hi = hi, hi * 2
    while hi - lo > 1e-12 * hi:
        mid = (lo + hi) / 2
        if mid > 0 and epsilon_int(q, mid, steps, delta) <= target:
            hi = mid
        else:
            lo = mid
    return hi


def steps_for_epsilon(q, sigma, delta, target):
    """The most steps with epsilon <= target, by walking up then bisecting over integers."""
    rdp = one_step_rdp_int(q, sigma)

    def eps(steps):
        return epsilon_improved(ORDERS_INT, [steps * r for r in rdp], delta)[0]

    lo, hi = 0, 1
    while eps(hi) <= target:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if eps(mid) <= target:
            lo = mid
        else:
            hi = mid
    return lo, eps(lo)


def budget():
    noise = []
    for name, q, steps, delta, target in NOISE_CASES:
        print(name, file=sys.stderr)
        sigma = noise_for_epsilon(q, steps, delta, target)
        noise.append({
            'name': name, 'samplingRate': q, 'steps': steps, 'delta': delta,
            'targetEpsilon': target, 'noiseMultiplier': float('%.15g' % sigma),
            'epsilon': float('%.15g' % epsilon_int(q, sigma, steps, delta)),
        })
    steps_cases = []
    for name, q, sigma, delta, target in STEPS_CASES:
        print(name, file=sys.stderr)
        steps, eps = steps_for_epsilon(q, sigma, delta, target)
        steps_cases.append({
            'name': name, 'samplingRate': q, 'noiseMultiplier': sigma, 'delta': delta,
            'targetEpsilon': target, 'steps': steps, 'epsilon': float('%.15g' % eps),
        })
    out = {
        'source': 'mpmath 30-digit exact binomial-sum RDP at integer orders, bisection in Python',
        'orders': ORDERS_INT,
        'cases': {'noiseForEpsilon': noise, 'stepsForEpsilon': steps_cases},
    }
    with open(BUDGET_OUT, 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')
    print(f'wrote {BUDGET_OUT}', file=sys.stderr)


if __name__ == '__main__':
    if sys.argv[1:] != ['budget']:
        main()
    budget()
