//! Reading mail corpora: files, directories (walked recursively, so a
//! Maildir's `cur/` and `new/` too) and mbox files.
//!
//! Used by `mailward scan`, `check`, `bench`, `serve --send` and by the
//! classifier's trainer (`mailward-train`), so a site can train on the
//! same exports it scans.

use std::io;
use std::path::{Path, PathBuf};

/// A file or directory that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}: {source}", path.display())]
pub struct Error {
    /// What was being done: `reading` or `listing`.
    pub what: &'static str,
    /// The path it was done to.
    pub path: PathBuf,
    /// Why it failed.
    #[source]
    pub source: io::Error,
}

/// One message and where it came from.
#[derive(Debug)]
pub struct Item {
    /// `path` or `path#N` for the N-th message of an mbox.
    pub label: String,
    /// The raw message (without an mbox separator line).
    pub bytes: Vec<u8>,
}

/// Every file under `paths` (directories walked recursively, sorted; names
/// starting with `.` skipped).
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out)?;
    }
    Ok(out)
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let err = |what, source| Error {
        what,
        path: p.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(p).map_err(|e| err("reading", e))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| err("listing", e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|e| {
                !e.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        entries.sort();
        for e in entries {
            walk(&e, out)?;
        }
    } else {
        out.push(p.to_path_buf());
    }
    Ok(())
}

/// True for an mbox "From " separator line: `From <sender> <date>` where
/// the date looks like `Thu Aug 22 12:36:23 2002`.
fn is_separator(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"From ") else {
        return false;
    };
    let text = String::from_utf8_lossy(rest);
    let words: Vec<&str> = text.split_whitespace().collect();
    words.len() >= 6
        && words
            .iter()
            .any(|w| w.len() == 8 && w.as_bytes()[2] == b':' && w.as_bytes()[5] == b':')
        && words
            .last()
            .is_some_and(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
}

/// The messages in one file: several when it is an mbox, else one. The
/// mbox separator line is removed.
pub fn messages_in(path: &Path, bytes: Vec<u8>) -> Vec<Item> {
    let label = path.display().to_string();
    let first_line_end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| i + 1);
    if !is_separator(&bytes[..first_line_end]) {
        return vec![Item { label, bytes }];
    }
    let mut starts = vec![0];
    let mut pos = first_line_end;
    while pos < bytes.len() {
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| pos + i + 1);
        if is_separator(&bytes[pos..end]) {
            starts.push(pos);
        }
        pos = end;
    }
    let many = starts.len() > 1;
    starts
        .iter()
        .enumerate()
        .map(|(n, &s)| {
            let e = starts.get(n + 1).copied().unwrap_or(bytes.len());
            let chunk = &bytes[s..e];
            let body_start = chunk
                .iter()
                .position(|&b| b == b'\n')
                .map_or(chunk.len(), |i| i + 1);
            Item {
                label: if many {
                    format!("{label}#{}", n + 1)
                } else {
                    label.clone()
                },
                bytes: chunk[body_start..].to_vec(),
            }
        })
        .collect()
}

/// The messages of one file ([`messages_in`] after reading it).
pub fn read_file(path: &Path) -> Result<Vec<Item>, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error {
        what: "reading",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(messages_in(path, bytes))
}

/// Reads every message under `paths`.
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<Item>, Error> {
    let mut out = Vec::new();
    for f in files(paths)? {
        out.extend(read_file(&f)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_mbox_and_keeps_plain_files_whole() {
        let mbox = b"From a@example.com  Thu Aug 22 12:36:23 2002\nSubject: one\n\nFrom the desk of Bob\n\
From b@example.com Fri Aug 23 01:02:03 2002\nSubject: two\n\nhi\n";
        let items = messages_in(Path::new("box"), mbox.to_vec());
        assert_eq!(items.len(), 2);
        assert!(items[0].bytes.starts_with(b"Subject: one"));
        assert!(
            items[0].bytes.ends_with(b"From the desk of Bob\n"),
            "a body From line is not a separator"
        );
        assert_eq!(items[1].label, "box#2");
        let plain = messages_in(Path::new("m.eml"), b"Subject: x\n\nFrom here\n".to_vec());
        assert_eq!(plain.len(), 1);
    }

    #[test]
    fn a_missing_path_names_itself() {
        let e = files(&[PathBuf::from("/nonexistent/mailward-corpus")]).unwrap_err();
        assert_eq!(e.what, "reading");
        assert!(
            e.to_string()
                .starts_with("reading /nonexistent/mailward-corpus: "),
            "{e}"
        );
    }
}
