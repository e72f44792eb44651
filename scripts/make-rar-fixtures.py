#!/usr/bin/env python3
"""Writes the RAR archives the attachments check's tests read.

RAR is a proprietary format: its archiver is not free software and is not
packaged for Debian, so the test archives are built here by the format's
published technical notes (RAR 4.x `technote.txt`, RAR 5.0
https://www.rarlab.com/technote.htm), with stored (uncompressed) members
and correct checksums. `bsdtar -tvf FILE` (libarchive, which reads both
versions) lists what each holds; the archives whose headers are encrypted
it cannot list, as no reader can without the password.

    scripts/make-rar-fixtures.py core/src/checks/attachments/testdata
"""

import hashlib
import os
import struct
import sys
import zlib

RAR4_MARK = b"Rar!\x1a\x07\x00"
RAR5_MARK = b"Rar!\x1a\x07\x01\x00"


def noise(n, label):
    """`n` bytes that look random (encrypted data), the same on every run."""
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{counter}".encode()).digest()
        counter += 1
    return out[:n]


def rar4_unicode_name(name):
    """A RAR 4 Unicode name field: the OEM form ('?' for what it cannot
    show), a zero byte, then the name encoded as unrar's
    `EncodeFileName::Decode` reads it. Every character is written whole
    (operation 2: two bytes, low first), four to a flag byte."""
    oem = "".join(c if ord(c) < 128 else "?" for c in name).encode()
    units = name.encode("utf-16-le")
    units = [units[i : i + 2] for i in range(0, len(units), 2)]
    enc = bytearray([0])  # the high byte operation 1 would use
    for i in range(0, len(units), 4):
        group = units[i : i + 4]
        enc.append(0xAA)  # four times operation 2
        for u in group:
            enc += u
    return oem + b"\0" + bytes(enc)


def rar4_block(kind, flags, fields, data=b""):
    """A RAR 4 block: HEAD_CRC, HEAD_TYPE, HEAD_FLAGS, HEAD_SIZE, fields."""
    size = 7 + len(fields)
    body = struct.pack("<BHH", kind, flags, size) + fields
    crc = zlib.crc32(body) & 0xFFFF
    return struct.pack("<H", crc) + body + data


def rar4(members, header_encrypted=False):
    """members: (name bytes, data, flags) with flags the file header's."""
    out = RAR4_MARK
    main_flags = 0x0080 if header_encrypted else 0
    out += rar4_block(0x73, main_flags, b"\0" * 6)
    if header_encrypted:
        # What follows is encrypted: random-looking bytes.
        return out + noise(64, "rar4")
    for name, data, flags in members:
        fields = struct.pack(
            "<IIBIIBBHI",
            len(data),  # PACK_SIZE
            len(data),  # UNP_SIZE
            2,  # HOST_OS: Windows
            zlib.crc32(data),
            0x5A2B_0000,  # FTIME (DOS)
            29,  # UNP_VER
            0x30,  # METHOD: store
            len(name),
            0x20 if flags & 0xE0 != 0xE0 else 0x10,  # ATTR
        )
        out += rar4_block(0x74, flags | 0x8000, fields + name, data)
    out += rar4_block(0x7B, 0x4000, b"")
    return out


def vint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def rar5_block(kind, flags, fields, extra=b"", data=None):
    """A RAR 5 block: CRC32, size, type, flags, [extra size], [data size]
    (file blocks always have a data area, if empty)."""
    head = vint(kind)
    hflags = flags | (0x0001 if extra else 0) | (0x0002 if data is not None else 0)
    head += vint(hflags)
    if extra:
        head += vint(len(extra))
    if data is not None:
        head += vint(len(data))
    head += fields + extra
    sized = vint(len(head)) + head
    return struct.pack("<I", zlib.crc32(sized)) + sized + (data or b"")


def rar5(members, header_encrypted=False):
    """members: (name str, data, directory, encrypted)."""
    out = RAR5_MARK
    if header_encrypted:
        # Archive encryption header: version 0, flags 1 (password check),
        # KDF count, salt, check value; everything after is encrypted.
        fields = vint(0) + vint(1) + bytes([15]) + noise(28, "rar5 salt")
        out += rar5_block(4, 0, fields)
        return out + noise(80, "rar5")
    out += rar5_block(1, 0, vint(0))  # main archive header, no flags
    for name, data, directory, encrypted in members:
        raw = name.encode()
        fields = (
            vint(0x0001 if directory else 0x0004)  # file flags: dir / CRC32
            + vint(len(data))
            + vint(0x10 if directory else 0x20)  # attributes (Windows)
            + (b"" if directory else struct.pack("<I", zlib.crc32(data)))
            + vint(0)  # compression: version 0, store
            + vint(0)  # host OS: Windows
            + vint(len(raw))
            + raw
        )
        extra = b""
        if encrypted:
            # File encryption record (type 1): version 0, flags 0, KDF
            # count, salt (16), IV (16).
            record = vint(1) + vint(0) + vint(0) + bytes([15]) + noise(32, name)
            extra = vint(len(record)) + record
        out += rar5_block(2, 0, fields, extra, data)
    out += rar5_block(5, 0, vint(0))
    return out


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(target, exist_ok=True)
    files = {
        "rar4.rar": rar4(
            [
                (b"docs", b"", 0x00E0),
                (b"docs/readme.txt", b"hello\n", 0),
                (b"Invoice_2291.pdf.exe", b"MZ\x90\0", 0),
                # A Unicode name whose right-to-left override shows it as
                # "Rechnung_sj.pdf"... backwards: it is a script.
                (rar4_unicode_name("Rechnung_\u202efdp.js"), b"WScript.Echo(1)\n", 0x0200),
                (b"sealed.xlsm", b"\x17" * 16, 0x0004),
            ]
        ),
        "rar4-headers-encrypted.rar": rar4([], header_encrypted=True),
        "rar5.rar": rar5(
            [
                ("docs", b"", True, False),
                ("docs/readme.txt", b"hello\n", False, False),
                ("Счёт.pdf.scr", b"MZ\x90\0", False, False),
                ("sealed.docm", b"\x17" * 16, False, True),
            ]
        ),
        "rar5-headers-encrypted.rar": rar5([], header_encrypted=True),
    }
    for name, data in files.items():
        with open(os.path.join(target, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
