//! The member names of a RAR archive, read from its block headers without
//! decompressing anything: RAR 4 (RARLAB's `technote.txt` of RAR 4.x:
//! marker, archive and file blocks) and RAR 5 (RARLAB's "RAR 5.0 archive
//! format"). An archive whose headers are encrypted hides its names from
//! every reader without the password; it is reported as sealed.
//!
//! Directories are left out, and names use `/` as the separator.

use super::zip::{Entry, u16_at};
use std::borrow::Cow;

/// Most members read from one archive.
pub const MAX_ENTRIES: usize = super::zip::MAX_ENTRIES;
/// Most blocks walked in one archive (members, and the service blocks
/// and directories between them).
const MAX_BLOCKS: usize = 4 * MAX_ENTRIES;
/// Most UTF-16 units of a RAR 4 Unicode name.
const MAX_NAME_UNITS: usize = 1024;

const RAR4_MARK: &[u8] = b"Rar!\x1a\x07\x00";
const RAR5_MARK: &[u8] = b"Rar!\x1a\x07\x01\x00";

/// What a RAR archive shows of its members.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Listing<'a> {
    /// Its files, at most [`MAX_ENTRIES`].
    pub entries: Vec<Entry<'a>>,
    /// Its headers are encrypted: the names cannot be read.
    pub sealed: bool,
}

/// True when `bytes` start as a RAR archive (version 4 or 5) does.
pub fn is_rar(bytes: &[u8]) -> bool {
    bytes.starts_with(RAR4_MARK) || bytes.starts_with(RAR5_MARK)
}

/// The members of the archive `bytes`, as far as its blocks can be
/// followed; empty for what is not a RAR archive.
pub fn listing(bytes: &[u8]) -> Listing<'_> {
    if bytes.starts_with(RAR5_MARK) {
        rar5(bytes)
    } else if bytes.starts_with(RAR4_MARK) {
        rar4(bytes)
    } else {
        Listing::default()
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    super::zip::u32_at(b, at).map(|v| v as u64)
}

/// A stored path with `/` as its separator.
fn path(name: Cow<'_, str>) -> Cow<'_, str> {
    if name.contains('\\') {
        Cow::Owned(name.replace('\\', "/"))
    } else {
        name
    }
}

// RAR 4 block types and flags.
const RAR4_MAIN: u8 = 0x73;
const RAR4_FILE: u8 = 0x74;
const RAR4_END: u8 = 0x7b;
/// Archive header: the block headers are encrypted.
const RAR4_MAIN_PASSWORD: usize = 0x0080;
/// Block header: an ADD_SIZE field follows (the data's size).
const RAR4_LONG_BLOCK: usize = 0x8000;
/// File header flags.
const RAR4_FILE_PASSWORD: usize = 0x0004;
const RAR4_FILE_DIRECTORY: usize = 0x00e0;
const RAR4_FILE_LARGE: usize = 0x0100;
const RAR4_FILE_UNICODE: usize = 0x0200;

fn rar4(b: &[u8]) -> Listing<'_> {
    let mut out = Listing::default();
    let mut at = RAR4_MARK.len();
    for _ in 0..MAX_BLOCKS {
        if out.entries.len() >= MAX_ENTRIES || at >= b.len() {
            break;
        }
        let (Some(&kind), Some(flags), Some(size)) = (b.get(at + 2), u16_at(b, at + 3), u16_at(b, at + 5))
        else {
            break;
        };
        // A header is at least its own 7 bytes.
        if size < 7 {
            break;
        }
        let mut data: u64 = 0;
        match kind {
            RAR4_MAIN if flags & RAR4_MAIN_PASSWORD != 0 => {
                out.sealed = true;
                break;
            }
            RAR4_FILE => {
                let (Some(packed), Some(name_len)) = (u32_at(b, at + 7), u16_at(b, at + 26)) else {
                    break;
                };
                data = packed;
                let mut name_at = at + 32;
                if flags & RAR4_FILE_LARGE != 0 {
                    let Some(high) = u32_at(b, at + 32) else { break };
                    data |= high << 32;
                    name_at += 8;
                }
                let Some(raw) = b.get(name_at..name_at + name_len) else {
                    break;
                };
                if flags & RAR4_FILE_DIRECTORY != RAR4_FILE_DIRECTORY {
                    out.entries.push(Entry {
                        name: path(rar4_name(raw, flags & RAR4_FILE_UNICODE != 0)),
                        encrypted: flags & RAR4_FILE_PASSWORD != 0,
                        data: None,
                    });
                }
            }
            RAR4_END => break,
            _ if flags & RAR4_LONG_BLOCK != 0 => {
                let Some(add) = u32_at(b, at + 7) else { break };
                data = add;
            }
            _ => {}
        }
        let Some(next) = usize::try_from(data)
            .ok()
            .and_then(|d| (at + size).checked_add(d))
        else {
            break;
        };
        at = next;
    }
    out
}

/// A RAR 4 name: with the Unicode flag, the OEM form, a zero byte and
/// the Unicode form encoded as [`decode_rar4_unicode`] reads it (an
/// archiver may also write plain UTF-8 there, without the zero byte).
fn rar4_name(raw: &[u8], unicode: bool) -> Cow<'_, str> {
    if unicode && let Some(zero) = raw.iter().position(|&c| c == 0) {
        let units = decode_rar4_unicode(&raw[..zero], &raw[zero + 1..]);
        return Cow::Owned(
            char::decode_utf16(units)
                .map(|c| c.unwrap_or('\u{fffd}'))
                .collect(),
        );
    }
    String::from_utf8_lossy(raw)
}

/// RAR 4's Unicode name encoding, as unrar's `EncodeFileName::Decode`
/// reads it: a high byte, then flag bytes of four 2-bit operations, each
/// giving a UTF-16 unit: 0, the next byte; 1, the next byte with the high
/// byte; 2, the next two bytes; 3, a run copied from the OEM name, with
/// an optional correction added and the high byte.
fn decode_rar4_unicode(oem: &[u8], enc: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    let Some((&high, mut rest)) = enc.split_first() else {
        return out;
    };
    let high = u16::from(high) << 8;
    let (mut flags, mut bits) = (0u8, 0u32);
    while !rest.is_empty() && out.len() < MAX_NAME_UNITS {
        if bits == 0 {
            flags = rest[0];
            rest = &rest[1..];
            bits = 8;
        }
        match flags >> 6 {
            0 => {
                let Some((&c, r)) = rest.split_first() else { break };
                out.push(u16::from(c));
                rest = r;
            }
            1 => {
                let Some((&c, r)) = rest.split_first() else { break };
                out.push(u16::from(c) + high);
                rest = r;
            }
            2 => {
                let [lo, hi, r @ ..] = rest else { break };
                out.push(u16::from_le_bytes([*lo, *hi]));
                rest = r;
            }
            _ => {
                let Some((&length, r)) = rest.split_first() else {
                    break;
                };
                rest = r;
                let (run, correction) = if length & 0x80 != 0 {
                    let Some((&c, r)) = rest.split_first() else { break };
                    rest = r;
                    (usize::from(length & 0x7f) + 2, Some(c))
                } else {
                    (usize::from(length) + 2, None)
                };
                for _ in 0..run {
                    let Some(&c) = oem.get(out.len()) else { break };
                    if out.len() >= MAX_NAME_UNITS {
                        break;
                    }
                    out.push(match correction {
                        Some(k) => u16::from(c.wrapping_add(k)) + high,
                        None => u16::from(c),
                    });
                }
            }
        }
        flags <<= 2;
        bits -= 2;
    }
    out
}

/// A RAR 5 variable-length integer at `*at`: 7 bits a byte, low first,
/// the high bit set on every byte but the last; at most 10 bytes.
fn vint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let byte = *b.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f).checked_shl(7 * i)?;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

// RAR 5 header types and flags.
const RAR5_FILE: u64 = 2;
const RAR5_ENCRYPTION: u64 = 4;
const RAR5_END: u64 = 5;
const RAR5_HAS_EXTRA: u64 = 0x0001;
const RAR5_HAS_DATA: u64 = 0x0002;
const RAR5_FILE_DIRECTORY: u64 = 0x0001;
const RAR5_FILE_MTIME: u64 = 0x0002;
const RAR5_FILE_CRC: u64 = 0x0004;
/// The file header's extra record that says the file is encrypted.
const RAR5_EXTRA_CRYPT: u64 = 0x01;

fn rar5(b: &[u8]) -> Listing<'_> {
    let mut out = Listing::default();
    let mut at = RAR5_MARK.len();
    for _ in 0..MAX_BLOCKS {
        if out.entries.len() >= MAX_ENTRIES {
            break;
        }
        match rar5_block(b, at, &mut out) {
            Some(Some(next)) => at = next,
            _ => break,
        }
    }
    out
}

/// Reads the block at `start`: `Some(Some(next))` to go on at `next`,
/// `Some(None)` at the end, `None` when the block is damaged.
fn rar5_block<'a>(b: &'a [u8], start: usize, out: &mut Listing<'a>) -> Option<Option<usize>> {
    // CRC32, then the header's size, counted from the type on.
    let mut at = start.checked_add(4)?;
    let size = usize::try_from(vint(b, &mut at)?).ok()?;
    let end = at.checked_add(size)?;
    if size == 0 || end > b.len() {
        return None;
    }
    let header = &b[..end];
    let kind = vint(header, &mut at)?;
    let flags = vint(header, &mut at)?;
    let extra = if flags & RAR5_HAS_EXTRA != 0 {
        usize::try_from(vint(header, &mut at)?).ok()?
    } else {
        0
    };
    let data = if flags & RAR5_HAS_DATA != 0 {
        usize::try_from(vint(header, &mut at)?).ok()?
    } else {
        0
    };
    match kind {
        RAR5_ENCRYPTION => {
            out.sealed = true;
            return Some(None);
        }
        RAR5_END => return Some(None),
        RAR5_FILE => {
            let file_flags = vint(header, &mut at)?;
            vint(header, &mut at)?; // unpacked size
            vint(header, &mut at)?; // attributes
            if file_flags & RAR5_FILE_MTIME != 0 {
                at += 4;
            }
            if file_flags & RAR5_FILE_CRC != 0 {
                at += 4;
            }
            vint(header, &mut at)?; // compression
            vint(header, &mut at)?; // host OS
            let name_len = usize::try_from(vint(header, &mut at)?).ok()?;
            let name = header.get(at..at.checked_add(name_len)?)?;
            // The extra area ends the header.
            let extra_area = if extra <= size {
                &header[end - extra..]
            } else {
                &[][..]
            };
            if file_flags & RAR5_FILE_DIRECTORY == 0 {
                out.entries.push(Entry {
                    name: path(String::from_utf8_lossy(name)),
                    encrypted: rar5_encrypted(extra_area),
                    data: None,
                });
            }
        }
        _ => {}
    }
    Some(end.checked_add(data))
}

/// True when a file header's extra area holds an encryption record.
/// Each record is its size (counted from its type on), its type and its
/// data.
fn rar5_encrypted(area: &[u8]) -> bool {
    let mut at = 0;
    while at < area.len() {
        let Some(size) = vint(area, &mut at).and_then(|s| usize::try_from(s).ok()) else {
            return false;
        };
        let next = at.checked_add(size);
        if vint(area, &mut at) == Some(RAR5_EXTRA_CRYPT) {
            return true;
        }
        match next {
            Some(next) if size > 0 => at = next,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAR4: &[u8] = include_bytes!("testdata/rar4.rar");
    const RAR4_SEALED: &[u8] = include_bytes!("testdata/rar4-headers-encrypted.rar");
    const RAR5: &[u8] = include_bytes!("testdata/rar5.rar");
    const RAR5_SEALED: &[u8] = include_bytes!("testdata/rar5-headers-encrypted.rar");

    fn names(b: &[u8]) -> (Vec<(String, bool)>, bool) {
        let l = listing(b);
        let names = l
            .entries
            .into_iter()
            .map(|e| (e.name.into_owned(), e.encrypted))
            .collect();
        (names, l.sealed)
    }

    fn owned(list: &[(&str, bool)]) -> Vec<(String, bool)> {
        list.iter().map(|(n, e)| (n.to_string(), *e)).collect()
    }

    #[test]
    fn members_of_both_versions_are_read() {
        // The archives of `scripts/make-rar-fixtures.py`; `bsdtar -tvf`
        // lists the same names.
        assert!(is_rar(RAR4) && is_rar(RAR5));
        assert_eq!(
            names(RAR4),
            (
                owned(&[
                    ("docs/readme.txt", false),
                    ("Invoice_2291.pdf.exe", false),
                    ("Rechnung_\u{202e}fdp.js", false),
                    ("sealed.xlsm", true),
                ]),
                false
            )
        );
        assert_eq!(
            names(RAR5),
            (
                owned(&[
                    ("docs/readme.txt", false),
                    ("Счёт.pdf.scr", false),
                    ("sealed.docm", true),
                ]),
                false
            )
        );
        assert_eq!(names(RAR4_SEALED), (Vec::new(), true));
        assert_eq!(names(RAR5_SEALED), (Vec::new(), true));
    }

    #[test]
    fn rar4_unicode_names_decode_every_operation() {
        // High byte 0x04 (Cyrillic). Flags 0b00_01_10_11: a byte, a byte
        // with the high byte, two bytes, then a run from the OEM name.
        let oem = b"ab?cdef";
        let enc = [0x04, 0b0001_1011, b'a', 0x3f, 0x3e, 0x04, 0x02];
        let got = String::from_utf16_lossy(&decode_rar4_unicode(oem, &enc));
        assert_eq!(got, "aпоcdef");
        // A run with a correction: OEM bytes plus 1, with the high byte.
        let enc = [0x04, 0b1100_0000, 0x81, 0x01];
        assert_eq!(
            String::from_utf16_lossy(&decode_rar4_unicode(b"\x2f\x3e\x3d", &enc)),
            "апо"
        );
        // Cut short anywhere: what was decoded so far.
        for n in 0..6 {
            assert!(decode_rar4_unicode(oem, &[0x04, 0b0001_1011, b'a', 0x3f, 0x3e, 0x04][..n]).len() <= 3);
        }
        // A name without the zero byte is read as UTF-8.
        assert_eq!(rar4_name("naïve.txt".as_bytes(), true), "naïve.txt");
    }

    #[test]
    fn what_is_not_a_rar_archive_has_no_members() {
        for b in [
            &b""[..],
            b"Rar!",
            b"Rar!\x1a\x07\x00",
            b"Rar!\x1a\x07\x01\x00",
            b"PK\x03\x04",
            &[0xff; 64],
        ] {
            assert_eq!(names(b), (Vec::new(), false), "{b:?}");
        }
    }

    #[test]
    fn damaged_archives_give_some_members_or_none_and_never_panic() {
        for archive in [RAR4, RAR5, RAR4_SEALED, RAR5_SEALED] {
            for (what, damaged) in super::super::damaged_copies(archive, &[0x00, 0x01, 0x7f, 0x80, 0xff]) {
                // Every member needs a block of at least six bytes.
                assert!(listing(&damaged).entries.len() <= archive.len() / 6, "{what}");
            }
            for at in 0..archive.len() {
                assert!(listing(&archive[..at]).entries.len() <= 4, "cut at {at}");
            }
        }
    }
}
