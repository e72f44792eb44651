//! Attachments: the files a message asks its reader to open.
//!
//! Malware and credential phishing both arrive as files: a program (an
//! `.exe`, a screen saver, a script Windows runs on a double click), a
//! program dressed as a document (`invoice.pdf.exe`, or a name turned
//! around by a right-to-left override so that it reads `…exe.pdf`), an
//! Office document with macros, an archive holding a program or sealed
//! with a password so that no filter can look inside, and an HTML page
//! that opens in the browser with a login form posting to the sender: the
//! reader sees no address bar to tell the page is not the real service,
//! or a page that only sends the browser on (a refresh or a script) or
//! builds a file from data its script carries (HTML smuggling, so that
//! the file never crosses the filter as an attachment).
//!
//! The extensions are pack lists (`executable-extensions`,
//! `macro-extensions`, `decoy-extensions`). The check reads each
//! attachment's name, its declared type, its first bytes (a Windows
//! program is known by its header whatever it is called), the member
//! names of zip and RAR archives (see [`zip`] and [`rar`]) and the forms
//! of HTML attachments, in nested messages too. Nothing is run, and the
//! only thing decompressed is a zip or RAR archive that a zip holds,
//! stored or deflated: it is opened too, two levels down, within 8 MiB a
//! message (a zip bomb stops there). A 7-Zip archive is not read (it
//! usually keeps its names compressed), nor an archive inside a RAR
//! archive. An encrypted zip's names are read; a RAR archive whose names
//! are encrypted counts as encrypted. The links of attached pages go to the link checks (see
//! [`pages`]). It runs on both directions: a hijacked account sending
//! programs is as bad as receiving them.

mod rar;
mod zip;

use super::{Context, Findings};
use crate::message::{Link, Message, html};
use mail_parser::{MimeHeaders, PartType};

/// Symbols this check emits.
pub const SYMBOLS: &[&str] = &[
    "ATTACH_EXECUTABLE",
    "ATTACH_DOUBLE_EXTENSION",
    "ATTACH_NAME_BIDI",
    "ATTACH_MACRO_DOCUMENT",
    "ATTACH_ARCHIVE_EXECUTABLE",
    "ATTACH_ARCHIVE_ENCRYPTED",
    "ATTACH_HTML",
    "ATTACH_HTML_PASSWORD",
    "ATTACH_HTML_REDIRECT",
    "ATTACH_HTML_SMUGGLING",
];

/// The pack option listing extensions the site accepts although the
/// pack's lists name them (`"js jar"`: a developers' site), separated by
/// spaces or commas; empty by default.
pub const OPTION: &str = "ok-attachments";

/// The extensions of option [`OPTION`], lower case and sorted; an error
/// names the option and the entry that is no extension.
pub fn ok_extensions(options: &std::collections::BTreeMap<String, String>) -> Result<Vec<String>, String> {
    let Some(value) = options.get(OPTION) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in value.split([' ', ',', '\t']).filter(|s| !s.is_empty()) {
        let ext = item.trim_start_matches('.').to_lowercase();
        if ext.is_empty()
            || ext.len() > 16
            || !ext.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "option {OPTION}: {item:?} is not a file extension (write \"js jar\")"
            ));
        }
        out.push(ext);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Pack lists this check reads.
pub const LISTS: &[&str] = &["executable-extensions", "macro-extensions", "decoy-extensions"];

/// Most attachments looked at in one message, nested messages included.
const MAX_ATTACHMENTS: usize = 64;
/// How many levels of attached messages are followed.
const MAX_DEPTH: usize = 3;
/// Most bytes of an HTML attachment read for forms.
const MAX_HTML_BYTES: usize = 512 * 1024;
/// How many levels of archives inside an archive are opened.
const MAX_ARCHIVE_DEPTH: usize = 2;
/// Most bytes read out of archives for the archives they hold, in one
/// message (a zip bomb stops there).
const MAX_INFLATED_BYTES: usize = 8 << 20;
/// Extensions of the archive members that are opened.
const ARCHIVE_EXTENSIONS: &[&str] = &["rar", "zip"];
/// Most links kept of one attached page.
pub const MAX_PAGE_LINKS: usize = 64;
/// Most characters of a name shown in a symbol's option.
const MAX_NAME_CHARS: usize = 80;

/// Declared types of Windows programs and shortcuts.
const EXECUTABLE_TYPES: &[&str] = &[
    "application/hta",
    "application/vnd.microsoft.portable-executable",
    "application/x-dosexec",
    "application/x-ms-shortcut",
    "application/x-msdos-program",
    "application/x-msdownload",
];

/// Types and extensions of pages a browser opens (`.hta` is a program
/// and belongs to `executable-extensions`).
const HTML_TYPES: &[&str] = &["application/xhtml+xml", "image/svg+xml", "text/html"];
const HTML_EXTENSIONS: &[&str] = &["htm", "html", "mht", "mhtml", "shtml", "svg", "xhtml"];

/// Script that sends the browser to another page.
const SCRIPT_REDIRECTS: &[&str] = &[
    "document.location",
    "location.assign(",
    "location.href",
    "location.replace(",
    "self.location",
    "top.location",
    "window.location",
];

/// HTML smuggling (MITRE ATT&CK T1027.006): a script decodes data it
/// carries ...
const SMUGGLING_DECODES: &[&str] = &["atob(", "fromcharcode", "unescape("];
/// ... and hands it to the browser as a file to save or open.
const SMUGGLING_FILES: &[&str] = &["createobjecturl", "mssaveblob", "mssaveoropenblob", "new blob"];

/// The member an Office Open XML file keeps its macros in.
const VBA_PROJECT: &str = "vbaproject.bin";

/// Characters that reorder how a name is displayed.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The pack's extension lists (sorted, lower case), and the site's
/// exceptions to them.
struct Lists<'p> {
    executable: &'p [String],
    macros: &'p [String],
    decoy: &'p [String],
    accepted: &'p [String],
}

fn listed(list: &[String], ext: &str) -> bool {
    list.binary_search_by(|x| x.as_str().cmp(ext)).is_ok()
}

/// The last and the second-last extension of a file name, lower case.
/// Windows ignores trailing dots and spaces, so they are dropped first;
/// the second-last extension loses the spaces or underscores that pad a
/// real extension out of sight (`photo.jpg          .exe`).
fn extensions(name: &str) -> (Option<String>, Option<String>) {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let base = base.trim_end_matches(['.', ' ']);
    let mut parts = base.rsplit('.');
    let last = parts.next();
    let before = parts.next();
    // A name without a dot has no extension.
    if before.is_none() {
        return (None, None);
    }
    let ext = |s: &str| {
        let s = s.trim_matches([' ', '_', '\t']);
        (!s.is_empty() && s.len() <= 16 && s.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_'))
            .then(|| s.to_lowercase())
    };
    // The first segment is the name itself, not an extension.
    let before = if parts.next().is_some() {
        before.and_then(ext)
    } else {
        None
    };
    (last.and_then(ext), before)
}

/// A name as shown in an option: control and reordering characters
/// escaped, at most [`MAX_NAME_CHARS`] characters.
fn shown(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().take(MAX_NAME_CHARS) {
        if c.is_control() || is_bidi_control(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// True when `bytes` are a Windows program: `MZ`, then `PE\0\0` where
/// the DOS header's offset at 0x3C points.
fn is_windows_program(bytes: &[u8]) -> bool {
    if !bytes.starts_with(b"MZ") {
        return false;
    }
    let Some(offset) = bytes.get(0x3c..0x40) else {
        return false;
    };
    let offset = u32::from_le_bytes([offset[0], offset[1], offset[2], offset[3]]) as usize;
    offset
        .checked_add(4)
        .and_then(|end| bytes.get(offset..end))
        .is_some_and(|sig| sig == b"PE\0\0")
}

/// What the check found, by symbol, with the names that made it fire.
#[derive(Debug, Default)]
struct Found {
    executable: Vec<String>,
    double_extension: Vec<String>,
    bidi: Vec<String>,
    macros: Vec<String>,
    archive_executable: Vec<String>,
    archive_encrypted: Vec<String>,
    html: Vec<String>,
    html_password: Vec<String>,
    html_redirect: Vec<String>,
    html_smuggling: Vec<String>,
    /// Bytes that archives inside archives may still take, read out.
    inflate_left: usize,
}

impl Found {
    /// Looks at one file name (an attachment's, or an archive member's
    /// as `archive: member`): its extensions and its characters. Returns
    /// whether the name is a program's, and its last extension.
    fn name(
        &mut self,
        lists: &Lists<'_>,
        name: &str,
        shown_as: &str,
        in_archive: bool,
    ) -> (bool, Option<String>) {
        if name.chars().any(is_bidi_control) {
            self.bidi.push(shown_as.to_string());
        }
        let (last, before) = extensions(name);
        let Some(last) = last else { return (false, None) };
        if listed(lists.accepted, &last) {
            return (false, Some(last));
        }
        let executable = listed(lists.executable, &last);
        if executable {
            if in_archive {
                self.archive_executable.push(shown_as.to_string());
            } else {
                self.executable.push(shown_as.to_string());
            }
            if before.is_some_and(|b| listed(lists.decoy, &b)) {
                self.double_extension.push(shown_as.to_string());
            }
        }
        if listed(lists.macros, &last) {
            self.macros.push(shown_as.to_string());
        }
        (executable, Some(last))
    }

    /// Looks at one attachment's name, type, first bytes and archive
    /// members (attached pages are read by [`Found::page`]).
    fn part(&mut self, lists: &Lists<'_>, part: &mail_parser::MessagePart<'_>) {
        let name = attachment_name(part);
        let label = shown(name.unwrap_or("(no name)"));
        let (named_executable, ext) = match name {
            Some(n) => self.name(lists, n, &label, false),
            None => (false, None),
        };
        // A site that accepts an extension accepts what such files are.
        let accepted = ext.as_deref().is_some_and(|e| listed(lists.accepted, e));
        let bytes = part.contents();
        if !named_executable
            && !accepted
            && (EXECUTABLE_TYPES.contains(&declared_type(part).as_str()) || is_windows_program(bytes))
        {
            self.executable.push(label.clone());
        }
        self.archive(lists, &label, bytes, 0);
    }

    /// Looks at the members of `bytes` when it is a zip or RAR archive
    /// called `label`, and into the archives a zip holds, stored or
    /// deflated, [`MAX_ARCHIVE_DEPTH`] levels down.
    fn archive(&mut self, lists: &Lists<'_>, label: &str, bytes: &[u8], depth: usize) {
        let (members, sealed) = if zip::is_zip(bytes) {
            (zip::entries(bytes), false)
        } else if rar::is_rar(bytes) {
            let listing = rar::listing(bytes);
            (listing.entries, listing.sealed)
        } else {
            return;
        };
        // An archive whose names are encrypted is sealed as a whole.
        if sealed {
            self.archive_encrypted.push(label.to_string());
        }
        let mut macros = false;
        for entry in members {
            let member = entry.name.rsplit('/').next().unwrap_or(&entry.name);
            if member.is_empty() {
                continue; // a directory
            }
            let member_label = format!("{label}: {}", shown(&entry.name));
            if entry.encrypted && !self.archive_encrypted.iter().any(|l| l == label) {
                self.archive_encrypted.push(label.to_string());
            }
            macros |= member.eq_ignore_ascii_case(VBA_PROJECT);
            let (_, ext) = self.name(lists, member, &member_label, true);
            let inner = ext.is_some_and(|e| ARCHIVE_EXTENSIONS.contains(&e.as_str()))
                && depth < MAX_ARCHIVE_DEPTH
                && !entry.encrypted;
            if let Some(data) = entry.data.filter(|_| inner)
                && let Some(contents) = zip::contents(bytes, data, self.inflate_left)
            {
                self.inflate_left -= contents.len();
                self.archive(lists, &member_label, &contents, depth + 1);
            }
        }
        if macros {
            self.macros.push(label.to_string());
        }
    }

    /// Looks at one attached page: its password fields, where it sends
    /// the browser, and whether its script builds a file.
    fn page(&mut self, page: &Page) {
        let label = &page.label;
        self.html.push(label.clone());
        if page.forms.password_fields > 0 {
            self.html_password.push(label.clone());
        }
        if let Some(target) = &page.refresh {
            self.html_redirect.push(format!("{label}: {}", shown(target)));
        } else if page.script_redirect {
            self.html_redirect.push(format!("{label}: script"));
        }
        if page.smuggling {
            self.html_smuggling.push(label.clone());
        }
    }
}

/// An attachment's name, trimmed, when it has one.
fn attachment_name<'p>(part: &'p mail_parser::MessagePart<'_>) -> Option<&'p str> {
    part.attachment_name().map(str::trim).filter(|n| !n.is_empty())
}

/// An attachment's declared type, lower case (`text/html`), or empty.
fn declared_type(part: &mail_parser::MessagePart<'_>) -> String {
    part.content_type()
        .map(|ct| match &ct.c_subtype {
            Some(sub) => format!("{}/{}", ct.c_type, sub).to_ascii_lowercase(),
            None => ct.c_type.to_ascii_lowercase(),
        })
        .unwrap_or_default()
}

/// Calls `visit` with each attachment of `message` and of the messages
/// attached to it, down to [`MAX_DEPTH`] levels; `budget` attachments at
/// most (an attached message counts as one).
fn walk(
    message: &mail_parser::Message<'_>,
    depth: usize,
    budget: &mut usize,
    visit: &mut dyn FnMut(&mail_parser::MessagePart<'_>),
) {
    for part in message.attachments() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        match &part.body {
            PartType::Message(nested) => {
                if depth < MAX_DEPTH {
                    walk(nested, depth + 1, budget, visit);
                }
            }
            _ => visit(part),
        }
    }
}

/// A web page attached to a message (a file the browser opens, where the
/// reader sees no address bar), as its first [`MAX_HTML_BYTES`] bytes
/// read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Its name as options show it.
    pub label: String,
    /// Its forms, password fields and where the forms submit.
    pub forms: html::Forms,
    /// Where its `<meta http-equiv="refresh">` sends the browser.
    pub refresh: Option<String>,
    /// Its script sets the browser's location.
    pub script_redirect: bool,
    /// Its script decodes data it carries into a file (HTML smuggling).
    pub smuggling: bool,
    /// Its `<a href>` links, at most [`MAX_PAGE_LINKS`].
    pub links: Vec<Link>,
}

impl Page {
    /// Reads a page named `label`.
    fn read(label: String, bytes: &[u8]) -> Page {
        let html = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_HTML_BYTES)]);
        let mut forms = html::Forms::default();
        html::scan_forms(&html, &mut forms);
        let mut links = Vec::new();
        html::extract_links(&html, &mut links);
        links.truncate(MAX_PAGE_LINKS);
        let lower = html.to_ascii_lowercase();
        let has = |needles: &[&str]| {
            needles
                .iter()
                .any(|n| memchr::memmem::find(lower.as_bytes(), n.as_bytes()).is_some())
        };
        Page {
            label,
            refresh: html::meta_refresh(&html),
            forms,
            script_redirect: has(SCRIPT_REDIRECTS),
            smuggling: has(SMUGGLING_DECODES) && has(SMUGGLING_FILES),
            links,
        }
    }
}

/// The web pages attached to `msg` and to the messages attached to it,
/// within the check's bounds. An HTML part without a name is an
/// alternative body the reader sees, not a file to open, and is left out.
pub fn pages(msg: &Message<'_>) -> Vec<Page> {
    let mut out = Vec::new();
    let Some(parsed) = msg.parsed().filter(|p| !p.attachments.is_empty()) else {
        return out;
    };
    let mut budget = MAX_ATTACHMENTS;
    walk(parsed, 0, &mut budget, &mut |part| {
        let Some(name) = attachment_name(part) else {
            return;
        };
        let is_page = matches!(part.body, PartType::Html(_))
            || HTML_TYPES.contains(&declared_type(part).as_str())
            || extensions(name)
                .0
                .is_some_and(|e| HTML_EXTENSIONS.contains(&e.as_str()));
        if is_page {
            out.push(Page::read(shown(name), part.contents()));
        }
    });
    out
}

/// Runs the check.
pub fn check(cx: &Context<'_>, findings: &mut Findings) {
    let Some(parsed) = cx.message.parsed() else {
        return;
    };
    if parsed.attachments.is_empty() {
        return;
    }
    let lists = Lists {
        executable: cx.pack.list("executable-extensions"),
        macros: cx.pack.list("macro-extensions"),
        decoy: cx.pack.list("decoy-extensions"),
        accepted: &cx.config.ok_attachments,
    };
    let mut found = Found {
        inflate_left: MAX_INFLATED_BYTES,
        ..Found::default()
    };
    let mut budget = MAX_ATTACHMENTS;
    walk(parsed, 0, &mut budget, &mut |part| found.part(&lists, part));
    for page in cx.pages {
        found.page(page);
    }
    let fired = [
        ("ATTACH_EXECUTABLE", &found.executable),
        ("ATTACH_DOUBLE_EXTENSION", &found.double_extension),
        ("ATTACH_NAME_BIDI", &found.bidi),
        ("ATTACH_MACRO_DOCUMENT", &found.macros),
        ("ATTACH_ARCHIVE_EXECUTABLE", &found.archive_executable),
        ("ATTACH_ARCHIVE_ENCRYPTED", &found.archive_encrypted),
        ("ATTACH_HTML", &found.html),
        ("ATTACH_HTML_PASSWORD", &found.html_password),
        ("ATTACH_HTML_REDIRECT", &found.html_redirect),
        ("ATTACH_HTML_SMUGGLING", &found.html_smuggling),
    ];
    for (symbol, names) in fired {
        if !names.is_empty() {
            let options: Vec<&str> = names.iter().map(String::as_str).collect();
            findings.fire(cx.pack, symbol, &options);
        }
    }
}

/// Damaged copies of an archive for the readers' robustness tests:
/// every byte overwritten in turn with each of `values`, then 20 000
/// copies with four pseudo-random bytes overwritten. With each copy goes
/// where it was damaged, for the failure message.
#[cfg(test)]
fn damaged_copies<'a>(archive: &'a [u8], values: &'a [u8]) -> impl Iterator<Item = (String, Vec<u8>)> + 'a {
    let each_byte = (0..archive.len()).flat_map(move |at| {
        values.iter().map(move |&value| {
            let mut damaged = archive.to_vec();
            damaged[at] = value;
            (format!("byte {at} = {value}"), damaged)
        })
    });
    let mut state = 0x2545_f491_u32;
    let random = (0..20_000).map(move |round| {
        let mut damaged = archive.to_vec();
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let at = state as usize % damaged.len();
            damaged[at] = (state >> 24) as u8;
        }
        (format!("random damage {round}"), damaged)
    });
    each_byte.chain(random)
}

#[cfg(test)]
mod tests {
    use super::zip::tests::{archive, archive_with};
    use super::*;
    use crate::checks::testing::run;
    use base64::Engine as _;

    /// A Windows program's first bytes: `MZ`, and `PE\0\0` at 0x40.
    fn windows_program() -> Vec<u8> {
        let mut b = vec![0u8; 0x48];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        b[0x40..0x44].copy_from_slice(b"PE\0\0");
        b
    }

    /// A multipart/mixed message: a text part, then each attachment as
    /// (its MIME header lines, its bytes), in base64.
    fn mail(attachments: &[(&str, &[u8])]) -> String {
        let mut m = String::from(
            "From: a@example.com\r\nTo: b@example.org\r\nSubject: files\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
             --b1\r\nContent-Type: text/plain\r\n\r\nPlease see the attached file.\r\n",
        );
        for (headers, body) in attachments {
            let encoded = base64::engine::general_purpose::STANDARD.encode(body);
            m.push_str(&format!(
                "--b1\r\n{headers}\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n"
            ));
        }
        m.push_str("--b1--\r\n");
        m
    }

    fn attached(name: &str, ctype: &str) -> String {
        format!(
            "Content-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\""
        )
    }

    /// The ATTACH_ symbols of a verdict, with their options.
    fn fired(raw: &str) -> Vec<(String, Vec<String>)> {
        run(&[], raw)
            .symbols
            .into_iter()
            .filter(|s| s.name.starts_with("ATTACH_"))
            .map(|s| (s.name, s.options))
            .collect()
    }

    #[test]
    fn extensions_are_read_as_windows_reads_them() {
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            ("setup.exe", Some("exe"), None),
            ("SETUP.EXE", Some("exe"), None),
            ("invoice.pdf.exe", Some("exe"), Some("pdf")),
            ("photo.jpg          .scr", Some("scr"), Some("jpg")),
            ("photo.jpg_____.scr", Some("scr"), Some("jpg")),
            // Windows drops trailing dots and spaces.
            ("run.exe. . ", Some("exe"), None),
            ("dir/sub\\tool.js", Some("js"), None),
            ("README", None, None),
            ("a.tar.gz", Some("gz"), Some("tar")),
            ("notes.v2 final.txt", Some("txt"), None),
            (".exe", Some("exe"), None),
        ];
        for (name, last, before) in cases {
            let (l, b) = extensions(name);
            assert_eq!((l.as_deref(), b.as_deref()), (*last, *before), "{name}");
        }
    }

    #[test]
    fn the_windows_program_header_is_recognised() {
        assert!(is_windows_program(&windows_program()));
        let mut wrong = windows_program();
        wrong[0x41] = b'X';
        assert!(!is_windows_program(&wrong));
        // `MZ` alone (a text that starts so) is not a program, nor an
        // offset past the end.
        assert!(!is_windows_program(b"MZ is how this text starts"));
        let mut far = windows_program();
        far[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(!is_windows_program(&far));
    }

    #[test]
    fn attachments_fire_by_name_type_header_and_archive_members() {
        let program = windows_program();
        let zip_program = archive(&[
            ("readme.txt", b"hi", false),
            ("tools/Install.EXE", &program, false),
        ]);
        let zip_sealed = archive(&[("invoice.doc", b"x", true)]);
        let zip_plain = archive(&[("report.txt", b"numbers", false)]);
        let docx_macros = archive(&[
            ("[Content_Types].xml", b"<x/>", false),
            ("word/vbaProject.bin", b"x", false),
        ]);
        let login = b"<html><form action=\"https://collect.example/\">E-mail <input name=u> \
                      Password <input type=password name=p></form></html>";
        let rlo = "report\u{202e}fdp.exe";
        type Case<'a> = (&'a str, Vec<(String, Vec<u8>)>, &'a [(&'a str, &'a [&'a str])]);
        let cases: Vec<Case<'_>> = vec![
            (
                "a program by its name",
                vec![(
                    attached("setup.exe", "application/octet-stream"),
                    b"data".to_vec(),
                )],
                &[("ATTACH_EXECUTABLE", &["setup.exe"])],
            ),
            (
                "a program dressed as a document",
                vec![(attached("invoice.pdf.exe", "application/pdf"), b"data".to_vec())],
                &[
                    ("ATTACH_EXECUTABLE", &["invoice.pdf.exe"]),
                    ("ATTACH_DOUBLE_EXTENSION", &["invoice.pdf.exe"]),
                ],
            ),
            (
                "a program by its header, whatever its name",
                vec![(attached("photo.jpg", "image/jpeg"), program.clone())],
                &[("ATTACH_EXECUTABLE", &["photo.jpg"])],
            ),
            (
                "a program by its declared type",
                vec![(attached("update", "application/x-msdownload"), b"data".to_vec())],
                &[("ATTACH_EXECUTABLE", &["update"])],
            ),
            (
                "a right-to-left override hiding the extension",
                vec![(attached(rlo, "application/octet-stream"), b"data".to_vec())],
                &[
                    ("ATTACH_EXECUTABLE", &["report\\u{202e}fdp.exe"]),
                    ("ATTACH_NAME_BIDI", &["report\\u{202e}fdp.exe"]),
                ],
            ),
            (
                "a zip holding a program",
                vec![(attached("files.zip", "application/zip"), zip_program)],
                &[("ATTACH_ARCHIVE_EXECUTABLE", &["files.zip: tools/Install.EXE"])],
            ),
            (
                "an encrypted zip",
                vec![(attached("invoice.zip", "application/zip"), zip_sealed)],
                &[("ATTACH_ARCHIVE_ENCRYPTED", &["invoice.zip"])],
            ),
            (
                "a RAR 4 archive: a program, a script hidden by a right-to-left override, sealed macros",
                vec![(
                    attached("scan.rar", "application/x-rar-compressed"),
                    include_bytes!("testdata/rar4.rar").to_vec(),
                )],
                &[
                    ("ATTACH_DOUBLE_EXTENSION", &["scan.rar: Invoice_2291.pdf.exe"]),
                    ("ATTACH_NAME_BIDI", &["scan.rar: Rechnung_\\u{202e}fdp.js"]),
                    ("ATTACH_MACRO_DOCUMENT", &["scan.rar: sealed.xlsm"]),
                    (
                        "ATTACH_ARCHIVE_EXECUTABLE",
                        &["scan.rar: Invoice_2291.pdf.exe", "scan.rar: Rechnung_\\u{202e}fdp.js"],
                    ),
                    ("ATTACH_ARCHIVE_ENCRYPTED", &["scan.rar"]),
                ],
            ),
            (
                "a RAR 5 archive holding a screen saver",
                vec![(
                    attached("docs.rar", "application/vnd.rar"),
                    include_bytes!("testdata/rar5.rar").to_vec(),
                )],
                &[
                    ("ATTACH_DOUBLE_EXTENSION", &["docs.rar: Счёт.pdf.scr"]),
                    ("ATTACH_MACRO_DOCUMENT", &["docs.rar: sealed.docm"]),
                    ("ATTACH_ARCHIVE_EXECUTABLE", &["docs.rar: Счёт.pdf.scr"]),
                    ("ATTACH_ARCHIVE_ENCRYPTED", &["docs.rar"]),
                ],
            ),
            (
                "RAR archives whose names are encrypted",
                vec![
                    (
                        attached("a.rar", "application/octet-stream"),
                        include_bytes!("testdata/rar4-headers-encrypted.rar").to_vec(),
                    ),
                    (
                        attached("b.rar", "application/octet-stream"),
                        include_bytes!("testdata/rar5-headers-encrypted.rar").to_vec(),
                    ),
                ],
                &[("ATTACH_ARCHIVE_ENCRYPTED", &["a.rar", "b.rar"])],
            ),
            (
                "a macro document by its extension",
                vec![(
                    attached("budget.xlsm", "application/octet-stream"),
                    b"data".to_vec(),
                )],
                &[("ATTACH_MACRO_DOCUMENT", &["budget.xlsm"])],
            ),
            (
                "a macro document by its vbaProject member, whatever its name",
                vec![(attached("letter.docx", "application/octet-stream"), docx_macros)],
                &[("ATTACH_MACRO_DOCUMENT", &["letter.docx"])],
            ),
            (
                "a login page sent as a file",
                vec![(attached("secure-message.html", "text/html"), login.to_vec())],
                &[
                    ("ATTACH_HTML", &["secure-message.html"]),
                    ("ATTACH_HTML_PASSWORD", &["secure-message.html"]),
                ],
            ),
            (
                "a page that sends the browser on",
                vec![(
                    attached("view-document.htm", "text/html"),
                    b"<html><head><meta http-equiv=\"Refresh\" content=\"0; URL='https://collect.example/x'\"></head></html>".to_vec(),
                )],
                &[
                    ("ATTACH_HTML", &["view-document.htm"]),
                    ("ATTACH_HTML_REDIRECT", &["view-document.htm: https://collect.example/x"]),
                ],
            ),
            (
                "a page that reloads itself goes nowhere",
                vec![(
                    attached("status.html", "text/html"),
                    b"<meta http-equiv=refresh content=300><p>Build status</p>".to_vec(),
                )],
                &[("ATTACH_HTML", &["status.html"])],
            ),
            (
                "a page whose script sends the browser on",
                vec![(
                    attached("fax.html", "text/html"),
                    b"<script>window.location.replace('https://collect.example/'+'x')</script>".to_vec(),
                )],
                &[("ATTACH_HTML", &["fax.html"]), ("ATTACH_HTML_REDIRECT", &["fax.html: script"])],
            ),
            (
                "a page that builds a file from data it carries",
                vec![(
                    attached("remittance.html", "text/html"),
                    b"<script>var d=atob('TVqQAA==');var b=new Blob([d]);a.href=URL.createObjectURL(b);</script>".to_vec(),
                )],
                &[("ATTACH_HTML", &["remittance.html"]), ("ATTACH_HTML_SMUGGLING", &["remittance.html"])],
            ),
            (
                "a web page declared as binary, known by its extension",
                vec![(
                    attached("statement.htm", "application/octet-stream"),
                    b"<p>hello</p>".to_vec(),
                )],
                &[("ATTACH_HTML", &["statement.htm"])],
            ),
            // Negatives: what ordinary mail carries.
            (
                "a document, a picture, a signature and a plain zip",
                vec![
                    (attached("report.pdf", "application/pdf"), b"%PDF-1.4".to_vec()),
                    (attached("photo.jpg", "image/jpeg"), b"\xff\xd8\xff\xe0".to_vec()),
                    (
                        "Content-Type: application/pgp-signature".to_string(),
                        b"-----BEGIN PGP".to_vec(),
                    ),
                    (attached("data.zip", "application/zip"), zip_plain),
                ],
                &[],
            ),
            (
                "a program's name in a text, not a file",
                vec![(
                    attached("install-notes.txt", "text/plain"),
                    b"run setup.exe then reboot".to_vec(),
                )],
                &[],
            ),
        ];
        for (what, parts, want) in cases {
            let parts: Vec<(&str, &[u8])> = parts.iter().map(|(h, b)| (h.as_str(), b.as_slice())).collect();
            let got = fired(&mail(&parts));
            let want: Vec<(String, Vec<String>)> = want
                .iter()
                .map(|(s, o)| (s.to_string(), o.iter().map(|x| x.to_string()).collect()))
                .collect();
            let mut got_sorted = got.clone();
            got_sorted.sort();
            let mut want_sorted = want.clone();
            want_sorted.sort();
            assert_eq!(got_sorted, want_sorted, "{what}");
        }
    }

    #[test]
    fn archives_inside_zip_archives_are_opened() {
        let program = windows_program();
        let innermost = archive(&[("deep.exe", &program, false)]);
        let level3 = archive(&[("level3.zip", &innermost, false)]);
        let level2 = archive_with(&[("level2.zip", &level3, false), ("tool.js", b"x", false)], true);
        let level1 = archive_with(&[("level1.zip", &level2, false)], true);
        let raw = mail(&[(&attached("outer.zip", "application/zip"), &level1)]);
        // Two levels inside the attachment are opened, not a third.
        let want: Vec<(String, Vec<String>)> = vec![(
            "ATTACH_ARCHIVE_EXECUTABLE".into(),
            vec!["outer.zip: level1.zip: tool.js".into()],
        )];
        assert_eq!(fired(&raw), want);
        let raw = mail(&[(&attached("outer.zip", "application/zip"), &level2)]);
        assert_eq!(
            fired(&raw),
            vec![(
                "ATTACH_ARCHIVE_EXECUTABLE".to_string(),
                vec![
                    "outer.zip: level2.zip: level3.zip: deep.exe".to_string(),
                    "outer.zip: tool.js".to_string(),
                ]
            )]
        );
        // A RAR inside a zip, and an encrypted zip inside a zip (named,
        // not opened).
        let rar = include_bytes!("testdata/rar5-headers-encrypted.rar");
        let sealed = archive(&[("x.exe", b"x", true)]);
        let outer = archive_with(&[("a.rar", rar, false), ("b.zip", &sealed, true)], true);
        let raw = mail(&[(&attached("files.zip", "application/zip"), &outer)]);
        assert_eq!(
            fired(&raw),
            vec![(
                "ATTACH_ARCHIVE_ENCRYPTED".to_string(),
                vec!["files.zip: a.rar".to_string(), "files.zip".to_string()],
            ),]
        );
    }

    #[test]
    fn a_zip_bomb_is_not_opened_past_the_budget() {
        // 9 MiB of zeros and a program, stored; deflated in the
        // attachment to a few kilobytes.
        let zeros = vec![0u8; 9 << 20];
        let inner = archive(&[("zeros.bin", &zeros, false), ("x.exe", b"MZ", false)]);
        let outer = archive_with(&[("inner.zip", &inner, false)], true);
        assert!(outer.len() < 64 << 10, "{}", outer.len());
        let raw = mail(&[(&attached("bomb.zip", "application/zip"), &outer)]);
        assert_eq!(fired(&raw), Vec::<(String, Vec<String>)>::new());
        // The same program behind a small file is found.
        let inner = archive(&[("x.exe", b"MZ", false)]);
        let outer = archive_with(&[("inner.zip", &inner, false)], true);
        let raw = mail(&[(&attached("small.zip", "application/zip"), &outer)]);
        assert_eq!(fired(&raw).len(), 1);
    }

    #[test]
    fn an_html_body_is_not_an_attachment() {
        // The password form of an HTML body is the forms check's; this
        // check only looks at files.
        let raw = "From: a@example.com\r\nTo: b@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
                   Content-Type: text/html\r\n\r\n<form action=\"http://x.example/\"><input type=password></form>\r\n";
        assert_eq!(fired(raw), vec![]);
        let names: Vec<String> = run(&[], raw).symbols.into_iter().map(|s| s.name).collect();
        assert!(names.contains(&"HTML_FORM_PASSWORD".to_string()), "{names:?}");
    }

    #[test]
    fn attached_messages_are_followed() {
        let inner = mail(&[(&attached("setup.exe", "application/octet-stream"), b"data")]);
        let outer = format!(
            "From: c@example.com\r\nTo: d@example.org\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"o1\"\r\n\r\n\
             --o1\r\nContent-Type: text/plain\r\n\r\nForwarded.\r\n\
             --o1\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--o1--\r\n"
        );
        assert_eq!(
            fired(&outer),
            vec![("ATTACH_EXECUTABLE".to_string(), vec!["setup.exe".to_string()])]
        );
    }

    #[test]
    fn at_most_max_attachments_are_read() {
        // The program is the 65th attachment: not looked at.
        let mut parts: Vec<(String, Vec<u8>)> = (0..MAX_ATTACHMENTS)
            .map(|i| (attached(&format!("f{i}.txt"), "text/plain"), b"x".to_vec()))
            .collect();
        parts.push((attached("late.exe", "application/octet-stream"), b"x".to_vec()));
        let refs: Vec<(&str, &[u8])> = parts.iter().map(|(h, b)| (h.as_str(), b.as_slice())).collect();
        assert_eq!(fired(&mail(&refs)), vec![]);
        let refs: Vec<(&str, &[u8])> = refs[1..].to_vec();
        assert_eq!(fired(&mail(&refs)).len(), 1);
    }

    #[test]
    fn a_site_may_accept_listed_extensions() {
        use crate::checks::testing::{configure_with_options, run_with_options};
        let script = mail(&[(&attached("build.js", "application/javascript"), b"console.log(1)")]);
        let program = mail(&[(
            &attached("tool.exe", "application/x-msdownload"),
            &windows_program(),
        )]);
        let zipped = archive(&[("src/build.js", b"x", false)]);
        let in_zip = mail(&[(&attached("src.zip", "application/zip"), &zipped)]);
        let cases: &[(&str, &str, &str)] = &[
            ("", &script, "ATTACH_EXECUTABLE"),
            ("js", &script, ""),
            (".JS, jar", &script, ""),
            ("js", &in_zip, ""),
            ("", &in_zip, "ATTACH_ARCHIVE_EXECUTABLE"),
            // Accepting scripts does not accept programs, nor the other
            // way round; an accepted program is not caught by its header.
            ("js", &program, "ATTACH_EXECUTABLE"),
            ("exe", &program, ""),
            ("exe", &script, "ATTACH_EXECUTABLE"),
        ];
        for (accepted, raw, want) in cases {
            let v = run_with_options(&[(OPTION, accepted)], raw);
            let got: Vec<&str> = v
                .symbols
                .iter()
                .map(|s| s.name.as_str())
                .filter(|n| n.starts_with("ATTACH_"))
                .collect();
            let want: Vec<&str> = [*want].into_iter().filter(|w| !w.is_empty()).collect();
            assert_eq!(got, want, "ok-attachments = {accepted:?}");
        }
        for bad in ["j*s", "a/b", "verylongextensionname"] {
            let e = configure_with_options(&[(OPTION, bad)]).unwrap_err();
            assert!(e.contains(OPTION) && e.contains(bad), "{e}");
        }
    }
}
