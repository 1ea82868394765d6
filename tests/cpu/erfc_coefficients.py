#!/usr/bin/env python3
"""Generates the polynomial coefficients of ranklens::cpu::erfc (include/ranklens/cpu/erf.hpp).

For x >= 0 the header writes erfc(x) = t * exp(g(y) - x^2) with t = 3 / (3 + x) and
y = 2t - 1 = (3 - x) / (3 + x), which maps [0, inf) onto (-1, 1]. The function
g(y) = log(erfc(x) / t) + x^2 is smooth on the closed interval (at x -> inf it tends to
-log(3 sqrt(pi)), the leading term of the asymptotic series), so a single polynomial in y
covers the whole half line. This script expands g in Chebyshev polynomials at 50 digits,
truncates the series where the dropped tail falls below the target, and rewrites it in the
monomial basis for Horner's rule; the monomial coefficients stay small (their absolute sum is
about 2.1), so Horner's rule loses nothing to cancellation.

Run: python3 tests/cpu/erfc_coefficients.py  (needs mpmath)
"""
import mpmath as mp

mp.mp.dps = 50
SCALE = 3  # the constant in t = SCALE / (SCALE + x); 2..3 give the fastest decay


def g(y):
    t = (y + 1) / 2
    if t == 0:
        return -mp.log(SCALE * mp.sqrt(mp.pi))
    x = SCALE / t - SCALE
    return mp.log(mp.erfc(x) / t) + x * x


def chebyshev_series(f, nodes):
    ys = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / nodes) for k in range(nodes)]
    fs = [f(y) for y in ys]
    return [2 * mp.fsum(fs[k] * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / nodes)
                        for k in range(nodes)) / nodes for j in range(nodes)]


def to_monomial(c):
    basis = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]  # T0, T1
    while len(basis) < len(c):
        nxt = [mp.mpf(0)] + [2 * v for v in basis[-1]]
        for i, v in enumerate(basis[-2]):
            nxt[i] -= v
        basis.append(nxt)
    mono = [mp.mpf(0)] * len(c)
    for k, ck in enumerate(c):
        w = ck / 2 if k == 0 else ck
        for i, v in enumerate(basis[k]):
            mono[i] += w * v
    return mono


def main():
    series = chebyshev_series(g, 64)
    for name, target, digits in (("float", 1e-8, 9), ("double", 1e-17, 17)):
        degree = next(d for d in range(len(series))
                      if mp.fsum(abs(v) for v in series[d + 1:]) < target)
        mono = to_monomial(series[:degree + 1])
        tail = mp.fsum(abs(v) for v in series[degree + 1:])
        print(f"// {name}: degree {degree}, truncation error {mp.nstr(tail, 2)}")
        # Highest power first, the order Horner's rule consumes them.
        print(",\n".join(mp.nstr(v, digits + 3, min_fixed=0, max_fixed=0) for v in reversed(mono)))


if __name__ == "__main__":
    main()
