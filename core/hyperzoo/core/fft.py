"""FFT helpers shared by core and the plugins (no torch import).

    from hyperzoo.core.fft import next_fast_len
    n = next_fast_len(length + taps - 1)      # pad to a size pocketfft and cuFFT transform fastest
"""

from __future__ import annotations

__all__ = ["next_fast_len"]


def next_fast_len(n: int) -> int:
    """The smallest 5-smooth number 2^a · 3^b · 5^c >= ``n`` (``n`` >= 1).

    Real FFTs of these lengths are the fastest in pocketfft (torch's CPU FFT) and cuFFT; it is
    ``scipy.fft.next_fast_len(n, real=True)``. Zero-pad a linear convolution of lengths L and K to
    ``next_fast_len(L + K - 1)`` instead of the next power of two (up to 2x less work).
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"next_fast_len: n must be a positive int (an FFT length), got {n!r}")
    best = 1 << (n - 1).bit_length()  # the next power of two is 5-smooth: an upper bound
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best
