"""The wire format of one driving packet: the only module that knows its bytes.

    offset  size  field
    0       1     magic/version: high nibble 0xF ("Frontal"), low nibble the format version (1)
    1       1     flags: bit 0 intra; bits 1-2 coding mode (0 paper, 1 predictive); bits 3-7 zero
    2       2     sequence number, uint16 big-endian, +1 per frame, wraps
    4       1     dependency: how many frames back the intra frame this packet needs is (0 = intra)
    5       2     timestamp, uint16 big-endian, milliseconds since the stream started, wraps
    7       n     payload: the range-coded frame (codec/frame_coder.py)
    7+n     2     CRC-16/CCITT-FALSE over bytes [0, 7+n)

9 bytes of header and check per packet. What the stream carries (model, field set, tables, fps) is
agreed once per call or stored once in a recorded file's header, never per packet. See
docs/bitstream.md.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from codec.errors import CodecError

MAGIC_NIBBLE = 0xF
VERSION = 1
HEADER = struct.Struct(">BBHBH")
HEADER_SIZE = HEADER.size  # 7
CRC_SIZE = 2
OVERHEAD_BITS = 8 * (HEADER_SIZE + CRC_SIZE)
MODE_IDS = {"paper": 0, "predictive": 1}  # explicit, never reused
MODE_NAMES = {v: k for k, v in MODE_IDS.items()}
MAX_DEPENDENCY = 255


@dataclass(frozen=True)
class Packet:
    seq: int
    timestamp_ms: int
    intra: bool
    mode: str
    dependency: int
    payload: bytes

    @property
    def depends_on(self) -> int:
        """Sequence number of the intra frame this packet needs."""
        return (self.seq - self.dependency) & 0xFFFF


def _crc16_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC_TABLE = _crc16_table()


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF)."""
    crc = 0xFFFF
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


def pack(p: Packet) -> bytes:
    if p.mode not in MODE_IDS:
        raise ValueError(f"unknown mode {p.mode!r}")
    if not 0 <= p.dependency <= MAX_DEPENDENCY or (p.intra and p.dependency != 0):
        raise ValueError(f"dependency {p.dependency} invalid (intra={p.intra})")
    flags = int(p.intra) | (MODE_IDS[p.mode] << 1)
    head = HEADER.pack((MAGIC_NIBBLE << 4) | VERSION, flags, p.seq & 0xFFFF, p.dependency, p.timestamp_ms & 0xFFFF)
    body = head + p.payload
    return body + crc16(body).to_bytes(2, "big")


def unpack(data: bytes) -> Packet:
    """Parse and check one packet. Raises CodecError with a specific reason."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CodecError("packet is not bytes")
    data = bytes(data)
    if len(data) < HEADER_SIZE + CRC_SIZE:
        raise CodecError(f"packet truncated: {len(data)} bytes, at least {HEADER_SIZE + CRC_SIZE} needed")
    magic_version, flags, seq, dep, ts = HEADER.unpack_from(data)
    if magic_version >> 4 != MAGIC_NIBBLE:
        raise CodecError("not a Frontal packet (bad magic)")
    if magic_version & 0xF != VERSION:
        raise CodecError(f"unsupported packet version {magic_version & 0xF} (this decoder reads {VERSION})")
    if crc16(data[:-CRC_SIZE]) != int.from_bytes(data[-CRC_SIZE:], "big"):
        raise CodecError("packet integrity check failed (CRC mismatch)")
    if flags & 0xF8:
        raise CodecError("packet has reserved flag bits set")
    mode_id = (flags >> 1) & 0x3
    if mode_id not in MODE_NAMES:
        raise CodecError(f"unknown coding mode id {mode_id}")
    intra = bool(flags & 1)
    if intra and dep != 0:
        raise CodecError("intra packet with a non-zero dependency")
    if not intra and dep == 0:
        raise CodecError("inter packet without a dependency")
    return Packet(seq, ts, intra, MODE_NAMES[mode_id], dep, data[HEADER_SIZE:-CRC_SIZE])
