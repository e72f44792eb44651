//! Writing systems the site's readers do not read.
//!
//! SpamAssassin's `ok_locales` and `ok_languages` (rules
//! `CHARSET_FARAWAY_HEADER`, `UNWANTED_LANGUAGE_BODY`) let a site say what
//! its users read; mail written in anything else is, for that site, very
//! likely mail nobody asked for. This check does the same with writing
//! systems, counted on the decoded text: the pack option `ok-scripts`
//! lists the systems the site reads (`latin`, `cyrillic`, `greek`, `han`,
//! `kana`, `hangul`, `arabic-hebrew`, `other`), or `all`, the default, in
//! which case the check emits nothing. A message in a system the site does
//! not read is not spam by itself (a colleague may write in Chinese); the
//! pack scores it as one piece of evidence.

use super::reads::{Choice, Reads};
use super::{Context, Findings};

/// Symbols this check emits.
pub const SYMBOLS: &[&str] = &["TEXT_SCRIPT_UNEXPECTED", "HEADER_SCRIPT_UNEXPECTED"];

/// The pack option naming the writing systems the site reads.
pub const OPTION: &str = "ok-scripts";

/// The writing systems told apart, in [`count`]'s order.
pub const SCRIPTS: [&str; 8] = [
    "latin",
    "cyrillic",
    "greek",
    "han",
    "kana",
    "hangul",
    "arabic-hebrew",
    "other",
];

/// The letters of `text` in each of [`SCRIPTS`].
pub fn count(text: &str) -> [usize; 8] {
    let mut counts = [0usize; 8];
    // ASCII letters are Latin; only other characters need decoding.
    counts[0] = text.bytes().filter(u8::is_ascii_alphabetic).count();
    if text.is_ascii() {
        return counts;
    }
    for c in text.chars().filter(|c| !c.is_ascii() && c.is_alphabetic()) {
        let i = match c as u32 {
            0..=0x024F | 0x1E00..=0x1EFF => 0,
            0x0400..=0x052F => 1,
            0x0370..=0x03FF => 2,
            0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF => 3,
            0x3040..=0x30FF | 0xFF66..=0xFF9F => 4,
            0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => 5,
            0x0590..=0x06FF => 6,
            _ => 7,
        };
        counts[i] += 1;
    }
    counts
}

/// The writing systems a text is written in: each with at least
/// `min_letters` letters and `1 / share` of all its letters.
pub fn present(counts: &[usize; 8], min_letters: usize, share: usize) -> impl Iterator<Item = usize> + '_ {
    let total: usize = counts.iter().sum();
    (0..SCRIPTS.len()).filter(move |&i| counts[i] >= min_letters && counts[i] * share >= total)
}

/// How the option `ok-scripts` names the writing systems the site reads.
pub const CHOICE: Choice = Choice {
    option: OPTION,
    names: &SCRIPTS,
    one: "a writing system",
    each: "writing system",
};

/// The systems of `counts` present enough to count and not read.
fn unread_systems(reads: Reads, counts: &[usize; 8], min_letters: usize, share: usize) -> Vec<&'static str> {
    present(counts, min_letters, share)
        .filter(|&i| !reads.reads(i))
        .map(|i| SCRIPTS[i])
        .collect()
}

/// Letters a text needs in a system, and the share of its letters (one
/// in `TEXT_SHARE`), for the system to count: the classifier's `l:`
/// features use the same bounds.
pub const TEXT_MIN_LETTERS: usize = 10;
/// See [`TEXT_MIN_LETTERS`].
pub const TEXT_SHARE: usize = 10;

/// In the Subject and the From display name, two letters of a system
/// (a word of Chinese) and a fifth of the letters count.
const HEADER_MIN_LETTERS: usize = 2;
const HEADER_SHARE: usize = 5;

/// Runs the check.
pub fn check(cx: &Context<'_>, findings: &mut Findings) {
    let expected = cx.config.scripts;
    if expected.is_all() {
        return;
    }
    let text = cx.message.text();
    let unread = unread_systems(expected, &count(text), TEXT_MIN_LETTERS, TEXT_SHARE);
    if !unread.is_empty() {
        findings.fire(cx.pack, "TEXT_SCRIPT_UNEXPECTED", &unread);
    }
    let subject = cx.message.subject().unwrap_or_default();
    let name = cx
        .message
        .from()
        .and_then(|m| m.name.as_deref())
        .unwrap_or_default();
    let mut unread: Vec<&str> = Vec::new();
    for field in [subject.as_str(), name] {
        for s in unread_systems(expected, &count(field), HEADER_MIN_LETTERS, HEADER_SHARE) {
            if !unread.contains(&s) {
                unread.push(s);
            }
        }
    }
    if !unread.is_empty() {
        findings.fire(cx.pack, "HEADER_SCRIPT_UNEXPECTED", &unread);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::run_with_options;

    #[test]
    fn the_option_names_writing_systems_or_all() {
        let cases: &[(&str, Result<&[&str], &str>)] = &[
            ("all", Ok(&SCRIPTS)),
            ("ALL", Ok(&SCRIPTS)),
            ("latin", Ok(&["latin"])),
            ("latin, cyrillic", Ok(&["latin", "cyrillic"])),
            ("Latin Greek", Ok(&["latin", "greek"])),
            ("latin,klingon", Err("\"klingon\" is not a writing system")),
            ("", Err("is empty")),
            (" , ", Err("is empty")),
        ];
        for (value, want) in cases {
            match (CHOICE.parse(value), want) {
                (Ok(e), Ok(names)) => {
                    let got: Vec<&str> = (0..SCRIPTS.len())
                        .filter(|&i| e.reads(i))
                        .map(|i| SCRIPTS[i])
                        .collect();
                    assert_eq!(&got, names, "{value:?}");
                }
                (Err(e), Err(part)) => assert!(e.contains(part) && e.contains(OPTION), "{value:?}: {e}"),
                (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn letters_are_counted_by_writing_system() {
        let cases: &[(&str, [usize; 8])] = &[
            ("Hello, world 42", [10, 0, 0, 0, 0, 0, 0, 0]),
            ("Café Straße", [10, 0, 0, 0, 0, 0, 0, 0]),
            ("Привет мир", [0, 9, 0, 0, 0, 0, 0, 0]),
            ("Καλημέρα", [0, 0, 8, 0, 0, 0, 0, 0]),
            ("欢迎光临", [0, 0, 0, 4, 0, 0, 0, 0]),
            ("ようこそカタカナ", [0, 0, 0, 0, 8, 0, 0, 0]),
            ("안녕하세요", [0, 0, 0, 0, 0, 5, 0, 0]),
            ("שלום مرحبا", [0, 0, 0, 0, 0, 0, 9, 0]),
            // Thai vowel signs are letters too (Unicode Alphabetic).
            ("สวัสดี", [0, 0, 0, 0, 0, 0, 0, 6]),
            // Digits, punctuation and symbols are not letters.
            ("1234 !? €£ ✓", [0; 8]),
        ];
        for (text, want) in cases {
            assert_eq!(count(text), *want, "{text:?}");
        }
    }

    const LATIN: &str = "latin";

    fn mail(subject: &str, from: &str, body: &str) -> String {
        format!(
            "From: {from}\r\nTo: b@example.org\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
        )
    }

    fn fired(ok: Option<&str>, raw: &str) -> Vec<(String, Vec<String>)> {
        let options: Vec<(&str, &str)> = ok.map(|v| (OPTION, v)).into_iter().collect();
        run_with_options(&options, raw)
            .symbols
            .into_iter()
            .filter(|s| SYMBOLS.contains(&s.name.as_str()))
            .map(|s| (s.name, s.options))
            .collect()
    }

    #[test]
    fn mail_in_a_system_the_site_does_not_read_is_marked() {
        let chinese = "欢迎光临本公司网站，我们提供最优惠的价格和最好的服务。";
        let japanese = "今すぐアクセスしてください。特別なキャンペーンを実施中です。";
        let english = "Thanks for the patch, I will merge it tomorrow after the tests run.";
        type Want = &'static [(&'static str, &'static [&'static str])];
        let cases: &[(Option<&str>, String, Want)] = &[
            // Chinese text and subject, site reads Latin.
            (
                Some(LATIN),
                mail("=?UTF-8?B?5YWN6LS55LyY5oOg?=", "a@example.com", chinese),
                &[
                    ("TEXT_SCRIPT_UNEXPECTED", &["han"]),
                    ("HEADER_SCRIPT_UNEXPECTED", &["han"]),
                ],
            ),
            // Japanese writes kana and Han; this text has 6 Han letters of
            // 31, under the 10 a system needs to count.
            (
                Some(LATIN),
                mail("offer", "a@example.com", japanese),
                &[("TEXT_SCRIPT_UNEXPECTED", &["kana"])],
            ),
            (
                Some(LATIN),
                mail("offer", "a@example.com", &format!("{japanese}{chinese}")),
                &[("TEXT_SCRIPT_UNEXPECTED", &["han", "kana"])],
            ),
            // A Korean display name alone.
            (
                Some(LATIN),
                mail("hello", "=?UTF-8?B?7ZmN6ri464+Z?= <a@example.com>", english),
                &[("HEADER_SCRIPT_UNEXPECTED", &["hangul"])],
            ),
            // The site reads Han and kana: nothing.
            (
                Some("latin, han, kana"),
                mail("offer", "a@example.com", japanese),
                &[],
            ),
            // The default reads everything: nothing.
            (
                None,
                mail("=?UTF-8?B?5YWN6LS55LyY5oOg?=", "a@example.com", chinese),
                &[],
            ),
            (Some("all"), mail("offer", "a@example.com", japanese), &[]),
            // English mail that quotes a few Chinese characters (under a
            // tenth of its letters) is English.
            (
                Some(LATIN),
                mail("the word", "a@example.com", &format!("{english} {english} 光临")),
                &[],
            ),
            // A site that reads only Cyrillic sees the English mail as foreign.
            (
                Some("cyrillic"),
                mail("hello", "a@example.com", english),
                &[
                    ("TEXT_SCRIPT_UNEXPECTED", &["latin"]),
                    ("HEADER_SCRIPT_UNEXPECTED", &["latin"]),
                ],
            ),
        ];
        for (ok, raw, want) in cases {
            let got = fired(*ok, raw);
            let want: Vec<(String, Vec<String>)> = want
                .iter()
                .map(|(n, o)| (n.to_string(), o.iter().map(|s| s.to_string()).collect()))
                .collect();
            let mut got_sorted = got.clone();
            got_sorted.sort();
            let mut want_sorted = want.clone();
            want_sorted.sort();
            assert_eq!(got_sorted, want_sorted, "ok-scripts {ok:?}\n{raw}");
        }
    }

    #[test]
    fn a_bad_option_value_is_refused_at_configure() {
        let err = crate::checks::testing::configure_with_options(&[(OPTION, "latin;han")]).unwrap_err();
        assert!(err.contains(OPTION) && err.contains("latin;han"), "{err}");
    }
}
