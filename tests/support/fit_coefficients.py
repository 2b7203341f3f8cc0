#!/usr/bin/python3
"""The polynomial coefficients of include/tinygrad/detail/vector_math.hpp:
how they are fitted, and how far each stored polynomial is from its function.

Usage: fit_coefficients.py [--check] VECTOR_MATH_HPP

Fits every polynomial again with mpmath (Debian's python3-mpmath), prints
it as C++, and prints the error of the coefficients as the header stores
them (rounded to float or double) against the function, measured with mpmath
on 2001 Chebyshev points of the interval. With --check, exits 1 unless every
stored coefficient is the fit rounded to its type and every error figure
printed appears in the header's comments as printed (two digits).

tanh's float P/Q is a rational fit whose method (Loeb's linearisation, then
Lawson's reweighting) this script does not redo; it measures that one only.
"""
import re
import sys

import mpmath as mp

mp.mp.dps = 60
header_path = sys.argv[-1]
check = '--check' in sys.argv
header = open(header_path).read()


def stored(anchor, name):
    """The numbers of the array `name` after `anchor` in the header."""
    start = header.index(anchor)
    body = re.search(re.escape(name) + r'\[\]\s*=\s*\{([^}]*)\}', header[start:]).group(1)
    return [mp.mpf(x.rstrip('f')) for x in re.findall(r'[-+0-9.eE]+f?', body)]


def rounded(x, bits):
    """x rounded to the nearest float (bits = 24) or double (53)."""
    with mp.workprec(bits):
        return +mp.mpf(x)


def same_when_rounded(exact, kept, bits):
    """Whether the stored decimals are the exact values rounded to the type."""
    return len(exact) == len(kept) and all(
        rounded(c, bits) == rounded(k, bits) for c, k in zip(exact, kept))


def horner(c, x):
    return mp.polyval(list(reversed(c)), x)


def worst(error, a, b):
    points = [(a + b) / 2 + (b - a) / 2 * mp.cos(mp.pi * k / 2000) for k in range(2001)]
    return max(abs(error(x)) for x in points)


failures = []


def report(label, fitted, anchor, name, bits, digits, f, a, b, relative=False):
    """Prints the fit and the stored polynomial's error, and checks both."""
    kept = stored(anchor, name)
    print(f'{label}: {len(fitted)} terms')
    print('  fit:    {' + ', '.join(mp.nstr(c, digits) for c in fitted) + '}')
    if not same_when_rounded(fitted, kept, bits):
        failures.append(f'{label}: the stored coefficients are not the fit rounded to the type')
        print('  STORED DIFFERS: {' + ', '.join(mp.nstr(k, digits) for k in kept) + '}')
    scale = (lambda x: abs(f(x))) if relative else (lambda x: 1)
    error = worst(lambda x: (horner(kept, x) - f(x)) / scale(x), a, b)
    figure = f'{float(error):.1e}'.replace('e-0', 'e-')
    print(f'  maximum {"relative " if relative else ""}error of the stored polynomial: {figure}')
    if figure not in header:
        failures.append(f'{label}: the header does not quote the error {figure}')


# e^r - 1 = r + r^2 P(r) on |r| <= ln(2)/2: Chebyshev fits of (e^r - 1 - r) / r^2.
half_ln2 = mp.log(2) / 2
# (Near 0 by the Taylor series: the quotient would cancel away every digit.)
exp_p = lambda r: (mp.expm1(r) - r) / r**2 if abs(r) > 1e-15 else 1 / mp.mpf(2) + r / 6 + r**2 / 24
for bits, terms, digits, anchor in ((24, 6, 10, 'struct ExpConstants<float>'),
                                    (53, 11, 20, 'struct ExpConstants<double>')):
    fitted = list(reversed(mp.chebyfit(exp_p, [-half_ln2, half_ln2], terms)))
    report(f'exp P ({anchor[7:]})', fitted, anchor, 'p', bits, digits, exp_p,
           -half_ln2, half_ln2)

# log(1 + y) = 2u + u^3 R(u^2), u = y / (2 + y) <= 1/3: fits of
# (2 atanh(u) - 2u) / u^3 in v = u^2 on [0, 1/9].
log1p_r = lambda v: (2 * mp.atanh(mp.sqrt(v)) - 2 * mp.sqrt(v)) / mp.sqrt(v)**3 \
    if v > 1e-30 else mp.mpf(2) / 3 + 2 * v / 5
for bits, terms, digits, anchor in ((24, 5, 10, 'struct Log1pConstants<float>'),
                                    (53, 10, 20, 'struct Log1pConstants<double>')):
    fitted = list(reversed(mp.chebyfit(log1p_r, [0, mp.mpf(1) / 9], terms)))
    report(f'log1p R ({anchor[7:]})', fitted, anchor, 'r', bits, digits, log1p_r, 0,
           mp.mpf(1) / 9)


def mills(a):
    """The Mills ratio Q(a) / phi(a); 0 at infinity."""
    return mp.erfc(a / mp.sqrt(2)) / 2 / mp.npdf(a) if a != mp.inf else mp.mpf(0)


# Normal tail, float result: M(a) as a polynomial in t = 1 - 2k/(a + k), k = 4,
# t in [-1, 1] (a in [0, inf)).
mills_of_t = lambda t: mills(2 * 4 / (1 - t) - 4) if t < 1 else mp.mpf(0)
fitted = list(reversed(mp.chebyfit(mills_of_t, [-1, 1], 16)))
report('normal tail M (float result)', fitted, 'if constexpr (std::same_as<Result, float>)',
       'mills', 53, 17, mills_of_t, -1, 1 - mp.mpf(8) / 20, relative=True)

# Normal tail, double result: G(t) = M(a) (a + 3/4) / sqrt(2 pi), t = (a - 3)/(a + 3),
# interpolated at 28 Chebyshev points of t in [-1, 37/43] (a in [0, 40]), 50 digits.
with mp.workdps(50):
    scaled = lambda t: mills(3 * (1 + t) / (1 - t)) * (3 * (1 + t) / (1 - t) + mp.mpf(3) / 4) \
        / mp.sqrt(2 * mp.pi)
    fitted = list(reversed(mp.chebyfit(scaled, [-1, mp.mpf(37) / 43], 28)))
kept = stored('static constexpr double scaled_mills', 'scaled_mills')
print(f'normal tail G (double result): {len(fitted)} terms')
if not same_when_rounded(fitted, kept, 53):
    failures.append('normal tail G: the stored coefficients are not the fit rounded to double')
    print('  STORED DIFFERS')
else:
    print('  stored coefficients: the fit rounded to double')

# GELU near 0: x Phi(x) = x/2 + x^2 P(x^2), P the Taylor series of
# (Phi(x) - 1/2) / x = phi(0) sum_n (-x^2/2)^n / (n! (2n + 1)).
series = [mp.npdf(0) * (-mp.mpf(1) / 2)**n / (mp.factorial(n) * (2 * n + 1)) for n in range(12)]
kept = stored('gelu_near_zero(double x)', 'series')
print(f'GELU series: {len(kept)} terms')
if not same_when_rounded(series[:11], kept, 53):
    failures.append('GELU series: the stored coefficients are not the series rounded to double')
v = mp.mpf(1) / 4  # x = 1/2
left_out = abs(series[11] * v**11 * v) / (mp.mpf(1) / 4 + v * horner(series[:11], v))
print(f'  first term left out, relative to the result at x = 1/2: 2^{float(mp.log(left_out, 2)):.1f}')
if left_out >= mp.mpf(2)**-62:
    failures.append('GELU series: the first term left out is not below 2^-62 of the result')

# tanh of a float: x P(s) / Q(s), s = x^2 on [0, 9.1^2]; measured only.
p = stored('hyperbolic_tangent(float x)', 'p')
q = stored('hyperbolic_tangent(float x)', 'q')
error = worst(lambda s: (mp.sqrt(s) * horner(p, s) / horner(q, s)) / mp.tanh(mp.sqrt(s)) - 1
              if s != 0 else horner(p, s) / horner(q, s) - 1, 0, mp.mpf('9.1')**2)
figure = f'{float(error):.1e}'.replace('e-0', 'e-')
print(f'tanh P/Q (float): maximum relative error {figure}')
if figure not in header:
    failures.append(f'tanh P/Q: the header does not quote the error {figure}')

for failure in failures:
    print('FAILED:', failure)
sys.exit(1 if check and failures else 0)
