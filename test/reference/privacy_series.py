#!/usr/bin/env python3
"""Prints the values test/responsible/privacy-accountant.test.ts pins for the
fractional-order series of the subsampled Gaussian's RDP.

At fractional orders Google's dp_accounting (`rdp_privacy_accountant.py`,
`_compute_log_a_frac`, Mironov, Talwar, Zhang 2019 Sec. 3.3,
https://arxiv.org/abs/1908.10530) does not compute A_alpha itself but two
series of |binomial| terms, summed until both terms decrease and lie e^30
below the total (or +Infinity after 1000 terms): an upper bound on A_alpha.
test/reference/privacy.py checks our RDP only against the exact value (from
below); this script evaluates dp_accounting's series, its stopping rule
included, in 50-digit arithmetic (mpmath: log|Gamma| for its
`special.gammaln`, log(erfc) for its `log(2) + special.log_ndtr(-x sqrt 2)`),
so the TypeScript float64 evaluation can be held to it within ~1e-12.

The cases reach every branch of the TypeScript helpers: log|Gamma| with
negative arguments (binomials of fractional orders), log(erfc) of negative,
small (< 2.5) and large arguments (far tails where erfc underflows in
float64), a series that does not converge (+Infinity), and two that meet
the stopping rule at the 1000th and at the 1001st term, either side of the
cap.

Run: /work/venv/bin/python test/reference/privacy_series.py
"""
import mpmath as mp

mp.mp.dps = 50


def log_abs_gamma(x):
    return mp.log(abs(mp.gamma(x)))


def log_comb(n, k):
    return log_abs_gamma(n + 1) - log_abs_gamma(k + 1) - log_abs_gamma(n - k + 1)


def log_erfc(x):
    return mp.log(mp.erfc(x))


def log_add(a, b):
    lo, hi = min(a, b), max(a, b)
    if lo == -mp.inf:
        return hi
    return mp.log1p(mp.exp(lo - hi)) + hi


def log_a_frac(q, sigma, alpha):
    """dp_accounting's _compute_log_a_frac, step for step, in mpmath."""
    q, sigma, alpha = mp.mpf(q), mp.mpf(sigma), mp.mpf(alpha)
    log_a0 = log_a1 = -mp.inf
    z0 = sigma**2 * mp.log(1 / q - 1) + mp.mpf(0.5)
    log1mq = mp.log1p(-q)
    last_s0 = last_s1 = -mp.inf
    for i in range(1000):
        log_coef = log_comb(alpha, i)
        j = alpha - i
        log_t0 = log_coef + i * mp.log(q) + j * log1mq
        log_t1 = log_coef + j * mp.log(q) + i * log1mq
        log_e0 = mp.log(0.5) + log_erfc((i - z0) / (mp.sqrt(2) * sigma))
        log_e1 = mp.log(0.5) + log_erfc((z0 - j) / (mp.sqrt(2) * sigma))
        log_s0 = log_t0 + (i * i - i) / (2 * sigma**2) + log_e0
        log_s1 = log_t1 + (j * j - j) / (2 * sigma**2) + log_e1
        log_a0 = log_add(log_a0, log_s0)
        log_a1 = log_add(log_a1, log_s1)
        total = log_add(log_a0, log_a1)
        if log_s0 < last_s0 and log_s1 < last_s1 and max(log_s0, log_s1) < total - 30:
            return total
        last_s0, last_s1 = log_s0, log_s1
    return mp.inf


# sampling rate q, noise multiplier sigma, fractional order alpha
CASES = [
    (0.01, 1.0, 1.5),
    (0.01, 1.0, 8.1),
    (256 / 60000, 1.1, 8.1),
    (0.1, 2.0, 2.5),
    (0.3, 0.8, 4.7),
    (0.5, 1.5, 10.9),
    (0.001, 4.0, 1.1),
    (0.02, 0.7, 6.3),
    (0.1, 0.5, 1.3),
    (0.1, 0.5, 2.5),
    # Either side of the 1000-term cap: the stopping rule first holds at
    # term 1000 (i = 999, the last one summed) and at term 1001 (i = 1000,
    # never reached: +Infinity).
    (0.1, 1.0665, 1.5),
    (0.1, 1.0658, 1.5),
]

if __name__ == '__main__':
    for q, sigma, alpha in CASES:
        log_a = log_a_frac(q, sigma, alpha)
        rdp = log_a / (mp.mpf(alpha) - 1) if log_a != mp.inf else mp.inf
        value = 'Number.POSITIVE_INFINITY' if rdp == mp.inf else repr(float(rdp))
        print(f'  [{q!r}, {sigma!r}, {alpha!r}, {value}],')
