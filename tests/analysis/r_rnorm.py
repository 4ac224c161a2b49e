"""R's default ``set.seed(seed); rnorm(n)`` in Python, to rebuild the inputs of NHSRplotthedots' tests.

R (3.6 and later) draws normals by inversion from a Mersenne-Twister stream: ``set.seed`` scrambles
the seed with 50 rounds of a linear congruential generator and fills the 624-word state with it;
each normal uses two uniforms, ``u = (floor(2^27 * u1) + u2) / 2^27``, then ``qnorm(u)``
(Wichura's AS 241, which ``statistics.NormalDist.inv_cdf`` also implements). Only what the golden
tests need: the ``rnorm`` draws of one stream.
"""

from __future__ import annotations

from statistics import NormalDist

_MASK = 0xFFFFFFFF
_N, _M = 624, 397
_BIG = 134217728  # 2^27
_I2_32M1 = 2.328306437080797e-10  # 1 / (2^32 - 1)


class RStream:
    """One ``set.seed(seed)`` stream of R's default generator."""

    def __init__(self, seed: int) -> None:
        state = seed & _MASK
        for _ in range(50):
            state = (69069 * state + 1) & _MASK
        words = []
        for _ in range(_N + 1):
            state = (69069 * state + 1) & _MASK
            words.append(state)
        self._mt = words[1:]  # the first word is R's position counter, reset to 624 by set.seed
        self._i = _N

    def _twist(self) -> None:
        mt = self._mt
        for k in range(_N):
            y = (mt[k] & 0x80000000) | (mt[(k + 1) % _N] & 0x7FFFFFFF)
            mt[k] = mt[(k + _M) % _N] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
        self._i = 0

    def _unif(self) -> float:
        if self._i >= _N:
            self._twist()
        y = self._mt[self._i]
        self._i += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        value = y * 2.3283064365386963e-10
        # R keeps uniforms strictly inside (0, 1)
        return min(max(value, 0.5 * _I2_32M1), 1 - 0.5 * _I2_32M1)

    def rnorm(self, n: int, mean: float = 0.0, sd: float = 1.0) -> list[float]:
        out = []
        for _ in range(n):
            u = int(_BIG * self._unif()) + self._unif()
            out.append(mean + sd * NormalDist().inv_cdf(u / _BIG))
        return out
