//! Text that did not say its charset.
//!
//! A MIME text part without a `charset` parameter, or with one that does not
//! fit its bytes (`us-ascii` or `utf-8` over 8-bit text, `unknown-8bit`), is
//! decoded by mail-parser as UTF-8 (or, for `us-ascii`, as windows-1252), so
//! text written in Big5, GB2312, Shift_JIS, EUC-KR, KOI8-R or TIS-620 came
//! out as replacement characters or Latin-1 mojibake, and every check and
//! the classifier saw nothing of it. Unlabelled 8-bit text is common in mail
//! from East Asia and in spam. Such text is decoded here from, in this
//! order:
//!
//! 1. a charset an HTML part declares in a `<meta>` tag;
//! 2. the `charset` parameter of an enclosing multipart (not standard, but
//!    common: the sender labelled the message instead of the part);
//! 3. UTF-8, if the bytes are mostly well-formed UTF-8 with a few broken
//!    sequences;
//! 4. the charset [`chardetng`] (Firefox's detector) guesses from the bytes,
//!    if it has enough 8-bit bytes to go on, else windows-1252.
//!
//! A hint is used only if the bytes decode in it without error. Header
//! fields written in raw 8-bit (no RFC 2047 encoded words) get steps 3
//! and 4.
//!
//! The detector is the costly step (a few hundred nanoseconds a byte), so
//! it reads at most the first 16 KiB of a text, and at most 64 KiB in all
//! for one message (a [`Sniffer`]); a message with more unlabelled parts
//! than that decodes the rest as the detector last decided for it when
//! their bytes fit that charset, else as windows-1252. Without the budget,
//! a 6 MB message of a hundred unlabelled 8-bit parts ran the detector on
//! each and outlasted the sandbox's time budget.

use encoding_rs::Encoding;

/// Most bytes the detector reads of one text: enough to tell the scripts
/// apart, and the cost stays bounded on a large part.
const SNIFF_BYTES: usize = 16 * 1024;

/// Most bytes the detector reads for one message, over all its parts and
/// fields.
const MESSAGE_SNIFF_BYTES: usize = 64 * 1024;

/// Where the `<meta>` charset of an HTML part is looked for (HTML's
/// prescan reads the first 1024 bytes; mail often puts more before it).
const META_SCAN_BYTES: usize = 4096;

/// Whether text declared in `label` (None: not declared) should be decoded
/// again from its bytes when they are not what the label says: the label
/// is missing, unknown, ASCII or UTF-8.
pub fn label_is_weak(label: Option<&str>) -> bool {
    let Some(label) = label else {
        return true;
    };
    let l = label.trim().trim_matches('"').to_ascii_lowercase();
    label_is_ascii(Some(&l))
        || matches!(
            l.as_str(),
            "utf-8" | "utf8" | "unknown-8bit" | "x-unknown" | "unknown" | ""
        )
        || Encoding::for_label(l.as_bytes()).is_none()
}

/// Whether `label` names ASCII (mail-parser decodes it as windows-1252, so
/// 8-bit bytes in it come out as Latin-1 letters, not replacement
/// characters).
pub fn label_is_ascii(label: Option<&str>) -> bool {
    label.is_some_and(|l| {
        let l = l.trim().trim_matches('"');
        ["us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us"]
            .iter()
            .any(|a| l.eq_ignore_ascii_case(a))
    })
}

/// Decodes `bytes`, which are not valid UTF-8 (or carry ISO-2022 escapes),
/// trying `hints` (labels, best first) before the detector: one text on
/// its own, with a budget of its own (see [`Sniffer`]).
pub fn decode_unlabelled(bytes: &[u8], hints: &[&str]) -> String {
    Sniffer::default().decode(bytes, hints)
}

/// The detector's work for one message: what is left of its byte budget,
/// and the encoding it last trusted.
#[derive(Debug)]
pub struct Sniffer {
    left: usize,
    last: Option<&'static Encoding>,
}

impl Default for Sniffer {
    fn default() -> Self {
        Sniffer {
            left: MESSAGE_SNIFF_BYTES,
            last: None,
        }
    }
}

impl Sniffer {
    /// Decodes `bytes`, which are not valid UTF-8 (or carry ISO-2022
    /// escapes), trying `hints` (labels, best first) before the detector.
    pub fn decode(&mut self, bytes: &[u8], hints: &[&str]) -> String {
        for hint in hints {
            if let Some(enc) = Encoding::for_label(hint.trim().trim_matches('"').as_bytes()) {
                let enc = enc.output_encoding();
                if enc == encoding_rs::UTF_8 {
                    continue;
                }
                if let Some(text) = enc.decode_without_bom_handling_and_without_replacement(bytes) {
                    return text.into_owned();
                }
            }
        }
        let sample = &bytes[..bytes.len().min(SNIFF_BYTES)];
        if mostly_utf8(sample) {
            return String::from_utf8_lossy(bytes).into_owned();
        }
        let high = sample.iter().filter(|&&b| b >= 0x80).count();
        // Too few 8-bit bytes for any guess but windows-1252 to be trusted,
        // and no escape for ISO-2022-JP: the detector could only say what
        // this says, and setting one up costs more than most fields.
        let enc = if high < MIN_HIGH_BYTES && memchr::memchr(0x1b, sample).is_none() {
            encoding_rs::WINDOWS_1252
        } else if self.left == 0 {
            // The detector's last decision, if these bytes fit it (a
            // multi-byte charset over Latin-1 bytes would give replacement
            // characters).
            if let Some(text) = self
                .last
                .and_then(|enc| enc.decode_without_bom_handling_and_without_replacement(bytes))
            {
                return text.into_owned();
            }
            encoding_rs::WINDOWS_1252
        } else {
            let (sample, high) = if sample.len() > self.left {
                // What is left of the budget: count its 8-bit bytes anew.
                let part = &sample[..self.left];
                (part, part.iter().filter(|&&b| b >= 0x80).count())
            } else {
                (sample, high)
            };
            self.left -= sample.len();
            let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Allow);
            detector.feed(sample, true);
            let guess = detector.guess(None, chardetng::Utf8Detection::Allow);
            if trust_guess(guess, sample, high) {
                self.last = Some(guess);
                guess
            } else {
                encoding_rs::WINDOWS_1252
            }
        };
        enc.decode_without_bom_handling(bytes).0.into_owned()
    }
}

/// UTF-8 with a few broken sequences (a truncated or spliced text): at
/// least as many well-formed non-ASCII characters as broken runs. Read
/// as anything else, each of its characters would become two or three.
fn mostly_utf8(sample: &[u8]) -> bool {
    let (mut good, mut bad) = (0usize, 0usize);
    for chunk in sample.utf8_chunks() {
        good += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        bad += usize::from(!chunk.invalid().is_empty());
    }
    good > 0 && good >= bad
}

/// The fewest 8-bit bytes on which a guess other than windows-1252 is
/// trusted (see [`trust_guess`]).
const MIN_HIGH_BYTES: usize = 8;

/// Whether the detector's `guess` for `sample` (with `high` 8-bit bytes)
/// has enough to go on.
///
/// A few 8-bit bytes in English text are nearly always Latin-1 symbols
/// and letters (`£`, `é`, `©`): the detector, which has no top-level domain
/// to go by here, may read a lone `£` as Polish `ł` (ISO-8859-2), which
/// turned "£130million" into a word. So a guess other than windows-1252
/// needs 8 or more 8-bit bytes, and a single-byte one also needs them to be
/// a fifth of the letters (Cyrillic, Greek or Thai text is mostly 8-bit;
/// Western text with accents is not). ISO-2022-JP, 7-bit, is trusted.
fn trust_guess(guess: &'static Encoding, sample: &[u8], high: usize) -> bool {
    if guess == encoding_rs::WINDOWS_1252 || guess == encoding_rs::ISO_2022_JP {
        return true;
    }
    if high < MIN_HIGH_BYTES {
        return false;
    }
    let single_byte = guess.is_single_byte();
    let ascii_letters = sample.iter().filter(|b| b.is_ascii_alphabetic()).count();
    !single_byte || high * 5 >= ascii_letters + high
}

/// Whether `bytes` need [`decode_unlabelled`]: invalid UTF-8, or ISO-2022
/// escape sequences (7-bit Japanese, Korean or Chinese).
pub fn needs_sniffing(bytes: &[u8]) -> bool {
    // ASCII is the common case (every header field of most mail): a word-
    // at-a-time test and a search for ESC, not a UTF-8 validation.
    if !bytes.is_ascii() && std::str::from_utf8(bytes).is_err() {
        return true;
    }
    has_iso2022_escape(bytes)
}

/// ESC `$` (a designation of a multi-byte set) or ESC `(` `J`/`I`.
fn has_iso2022_escape(bytes: &[u8]) -> bool {
    memchr::memchr_iter(0x1b, bytes).any(|i| match bytes.get(i + 1..i + 3) {
        Some([b'$', _]) => true,
        Some([b'(', c]) => matches!(c, b'J' | b'I'),
        _ => false,
    })
}

/// The charset an HTML part's `<meta>` tag declares near its start (see
/// [`super::html::meta_charset`]); the bytes need not be UTF-8.
pub fn html_meta_charset(html: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&html[..html.len().min(META_SCAN_BYTES)]);
    super::html::meta_charset(&head).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (a 6 MB message of a hundred unlabelled 8-bit parts ran
    /// the detector on 64 KiB of each and outlasted the sandbox's time
    /// budget): the detector reads at most 16 KiB of a text and 64 KiB of
    /// a message; past that, parts decode as the detector last decided.
    #[test]
    fn many_unlabelled_parts_stay_within_the_sniff_budget() {
        let line = "Это тестовое письмо, пожалуйста, не отвечайте на него. ";
        let text = line.repeat(40 * 1024 / line.len());
        let (koi8, _, bad) = encoding_rs::KOI8_R.encode(&text);
        assert!(!bad && koi8.len() > SNIFF_BYTES);
        let mut sniffer = Sniffer::default();
        for part in 0..6 {
            assert_eq!(sniffer.decode(&koi8, &[]), text, "part {part}");
            let read = MESSAGE_SNIFF_BYTES.min((part + 1) * SNIFF_BYTES);
            assert_eq!(sniffer.left, MESSAGE_SNIFF_BYTES - read, "part {part}");
        }
        // Once the budget is spent, a part in another charset is read as
        // the last decision (the price of the bound), a hint still wins,
        // and few 8-bit bytes still mean windows-1252.
        let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode(&text);
        assert_eq!(
            sniffer.decode(&cp1251, &[]),
            encoding_rs::KOI8_R.decode(&cp1251).0
        );
        assert_eq!(sniffer.decode(&cp1251, &["windows-1251"]), text);
        assert_eq!(sniffer.decode(b"caf\xe9 cr\xe8me", &[]), "café crème");
        // A last decision the bytes do not fit gives way to windows-1252.
        let zh = "这是一封测试邮件，请勿回复。我们提供最优惠的价格和服务。".repeat(800);
        let (gbk, _, _) = encoding_rs::GBK.encode(&zh);
        let mut spent = Sniffer::default();
        for _ in 0..4 {
            assert_eq!(spent.decode(&gbk, &[]), zh);
        }
        assert_eq!(spent.left, 0);
        let latin1 = b"Gr\xfc\xdfe aus K\xf6ln, \xe0 bient\xf4t! Gr\xfc\xdfe aus K\xf6ln, \xe0 bient\xf4t!";
        assert_eq!(
            spent.decode(latin1, &[]),
            "Grüße aus Köln, à bientôt! Grüße aus Köln, à bientôt!"
        );
        // A sniffer of its own for each message: a fresh one detects.
        assert_eq!(decode_unlabelled(&cp1251, &[]), text);
        // Fewer 8-bit bytes than a guess needs: no detector, no budget.
        let mut sniffer = Sniffer::default();
        assert_eq!(
            sniffer.decode(b"Prize of \xa3130million", &[]),
            "Prize of £130million"
        );
        assert_eq!(sniffer.left, MESSAGE_SNIFF_BYTES);
    }

    /// Each case: the bytes as the encoding writes them, the hints, and
    /// the text they must decode to.
    #[test]
    fn unlabelled_text_decodes_in_its_charset() {
        let cases: &[(&str, &'static Encoding, &[&str])] = &[
            (
                "這是一封測試郵件，請勿回覆。我們提供最優惠的價格。",
                encoding_rs::BIG5,
                &[],
            ),
            (
                "这是一封测试邮件，请勿回复。我们提供最优惠的价格和服务。",
                encoding_rs::GBK,
                &[],
            ),
            (
                "これはテストメールです。ご不要な方は配信停止をお送り下さい。",
                encoding_rs::SHIFT_JIS,
                &[],
            ),
            (
                "これはテストメールです。ご不要な方は配信停止をお送り下さい。",
                encoding_rs::EUC_JP,
                &[],
            ),
            (
                "이것은 시험 메일입니다. 수신을 원하지 않으시면 거부를 눌러 주십시오.",
                encoding_rs::EUC_KR,
                &[],
            ),
            (
                "これはテストメールです。ご不要な方は配信停止をお送り下さい。",
                encoding_rs::ISO_2022_JP,
                &[],
            ),
            (
                "Это тестовое письмо, пожалуйста, не отвечайте на него.",
                encoding_rs::KOI8_R,
                &[],
            ),
            // A short Latin-1 text: the detector may call it any Western
            // charset, the hint settles it.
            (
                "Grüße aus Köln, à bientôt",
                encoding_rs::WINDOWS_1252,
                &["iso-8859-1"],
            ),
            // A few 8-bit bytes in English text are Latin-1, whatever the
            // detector would make of them alone.
            (
                "Prize of £130million, up from £97m, said the café",
                encoding_rs::WINDOWS_1252,
                &[],
            ),
            (
                "Shift ÐÏàá¡± symbols in otherwise plain English text",
                encoding_rs::WINDOWS_1252,
                &[],
            ),
            // A short Subject in Cyrillic is mostly 8-bit.
            ("Выгодное предложение", encoding_rs::KOI8_R, &[]),
            ("Выгодное предложение", encoding_rs::WINDOWS_1251, &[]),
            // A hint the bytes do not fit is skipped.
            (
                "这是一封测试邮件，请勿回复。我们提供最优惠的价格和服务。",
                encoding_rs::GBK,
                &["utf-8", "shift_jis"],
            ),
        ];
        for (text, enc, hints) in cases {
            let (bytes, _, bad) = enc.encode(text);
            assert!(!bad, "{} cannot write {text}", enc.name());
            assert!(needs_sniffing(&bytes), "{}: {text}", enc.name());
            assert_eq!(
                decode_unlabelled(&bytes, hints),
                *text,
                "{} with hints {hints:?}",
                enc.name()
            );
        }
    }

    /// UTF-8 with one broken byte stays UTF-8 (read as windows-1252 it
    /// became `d'ãªtre`).
    #[test]
    fn broken_utf8_stays_utf8() {
        let bytes = [
            "d'être communiqué à la société ".as_bytes(),
            &b"\xe9"[..],
            " et café".as_bytes(),
        ]
        .concat();
        assert!(needs_sniffing(&bytes));
        assert_eq!(
            decode_unlabelled(&bytes, &[]),
            "d'être communiqué à la société \u{fffd} et café"
        );
    }

    #[test]
    fn plain_utf8_and_ascii_need_no_sniffing() {
        assert!(!needs_sniffing(b"plain ASCII text"));
        assert!(!needs_sniffing("déjà vu, 价格".as_bytes()));
        // An ESC that starts no ISO-2022 designation.
        assert!(!needs_sniffing(b"colour \x1b[31mred\x1b[0m"));
    }

    #[test]
    fn weak_labels() {
        for weak in [
            None,
            Some("us-ascii"),
            Some("\"UTF-8\""),
            Some("unknown-8bit"),
            Some("x-no-such-charset"),
        ] {
            assert!(label_is_weak(weak), "{weak:?}");
        }
        for strong in ["iso-8859-1", "Big5", "gb2312", "Shift_JIS", "koi8-r"] {
            assert!(!label_is_weak(Some(strong)), "{strong}");
            assert!(!label_is_ascii(Some(strong)), "{strong}");
        }
        assert!(
            label_is_ascii(Some("\"US-ASCII\"")) && !label_is_ascii(Some("utf-8")) && !label_is_ascii(None)
        );
    }

    #[test]
    fn meta_charset_of_html() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\"></head>", Some("gb2312")),
            (b"<HTML><META CHARSET='Big5'>", Some("Big5")),
            (b"<meta charset = euc-kr >", Some("euc-kr")),
            (b"<meta name=\"generator\" content=\"x\"><p>charset=koi8-r in the text</p>", None),
            (b"<p>no meta at all</p>", None),
            // No space after the semicolon, and 8-bit text before the tag.
            (b"\xc4\xe3\xba\xc3<meta http-equiv=Content-Type content=\"text/html;charset=GBK\">", Some("GBK")),
        ];
        for (html, want) in cases {
            assert_eq!(
                html_meta_charset(html).as_deref(),
                *want,
                "{}",
                String::from_utf8_lossy(html)
            );
        }
    }
}
