"""What tests/py/yclient.py encodes and converts: lib0's variable-length integers
and byte strings (the y-websocket framing), and values moved between Python,
pycrdt and the JSON the line protocol speaks (numbers as Yjs reads them, text
indices in UTF-16 code units as Yjs counts them)."""

import base64

from pycrdt import Array, Map, Text


# ---------- lib0 encoding ----------
def var_uint(n: int) -> bytes:
    out = bytearray()
    while n > 127:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out)


def var_bytes(b: bytes) -> bytes:
    return var_uint(len(b)) + b


class Reader:
    def __init__(self, buf: bytes):
        self.buf, self.pos = buf, 0

    def done(self) -> bool:
        return self.pos >= len(self.buf)

    def uint(self) -> int:
        n, shift = 0, 0
        while True:
            if self.pos >= len(self.buf):
                raise ValueError("truncated varuint")
            b = self.buf[self.pos]
            self.pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return n

    def bytes(self) -> bytes:
        n = self.uint()
        if self.pos + n > len(self.buf):
            raise ValueError("truncated byte array")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def string(self) -> str:
        return self.bytes().decode("utf-8")


# ---------- values ----------


def b64(b: bytes) -> str:
    return base64.b64encode(bytes(b)).decode("ascii")


def ints_to_floats(v):
    """Python ints become int64 in yrs, which Yjs reads as BigInt; store floats instead."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return float(v)
    if isinstance(v, dict):
        return {k: ints_to_floats(x) for k, x in v.items()}
    if isinstance(v, list):
        return [ints_to_floats(x) for x in v]
    return v


def whole_floats_to_ints(v):
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, dict):
        return {k: whole_floats_to_ints(x) for k, x in v.items()}
    if isinstance(v, list):
        return [whole_floats_to_ints(x) for x in v]
    return v


def to_py(v):
    if isinstance(v, (Map, Array, Text)):
        return v.to_py()
    if isinstance(v, bytes):
        return b64(v)
    return v


def utf16_to_utf8_offset(s: str, index: int) -> int:
    """The UTF-8 byte offset (pycrdt's Text index) of UTF-16 code unit `index` in s."""
    units = 0
    for i, ch in enumerate(s):
        if units >= index:
            return len(s[:i].encode("utf-8"))
        units += 2 if ord(ch) > 0xFFFF else 1
    if units >= index:
        return len(s.encode("utf-8"))
    raise ValueError(f"index {index} past the end ({units})")


def utf16_len(s: str) -> int:
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in s)
