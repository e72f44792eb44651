//! The member names of a zip archive, read from its central directory
//! (PKWARE's APPNOTE.TXT, sections 4.3.12 and 4.3.16) without
//! decompressing anything. Archives whose directory cannot be found (cut
//! short, or ZIP64) are read from their local file headers instead
//! (section 4.3.7), as far as those say where the next one starts. A
//! member stored or deflated can be read out, within a size limit, so
//! that an archive inside an archive can be opened.

use std::borrow::Cow;

/// Most members read from one archive.
pub const MAX_ENTRIES: usize = 1024;

/// One member of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The name as stored (a path with `/` separators).
    pub name: Cow<'a, str>,
    /// General purpose flag bit 0: the member is encrypted.
    pub encrypted: bool,
    /// Where its data lies, when its size is known (not for RAR members).
    pub data: Option<Data>,
}

/// Where a zip member's data lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Data {
    /// The offset of its local file header.
    pub header: usize,
    /// Its compressed size.
    pub size: usize,
    /// Its compression method (0 stored, 8 deflated).
    pub method: usize,
}

/// The data of a member: stored data as it is, deflated data inflated;
/// `None` for another method, for damaged data, or when it would be
/// longer than `limit` bytes.
pub fn contents(b: &[u8], data: Data, limit: usize) -> Option<Cow<'_, [u8]>> {
    let h = data.header;
    if !b.get(h..)?.starts_with(b"PK\x03\x04") {
        return None;
    }
    let start = h
        .checked_add(30)?
        .checked_add(u16_at(b, h + 26)?)?
        .checked_add(u16_at(b, h + 28)?)?;
    let raw = b.get(start..start.checked_add(data.size)?)?;
    match data.method {
        0 => (raw.len() <= limit).then_some(Cow::Borrowed(raw)),
        8 => miniz_oxide::inflate::decompress_to_vec_with_limit(raw, limit)
            .ok()
            .map(Cow::Owned),
        _ => None,
    }
}

/// True when `bytes` start as a zip archive does.
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// The members of the archive `bytes`, at most [`MAX_ENTRIES`]; empty for
/// what is not a readable archive.
pub fn entries(bytes: &[u8]) -> Vec<Entry<'_>> {
    central_directory(bytes).unwrap_or_else(|| local_headers(bytes))
}

pub(super) fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]) as usize)
}

pub(super) fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
}

fn name(raw: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(raw)
}

/// The end-of-central-directory record is the last 22 bytes before an
/// archive comment of at most 65 535 bytes.
fn central_directory(b: &[u8]) -> Option<Vec<Entry<'_>>> {
    let last = b.len().checked_sub(22)?;
    let first = last.saturating_sub(65_535);
    let eocd = (first..=last)
        .rev()
        .find(|&i| b[i..].starts_with(b"PK\x05\x06"))?;
    let count = u16_at(b, eocd + 10)?;
    let mut at = u32_at(b, eocd + 16)?;
    if count > 0 && !b.get(at..)?.starts_with(b"PK\x01\x02") {
        // Data before the archive (a self-extractor) or ZIP64: the offset
        // does not point at the directory.
        return None;
    }
    let mut out = Vec::new();
    while out.len() < count.min(MAX_ENTRIES) && b.get(at..).is_some_and(|r| r.starts_with(b"PK\x01\x02")) {
        let (Some(flags), Some(method), Some(size), Some(name_len), Some(extra), Some(comment), Some(header)) = (
            u16_at(b, at + 8),
            u16_at(b, at + 10),
            u32_at(b, at + 20),
            u16_at(b, at + 28),
            u16_at(b, at + 30),
            u16_at(b, at + 32),
            u32_at(b, at + 42),
        ) else {
            break;
        };
        let Some(raw) = b.get(at + 46..at + 46 + name_len) else {
            break;
        };
        out.push(Entry {
            name: name(raw),
            encrypted: flags & 1 != 0,
            data: Some(Data { header, size, method }),
        });
        at += 46 + name_len + extra + comment;
    }
    Some(out)
}

fn local_headers(b: &[u8]) -> Vec<Entry<'_>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while out.len() < MAX_ENTRIES && b.get(at..).is_some_and(|r| r.starts_with(b"PK\x03\x04")) {
        let (Some(flags), Some(method), Some(size), Some(name_len), Some(extra)) = (
            u16_at(b, at + 6),
            u16_at(b, at + 8),
            u32_at(b, at + 18),
            u16_at(b, at + 26),
            u16_at(b, at + 28),
        ) else {
            break;
        };
        let Some(raw) = b.get(at + 30..at + 30 + name_len) else {
            break;
        };
        // Bit 3: the sizes follow the data (and are 0 here).
        let sized = flags & 8 == 0;
        out.push(Entry {
            name: name(raw),
            encrypted: flags & 1 != 0,
            data: sized.then_some(Data {
                header: at,
                size,
                method,
            }),
        });
        // Without sizes, the next header's place is unknown.
        if !sized {
            break;
        }
        at += 30 + name_len + extra + size;
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A stored (uncompressed) archive of `members` (name, data,
    /// encrypted), built by the format's rules.
    pub(crate) fn archive(members: &[(&str, &[u8], bool)]) -> Vec<u8> {
        archive_with(members, false)
    }

    /// As [`archive`], the members deflated when `deflate` is set.
    pub(crate) fn archive_with(members: &[(&str, &[u8], bool)], deflate: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut directory = Vec::new();
        for (name, plain, encrypted) in members {
            let offset = out.len() as u32;
            let flags: u16 = if *encrypted { 1 } else { 0 };
            let (method, data): (u16, Vec<u8>) = if deflate {
                (8, miniz_oxide::deflate::compress_to_vec(plain, 6))
            } else {
                (0, plain.to_vec())
            };
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&20u16.to_le_bytes()); // version needed
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0; 8]); // time, date, crc
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(plain.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&data);

            directory.extend_from_slice(b"PK\x01\x02");
            directory.extend_from_slice(&20u16.to_le_bytes()); // made by
            directory.extend_from_slice(&20u16.to_le_bytes()); // needed
            directory.extend_from_slice(&flags.to_le_bytes());
            directory.extend_from_slice(&method.to_le_bytes());
            directory.extend_from_slice(&[0; 8]);
            directory.extend_from_slice(&(data.len() as u32).to_le_bytes());
            directory.extend_from_slice(&(plain.len() as u32).to_le_bytes());
            directory.extend_from_slice(&(name.len() as u16).to_le_bytes());
            directory.extend_from_slice(&[0; 12]); // extra, comment, disk, attributes
            directory.extend_from_slice(&offset.to_le_bytes());
            directory.extend_from_slice(name.as_bytes());
        }
        let start = out.len() as u32;
        out.extend_from_slice(&directory);
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(directory.len() as u32).to_le_bytes());
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    fn names(b: &[u8]) -> Vec<(String, bool)> {
        entries(b)
            .into_iter()
            .map(|e| (e.name.into_owned(), e.encrypted))
            .collect()
    }

    #[test]
    fn members_are_read_from_the_directory_and_from_local_headers() {
        let zip = archive(&[("docs/readme.txt", b"hello", false), ("setup.exe", b"MZ..", true)]);
        let want = vec![
            ("docs/readme.txt".to_string(), false),
            ("setup.exe".to_string(), true),
        ];
        assert!(is_zip(&zip));
        assert_eq!(names(&zip), want);

        // Cut short before the directory: the local headers still name
        // the members.
        let cut = &zip[..zip.len() - 30];
        assert_eq!(names(cut), want);

        // A comment after the directory record is allowed.
        let mut commented = zip.clone();
        let n = commented.len();
        commented[n - 2..].copy_from_slice(&7u16.to_le_bytes());
        commented.extend_from_slice(b"comment");
        assert_eq!(names(&commented), want);
    }

    #[test]
    fn stored_and_deflated_members_are_read_out_within_the_limit() {
        let text = b"a member's data, a member's data, a member's data".repeat(20);
        for deflate in [false, true] {
            let zip = archive_with(&[("a.txt", &text, false), ("b.txt", b"second", false)], deflate);
            let members = entries(&zip);
            let data: Vec<_> = members.iter().map(|e| e.data.unwrap()).collect();
            assert_eq!(data[0].method, if deflate { 8 } else { 0 });
            assert_eq!(contents(&zip, data[0], 1 << 20).as_deref(), Some(&text[..]));
            assert_eq!(contents(&zip, data[1], 1 << 20).as_deref(), Some(&b"second"[..]));
            // Longer than the limit: not read out.
            assert_eq!(contents(&zip, data[0], text.len() - 1), None);
            // From the local headers of a cut archive, the same.
            let cut = &zip[..zip.len() - 30];
            let local = entries(cut);
            assert_eq!(local[0].data, Some(data[0]));
            // A damaged offset or method gives nothing.
            let moved = Data {
                header: data[0].header + 1,
                ..data[0]
            };
            assert_eq!(contents(&zip, moved, 1 << 20), None);
            let odd = Data {
                method: 12,
                ..data[0]
            };
            assert_eq!(contents(&zip, odd, 1 << 20), None);
        }
    }

    #[test]
    fn what_is_not_an_archive_has_no_members() {
        let cases: &[&[u8]] = &[b"", b"PK", b"MZ\x90\x00", b"PK\x05\x06", &[0xff; 64]];
        for b in cases {
            assert!(names(b).is_empty(), "{b:?}");
        }
        // A directory offset past the end, and a name longer than the data.
        let mut zip = archive(&[("a.exe", b"x", false)]);
        let n = zip.len();
        zip[n - 6..n - 2].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            names(&zip),
            vec![("a.exe".to_string(), false)],
            "falls back to local headers"
        );
        let mut bad = archive(&[("a.exe", b"x", false)]);
        bad[26..28].copy_from_slice(&u16::MAX.to_le_bytes());
        let n = bad.len();
        bad[n - 6..n - 2].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(names(&bad).is_empty());
    }

    #[test]
    fn at_most_max_entries_are_read() {
        let many: Vec<(String, Vec<u8>, bool)> = (0..MAX_ENTRIES + 10)
            .map(|i| (format!("f{i}.txt"), Vec::new(), false))
            .collect();
        let members: Vec<(&str, &[u8], bool)> = many
            .iter()
            .map(|(n, d, e)| (n.as_str(), d.as_slice(), *e))
            .collect();
        assert_eq!(entries(&archive(&members)).len(), MAX_ENTRIES);
    }

    #[test]
    fn damaged_archives_give_some_members_or_none_and_never_panic() {
        // Values that break lengths and offsets, and random damage: the
        // reader must stay within the bytes it was given, and reading a
        // member out must give data within its limit or nothing.
        for deflate in [false, true] {
            let zip = archive_with(
                &[
                    ("a.txt", b"hello hello hello", false),
                    ("b/c.exe", b"MZ", true),
                    ("d.docm", b"", false),
                ],
                deflate,
            );
            for (what, damaged) in super::super::damaged_copies(&zip, &[0x00, 0x01, 0x7f, 0xff]) {
                let members = entries(&damaged);
                assert!(members.len() <= 3, "{what}");
                for data in members.iter().filter_map(|e| e.data) {
                    let read = contents(&damaged, data, 64).map_or(0, |c| c.len());
                    assert!(read <= 64, "{what}");
                }
            }
            for at in 0..zip.len() {
                assert!(entries(&zip[..at]).len() <= 3, "cut at {at}");
            }
        }
    }
}
