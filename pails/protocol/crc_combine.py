"""Combining CRCs: crc(A + B) from crc(A), crc(B) and len(B), without the bytes.

For the reflected CRCs S3 uses (CRC32, CRC32C, CRC64NVME; initial value and
final xor all ones) appending ``n`` bytes multiplies the register by x^(8n)
modulo the polynomial, so ``crc(A + B) = crc(A) * x^(8*len(B)) mod P  xor
crc(B)``.  This is zlib's ``crc32_combine`` (multiplication in GF(2)[x] mod P
on the bit-reflected representation, x^(2^k) from a table of squarings),
generalised to any width and polynomial.  Pure Python; a combine costs
O(log len) multiplications of ``width`` steps each.
"""

from __future__ import annotations

from functools import cache

# Reflected polynomials.
POLYNOMIALS: dict[str, tuple[int, int]] = {  # algorithm -> (width in bits, reflected polynomial)
    "CRC32": (32, 0xEDB88320),
    "CRC32C": (32, 0x82F63B78),
    "CRC64NVME": (64, 0x9A6C9329AC4BC9B5),
}


def _multmodp(a: int, b: int, width: int, poly: int) -> int:
    """a * b mod P, both in reflected form (the top bit is x^0)."""
    m = 1 << (width - 1)
    p = 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                break
        m >>= 1
        if m == 0:
            break
        b = (b >> 1) ^ poly if b & 1 else b >> 1
    return p


@cache
def _x2n_table(width: int, poly: int) -> tuple[int, ...]:
    """x^(2^k) mod P for k = 0 .. 66 (enough for any 64-bit byte count times 8)."""
    table = [1 << (width - 2)]  # x^1
    for _ in range(66):
        table.append(_multmodp(table[-1], table[-1], width, poly))
    return tuple(table)


def _x8nmodp(n: int, width: int, poly: int) -> int:
    """x^(8n) mod P."""
    table = _x2n_table(width, poly)
    p = 1 << (width - 1)  # x^0
    k = 3
    while n:
        if n & 1:
            p = _multmodp(table[k], p, width, poly)
        n >>= 1
        k += 1
    return p


def combine(algorithm: str, crc1: int, crc2: int, len2: int) -> int:
    """The CRC of A + B given crc1 = crc(A), crc2 = crc(B), len2 = len(B)."""
    width, poly = POLYNOMIALS[algorithm]
    if len2 == 0:
        return crc1
    return _multmodp(_x8nmodp(len2, width, poly), crc1, width, poly) ^ crc2


def combine_all(algorithm: str, parts: list[tuple[int, int]]) -> int:
    """The CRC of the concatenation of parts given as (crc, length)."""
    crc = 0
    for part_crc, length in parts:
        crc = combine(algorithm, crc, part_crc, length)
    return crc
