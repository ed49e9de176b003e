"""Raw element bits -> numbers numpy can reduce, for the dtypes numpy lacks (bf16, fp8, fp4, complex32, quantized).

Tables are built from the formats' definitions (sign/exponent/mantissa widths, bias, and how each spends its top
codes on Inf/NaN), not from torch, so stats stay torch-free; tests check them against torch bit for bit.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING

from ckpt_tui.model import TensorInfo

if TYPE_CHECKING:
    import numpy as np


def _minifloat(b: int, exp_bits: int, man_bits: int, bias: int, style: str) -> float:
    """One code of a small float format. style: 'ieee' (Inf/NaN at max exponent), 'fn' (only all-ones is NaN),
    'fnuz' (no Inf, no -0: the negative-zero code is NaN), 'plain' (every code is a number)."""
    sign = -1.0 if b >> (exp_bits + man_bits) else 1.0
    e, m = (b >> man_bits) & ((1 << exp_bits) - 1), b & ((1 << man_bits) - 1)
    top = (1 << exp_bits) - 1
    if style == "fnuz" and b == 1 << (exp_bits + man_bits):
        return math.nan
    if style == "ieee" and e == top:
        return sign * math.inf if m == 0 else math.nan
    if style == "fn" and e == top and m == (1 << man_bits) - 1:
        return math.nan
    if e == 0:
        return sign * m / (1 << man_bits) * 2.0 ** (1 - bias)
    return sign * (1 + m / (1 << man_bits)) * 2.0 ** (e - bias)


FORMATS = {  # dtype: (exponent bits, mantissa bits, bias, style)
    "float8_e4m3fn": (4, 3, 7, "fn"),
    "float8_e5m2": (5, 2, 15, "ieee"),
    "float8_e4m3fnuz": (4, 3, 8, "fnuz"),
    "float8_e5m2fnuz": (5, 2, 16, "fnuz"),
    "float4_e2m1fn_x2": (2, 1, 1, "plain"),
}


@cache
def table(dtype: str) -> np.ndarray:
    """float32 value of every code of an 8-bit (or 4-bit) float format."""
    import numpy as np

    if dtype == "float8_e8m0fnu":  # exponent only, unsigned: 2**(e - 127); all ones is NaN
        return np.array([2.0 ** (e - 127) if e != 255 else math.nan for e in range(256)], dtype=np.float32)
    exp_bits, man_bits, bias, style = FORMATS[dtype]
    codes = 1 << (1 + exp_bits + man_bits)
    return np.array([_minifloat(b, exp_bits, man_bits, bias, style) for b in range(codes)], dtype=np.float32)


def decode_chunk(info: TensorInfo, raw: np.ndarray) -> np.ndarray:
    """Numbers for a 1-D chunk of raw elements (as `read_array` returns them)."""
    import numpy as np

    dtype = info.dtype
    if dtype == "bfloat16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    if dtype == "float4_e2m1fn_x2":  # two codes per byte, low nibble first
        lut = table(dtype)
        pairs: np.ndarray = np.stack([lut[raw & 0xF], lut[raw >> 4]], axis=-1)
        return pairs.reshape(-1)
    if dtype in FORMATS or dtype == "float8_e8m0fnu":
        decoded: np.ndarray = table(dtype)[raw]
        return decoded
    if dtype == "complex32":
        halves = raw.view(np.float16).astype(np.float32)
        return halves[0::2] + 1j * halves[1::2]
    q = info.quantization
    if q is not None and q.scale is not None and q.zero_point is not None:
        return (raw.astype(np.float32) - q.zero_point) * np.float32(q.scale)
    return raw
