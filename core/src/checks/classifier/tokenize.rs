//! The classifier's features: one function, shared by the training tool
//! (`tools/train`) and the check, so a model always sees at check time the
//! very tokens it was trained on. [`TOKENIZER_VERSION`] is written into
//! every model file; a pack whose model was trained with another version
//! does not compile.
//!
//! A feature is a short string with a prefix naming where it comes from:
//!
//! | prefix   | source |
//! |----------|--------|
//! | (none)   | a word of the visible text (text parts, HTML rendered) |
//! | `b:`     | two consecutive words of the visible text |
//! | `s:`     | a word of the Subject; `s!…` shapes of the Subject |
//! | `f:`     | From: display-name words, domain, address shapes |
//! | `x:`     | words of mailer and MIME header fields |
//! | `m:`     | MIME structure: part types, encodings, charsets |
//! | `t:`     | HTML tags and attributes |
//! | `u:`     | link hosts, their organisations and TLDs, URL shapes |
//! | `r:`     | recipients: count and shape of To/Cc |
//! | `o:`     | obfuscation: digits in words, spaced letters, long words |
//! | `c:`     | two consecutive Han, kana or Hangul characters |
//! | `l:`     | writing systems of the visible text |
//!
//! Two kinds of evidence are left out because the training ham (mailing
//! list traffic) does not represent legitimate mail in them, so a model
//! would learn the register of the training ham rather than spam:
//! function words ([`STOPWORDS`]: `your`, `our`, `will`, …), which mark
//! commercial or transactional writing as much as spam, and HTML layout
//! (which tags, colours and fonts a message uses, whether it is HTML at
//! all, also as the words of its Content-Type), which newsletters share
//! with spam. Hiding tricks in HTML (text split by comments, tiny or white
//! text) are kept.
//!
//! Header fields that describe the path a message took to the mailbox
//! (Received, Delivered-To, Return-Path, fetchmail and spam-filter marks)
//! and mailing-list plumbing (List-*, Sender, Precedence, …) are left out on
//! purpose: they say how one site collected its mail, not what the mail is,
//! and a model that learnt them would judge the collector, not the message.
//!
//! For the same reason there are no features for which header fields a
//! message has, nor for the shape of its Message-ID (tokenizer version 3
//! had both). They mark the software and site a message came from, and
//! grouped cross-validation on the training data showed it: when each ham
//! source (a mailing list, or a feed) is scored by a model trained without
//! any of it, 116 of 2500 training ham were flagged at p >= 0.9 with them
//! and 15 without (`mailward-train --group-cv 20 --drop h,i`), for the same
//! spam recall (92.6 % and 92.0 %). A model that knows a source's headers
//! judges new sources by them.

use crate::checks::scripts;
use crate::domain;
use crate::message::Message;
use mail_parser::MimeHeaders;

/// Version of the feature set; a model trained with another version does
/// not load. Version 5: the visible text and the Subject of mail that does
/// not say its charset are decoded in the charset they are written in
/// (`message::charset`), where version 4 saw replacement characters or
/// Latin-1 mojibake.
pub const TOKENIZER_VERSION: u32 = 5;

/// Words shorter than this (in characters) are skipped.
const MIN_WORD: usize = 3;
/// Words longer than this become an `o:long:` feature.
const MAX_WORD: usize = 24;
/// Most visible-text bytes tokenized.
const MAX_TEXT: usize = 64 * 1024;
/// Most HTML bytes scanned for tags.
const MAX_HTML: usize = 128 * 1024;

/// English function words: never features on their own nor in pairs.
pub const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// A word of at most 15 bytes as one integer (its bytes, and its length in
/// the top byte).
const fn word_key(w: &[u8]) -> u128 {
    let mut k = 0u128;
    let mut i = 0;
    while i < w.len() {
        k = (k << 8) | w[i] as u128;
        i += 1;
    }
    k | ((w.len() as u128) << 120)
}

/// [`STOPWORDS`] as sorted [`word_key`]s: a word is looked up with integer
/// comparisons instead of string ones (it is asked for every word).
const STOPWORD_KEYS: [u128; STOPWORDS.len()] = {
    let mut keys = [0u128; STOPWORDS.len()];
    let mut i = 0;
    while i < keys.len() {
        assert!(STOPWORDS[i].len() <= 15, "stopwords are short");
        keys[i] = word_key(STOPWORDS[i].as_bytes());
        // Insertion sort: const evaluation has no slice sort.
        let mut j = i;
        while j > 0 && keys[j - 1] > keys[j] {
            let t = keys[j - 1];
            keys[j - 1] = keys[j];
            keys[j] = t;
            j -= 1;
        }
        i += 1;
    }
    keys
};

fn is_stopword(lower: &str) -> bool {
    lower.len() <= 15 && STOPWORD_KEYS.binary_search(&word_key(lower.as_bytes())).is_ok()
}

/// Header fields whose presence or content is not used (lower-case).
pub const IGNORED_HEADERS: &[&str] = &[
    // Transport and local delivery.
    "received",
    "delivered-to",
    "return-path",
    "x-original-to",
    "envelope-to",
    "x-envelope-from",
    "x-envelope-to",
    "x-rcpt-to",
    "x-uidl",
    "x-uid",
    "status",
    "x-status",
    "x-keywords",
    "content-length",
    "lines",
    "x-original-date",
    "date",
    "x-authentication-warning",
    "x-virus-scanned",
    "x-spam-status",
    "x-spam-level",
    "x-spam-flag",
    "x-spam-checker-version",
    "x-spam-report",
    "x-spam-score",
    "x-spam",
    // Mailing-list plumbing.
    "list-id",
    "list-help",
    "list-post",
    "list-subscribe",
    "list-unsubscribe",
    "list-archive",
    "list-owner",
    "list-software",
    "list-unsubscribe-post",
    "sender",
    "errors-to",
    "precedence",
    "x-beenthere",
    "x-mailman-version",
    "x-loop",
    "mailing-list",
    "x-mailing-list",
    "x-list",
    "x-ml-name",
    "x-ml-count",
    "x-sequence-number",
    "x-egroups-return",
    "x-yahoo-profile",
    "x-egroups-msg-info",
    "x-apparently-to",
    "resent-from",
    "resent-to",
    "resent-date",
    "resent-message-id",
    "resent-sender",
];

/// Header fields whose words become `x:` features.
const WORD_HEADERS: &[&str] = &[
    "x-mailer",
    "user-agent",
    "x-priority",
    "x-msmail-priority",
    "x-mimeole",
    "importance",
    "content-transfer-encoding",
    "mime-version",
    "organization",
];

/// The feature strings of `msg`, in a fixed order, possibly repeated;
/// `emit` is called once per feature occurrence.
pub fn features(msg: &Message<'_>, emit: &mut impl FnMut(&str)) {
    let mut buf = String::with_capacity(64);
    let mut put = |parts: &[&str]| {
        buf.clear();
        for p in parts {
            buf.push_str(p);
        }
        emit(&buf);
    };
    header_features(msg, &mut put);
    subject_features(msg, &mut put);
    from_features(msg, &mut put);
    recipient_features(msg, &mut put);
    mime_features(msg, &mut put);
    link_features(msg, &mut put);
    text_features(msg.text(), &mut put);
}

/// ASCII bytes that are part of words: letters, digits and the marks
/// `' - $ ! . _ %` (a table: the word loop asks for every byte).
const WORD_BYTES: [bool; 128] = {
    let mut t = [false; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'\'' | b'-' | b'$' | b'!' | b'.' | b'_' | b'%');
        b += 1;
    }
    t
};

/// Calls `f` with each word of `text`: runs of letters, digits and the
/// marks `' - $ ! . _ %` inside, with punctuation trimmed at the ends.
fn for_each_word(text: &str, f: &mut impl FnMut(&str)) {
    let word_byte = |b: u8| WORD_BYTES[usize::from(b)];
    let trimmed = |b: u8| matches!(b, b'\'' | b'-' | b'.' | b'_');
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Skip separators; a non-ASCII character is decoded to decide.
        let start = loop {
            match bytes.get(i) {
                None => return,
                Some(&b) if b < 0x80 => {
                    if word_byte(b) {
                        break i;
                    }
                    i += 1;
                }
                Some(_) => {
                    let c = text[i..].chars().next().unwrap_or(' ');
                    if c.is_alphanumeric() {
                        break i;
                    }
                    i += c.len_utf8();
                }
            }
        };
        // The word runs to the next separator.
        while let Some(&b) = bytes.get(i) {
            if b < 0x80 {
                if !word_byte(b) {
                    break;
                }
                i += 1;
            } else {
                let c = text[i..].chars().next().unwrap_or(' ');
                if !c.is_alphanumeric() {
                    break;
                }
                i += c.len_utf8();
            }
        }
        // Trim punctuation at the ends (all ASCII, so byte offsets are
        // character boundaries).
        let mut a = start;
        let mut z = i;
        while a < z && trimmed(bytes[a]) {
            a += 1;
        }
        while z > a && trimmed(bytes[z - 1]) {
            z -= 1;
        }
        while a < z && bytes[a] == b'!' {
            a += 1;
        }
        if a < z {
            f(&text[a..z]);
        }
    }
}

/// A size bucket: 0, 1, 2, 3-4, 5-8, 9-16, …
fn bucket(n: usize) -> &'static str {
    match n {
        0 => "0",
        1 => "1",
        2 => "2",
        3..=4 => "3-4",
        5..=8 => "5-8",
        9..=16 => "9-16",
        17..=32 => "17-32",
        33..=64 => "33-64",
        65..=128 => "65-128",
        _ => "129+",
    }
}

/// The shape of a word: digits become `9`, letters `a`, runs collapsed.
fn shape(w: &str) -> String {
    let mut out = String::new();
    for c in w.chars() {
        let k = if c.is_ascii_digit() {
            '9'
        } else if c.is_alphabetic() {
            'a'
        } else {
            c
        };
        if !out.ends_with(k) {
            out.push(k);
        }
    }
    out
}

/// Han, kana and Hangul: scripts written without spaces between words.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF | 0x3040..=0x30FF | 0x3130..=0x318F | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF66..=0xFF9F)
}

/// Most CJK character pairs taken from one word.
const MAX_CJK_PAIRS: usize = 64;

/// A run of CJK text has no spaces, so its words are its character pairs
/// (`c:` features); a tokenizer that cut it at spaces would see one long
/// word per sentence.
fn cjk_features(w: &str, prefix: &str, put: &mut impl FnMut(&[&str])) {
    let mut prev: Option<char> = None;
    let mut pair = String::with_capacity(8);
    let mut n = 0;
    for c in w.chars() {
        if !is_cjk(c) {
            prev = None;
            continue;
        }
        if let Some(p) = prev {
            pair.clear();
            pair.push(p);
            pair.push(c);
            put(&[prefix, "c:", &pair]);
            n += 1;
            if n >= MAX_CJK_PAIRS {
                return;
            }
        }
        prev = Some(c);
    }
}

/// Letter counts of a word ([`ascii_profile`] counts them on bytes when it
/// is ASCII).
#[derive(Debug, PartialEq)]
struct LetterStats {
    /// Alphabetic characters.
    letters: usize,
    /// ASCII digits.
    digits: usize,
    /// No alphabetic character is other than upper-case.
    all_upper: bool,
}

impl LetterStats {
    fn of_chars(w: &str) -> LetterStats {
        LetterStats {
            letters: w.chars().filter(|c| c.is_alphabetic()).count(),
            digits: w.chars().filter(|c| c.is_ascii_digit()).count(),
            all_upper: w.chars().all(|c| !c.is_alphabetic() || c.is_uppercase()),
        }
    }
}

/// One pass over an ASCII word: its letter counts, whether it is a number
/// (digits, `.` and `,` only) and whether it has capitals.
fn ascii_profile(w: &[u8]) -> (LetterStats, bool, bool) {
    let (mut letters, mut digits) = (0, 0);
    let (mut lower, mut upper, mut numeric) = (false, false, true);
    for &b in w {
        match b {
            b'a'..=b'z' => (letters, lower, numeric) = (letters + 1, true, false),
            b'A'..=b'Z' => (letters, upper, numeric) = (letters + 1, true, false),
            b'0'..=b'9' => digits += 1,
            b'.' | b',' => {}
            _ => numeric = false,
        }
    }
    let stats = LetterStats {
        letters,
        digits,
        all_upper: !lower,
    };
    (stats, numeric, upper)
}

/// Whether `w` has letters and all of them are capitals (one pass when it
/// is ASCII).
fn is_caps_word(w: &str) -> bool {
    if w.is_ascii() {
        let (stats, _, upper) = ascii_profile(w.as_bytes());
        upper && stats.all_upper
    } else {
        let st = LetterStats::of_chars(w);
        st.all_upper && st.letters > 0
    }
}

/// Emits the features of one word; returns its lower-case form when it is
/// a content word that can be half of a word pair (`b:`): 3 to 24
/// characters with a letter, not CJK, not a stopword. The lower-case form
/// is `w` itself or, when `w` has capitals or is not ASCII, written into
/// `scratch`.
///
/// An ASCII word (most are) is read once for everything the features
/// need: its letters, digits, case and whether it is a number.
fn word_feature<'a>(
    w: &'a str,
    prefix: &str,
    put: &mut impl FnMut(&[&str]),
    scratch: &'a mut String,
) -> Option<&'a str> {
    let ascii = w.is_ascii();
    if !ascii && w.chars().any(is_cjk) {
        cjk_features(w, prefix, put);
        return None;
    }
    let len = if ascii { w.len() } else { w.chars().count() };
    if len > MAX_WORD {
        let head: String = w.chars().take(6).collect::<String>().to_lowercase();
        put(&[prefix, "o:long:", &head]);
        return None;
    }
    if len < MIN_WORD && !w.starts_with('$') {
        return None;
    }
    let (stats, numeric, capitals) = if ascii {
        ascii_profile(w.as_bytes())
    } else {
        let numeric = w.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',');
        // Not ASCII: lower-cased by Unicode's rules, into `scratch`.
        (LetterStats::of_chars(w), numeric, true)
    };
    if numeric {
        put(&[prefix, "o:num:", bucket(len)]);
        return None;
    }
    if w.starts_with('$') && w[1..].chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',') {
        put(&[prefix, "o:money"]);
        return None;
    }
    let lower: &str = if !capitals {
        w
    } else if ascii {
        scratch.clear();
        scratch.push_str(w);
        scratch.make_ascii_lowercase();
        scratch
    } else {
        *scratch = w.to_lowercase();
        scratch
    };
    if is_stopword(lower) {
        return None;
    }
    let LetterStats {
        letters,
        digits,
        all_upper,
    } = stats;
    if letters > 0 && digits > 0 {
        put(&[prefix, "o:mixed:", &shape(w)]);
    }
    if letters >= 4 && all_upper {
        put(&[prefix, "o:caps"]);
    }
    put(&[prefix, lower]);
    (len >= MIN_WORD && letters > 0).then_some(lower)
}

fn text_features(text: &str, put: &mut impl FnMut(&[&str])) {
    let mut end = text.len().min(MAX_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text[..end];
    let mut prev = String::new();
    let mut scratch = String::new();
    let mut singles = 0usize;
    let mut spaced = false;
    let mut words = 0usize;
    let mut caps_words = 0usize;
    for_each_word(text, &mut |w| {
        words += 1;
        let single = match w.as_bytes() {
            [b] => b.is_ascii_alphabetic(),
            b if b.len() <= 4 && !b.is_ascii() => {
                let mut cs = w.chars();
                matches!((cs.next(), cs.next()), (Some(c), None) if c.is_alphabetic())
            }
            _ => false,
        };
        if single {
            singles += 1;
            if singles >= 4 {
                spaced = true;
            }
        } else {
            singles = 0;
        }
        if w.len() >= 4 && is_caps_word(w) {
            caps_words += 1;
        }
        if let Some(lower) = word_feature(w, "", put, &mut scratch) {
            if !prev.is_empty() {
                put(&["b:", &prev, " ", lower]);
            }
            prev.clear();
            prev.push_str(lower);
        } else {
            prev.clear();
        }
    });
    if spaced {
        put(&["o:spaced-letters"]);
    }
    script_features(text, put);
    put(&["o:words:", bucket(words / 8)]);
    if words >= 20 {
        let pct = caps_words * 100 / words;
        put(&[
            "o:caps-share:",
            match pct {
                0..=4 => "low",
                5..=19 => "some",
                20..=49 => "high",
                _ => "most",
            },
        ]);
    }
}

/// The writing systems of the visible text (`l:` features): each that
/// has at least 10 letters and a tenth of them (the bounds of
/// [`scripts::TEXT_MIN_LETTERS`], shared with the `ok-scripts` check).
fn script_features(text: &str, put: &mut impl FnMut(&[&str])) {
    let counts = scripts::count(text);
    for i in scripts::present(&counts, scripts::TEXT_MIN_LETTERS, scripts::TEXT_SHARE) {
        put(&["l:", scripts::SCRIPTS[i]]);
    }
}

fn subject_features(msg: &Message<'_>, put: &mut impl FnMut(&[&str])) {
    let Some(subject) = msg.subject() else {
        put(&["s!none"]);
        return;
    };
    let s = subject.trim();
    if s.is_empty() {
        put(&["s!empty"]);
        return;
    }
    let lower = s.to_lowercase();
    if lower.starts_with("re:") || lower.starts_with("re ") {
        put(&["s!re"]);
    }
    if lower.starts_with("fw:") || lower.starts_with("fwd:") {
        put(&["s!fwd"]);
    }
    if s.contains('!') {
        put(&["s!bang"]);
    }
    if s.contains('$') {
        put(&["s!dollar"]);
    }
    let letters: Vec<char> = s.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() >= 8 && letters.iter().all(|c| c.is_uppercase()) {
        put(&["s!caps"]);
    }
    if subject.len() > s.len() + 3 || s.contains("   ") {
        put(&["s!padded"]);
    }
    if !s.is_ascii() {
        put(&["s!8bit"]);
    }
    if s.starts_with('[') {
        put(&["s!tag"]);
    }
    let mut scratch = String::new();
    for_each_word(s, &mut |w| {
        word_feature(w, "s:", put, &mut scratch);
    });
}

fn from_features(msg: &Message<'_>, put: &mut impl FnMut(&[&str])) {
    let Some(from) = msg.from() else {
        put(&["f!none"]);
        return;
    };
    match &from.name {
        None => put(&["f!no-name"]),
        Some(name) => {
            if name.contains('@') {
                put(&["f!name-address"]);
            }
            if !name.is_ascii() {
                put(&["f!name-8bit"]);
            }
            let mut scratch = String::new();
            for_each_word(name, &mut |w| {
                word_feature(w, "f:", put, &mut scratch);
            });
        }
    }
    let address = from.address.to_lowercase();
    let Some((local, dom)) = address.rsplit_once('@') else {
        put(&["f!bad-address"]);
        return;
    };
    let digits = local.chars().filter(char::is_ascii_digit).count();
    put(&["f!local-digits:", bucket(digits)]);
    put(&["f!local-len:", bucket(local.len() / 2)]);
    let dom = domain::normalise(dom);
    put(&["f!org:", domain::registrable(&dom)]);
    put(&["f!tld:", domain::tld(&dom)]);
    if let Some(name) = &from.name
        && name.to_lowercase().contains(local)
        && local.len() >= 3
    {
        put(&["f!name-is-local"]);
    }
    let reply_to = msg.mailboxes("Reply-To");
    if let Some(r) = reply_to.first() {
        match r.domain() {
            Some(rd) if domain::same_organisation(&rd, &dom) => put(&["f!reply-to-same-org"]),
            Some(_) => put(&["f!reply-to-other-org"]),
            None => put(&["f!reply-to-bad"]),
        }
    }
}

fn recipient_features(msg: &Message<'_>, put: &mut impl FnMut(&[&str])) {
    let to = msg.mailboxes("To");
    let cc = msg.mailboxes("Cc");
    put(&["r:to:", bucket(to.len())]);
    if !cc.is_empty() {
        put(&["r:cc:", bucket(cc.len())]);
    }
    let raw_to = msg.header_text("To").unwrap_or_default().to_lowercase();
    if raw_to.contains("undisclosed") || raw_to.trim().ends_with(":;") {
        put(&["r:undisclosed"]);
    }
    if let (Some(f), Some(t)) = (msg.from(), to.first())
        && f.address.eq_ignore_ascii_case(&t.address)
    {
        put(&["r:to-is-from"]);
    }
}

fn header_features(msg: &Message<'_>, put: &mut impl FnMut(&[&str])) {
    // Only the fields of WORD_HEADERS give features (none of them is an
    // ignored one: see the test `word_headers_are_not_ignored_ones`).
    for h in msg.headers() {
        if let Some(name) = WORD_HEADERS.iter().find(|w| w.eq_ignore_ascii_case(h.name)) {
            let value = msg.header_text_of(h);
            let value: String = value.chars().take(200).collect();
            for_each_word(&value, &mut |w| {
                let w = w.to_lowercase();
                let w = if w.chars().count() > MAX_WORD {
                    w.chars().take(8).collect()
                } else {
                    w
                };
                put(&["x:", name, ":", &w]);
            });
        }
    }
}

fn mime_features(msg: &Message<'_>, put: &mut impl FnMut(&[&str])) {
    let Some(parsed) = msg.parsed() else {
        put(&["m!unparsed"]);
        return;
    };
    put(&["m!parts:", bucket(parsed.parts.len())]);
    for part in parsed.parts.iter().take(64) {
        let (ctype, sub, charset) = match part.content_type() {
            Some(ct) => (
                ct.ctype().to_ascii_lowercase(),
                ct.subtype().unwrap_or("").to_ascii_lowercase(),
                ct.attribute("charset").map(str::to_ascii_lowercase),
            ),
            None => ("text".to_string(), "plain".to_string(), None),
        };
        if ctype != "text" && ctype != "multipart" {
            put(&["m:", &ctype, "/", &sub]);
        }
        if let Some(cs) = charset {
            put(&[
                "m:charset:",
                &cs.trim_matches('"').chars().take(24).collect::<String>(),
            ]);
        }
        match part.encoding {
            mail_parser::Encoding::Base64 => put(&["m:enc:base64:", &ctype]),
            mail_parser::Encoding::QuotedPrintable => put(&["m:enc:qp"]),
            mail_parser::Encoding::None => {}
        }
        match &part.body {
            mail_parser::PartType::Text(_) => {}
            mail_parser::PartType::Html(h) => html_features(h, put),
            mail_parser::PartType::Binary(b) | mail_parser::PartType::InlineBinary(b) => {
                put(&["m:binary:", bucket(b.len() / 1024)]);
            }
            mail_parser::PartType::Message(_) => put(&["m!attached-message"]),
            mail_parser::PartType::Multipart(_) => {}
        }
        if part.is_encoding_problem {
            put(&["m!encoding-problem"]);
        }
    }
}

/// Tricks that hide or split text in an HTML part (not its layout).
fn html_features(html: &str, put: &mut impl FnMut(&[&str])) {
    let mut end = html.len().min(MAX_HTML);
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let bytes = &html.as_bytes()[..end];
    let mut pos = 0;
    while let Some(lt) = bytes[pos..].iter().position(|&b| b == b'<').map(|i| pos + i) {
        let Some(gt) = bytes[lt + 1..]
            .iter()
            .position(|&b| b == b'>')
            .map(|i| lt + 1 + i)
        else {
            break;
        };
        let inner = &html[lt + 1..gt];
        pos = gt + 1;
        if let Some(comment) = inner.strip_prefix("!--") {
            // A comment between two letters splits a word for filters.
            let before = bytes[..lt].last().is_some_and(u8::is_ascii_alphabetic);
            let after = bytes.get(gt + 1).is_some_and(u8::is_ascii_alphabetic);
            if before && after && comment.len() < 40 {
                put(&["t!comment-in-word"]);
            }
            continue;
        }
        let name: String = inner
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .take(8)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if name == "font" {
            let attrs = inner.to_ascii_lowercase();
            if attrs.contains("size")
                && (attrs.contains("=\"1\"") || attrs.contains("=1") || attrs.contains("=\"-"))
            {
                put(&["t!tiny-font"]);
            }
            if attrs.contains("#ffffff") || attrs.contains("=white") || attrs.contains("\"white\"") {
                put(&["t!white-font"]);
            }
        }
    }
}

fn link_features(msg: &Message<'_>, put: &mut impl FnMut(&[&str])) {
    let links = msg.links();
    put(&["u!links:", bucket(links.len())]);
    for link in links.iter().take(64) {
        let Some(url) = crate::checks::urls::Url::parse(&link.href) else {
            if link.href.to_ascii_lowercase().starts_with("mailto:") {
                put(&["u!mailto"]);
            }
            continue;
        };
        let host = &url.host;
        if domain::is_ip_literal(host) {
            put(&["u!ip"]);
        } else {
            put(&["u:", domain::registrable(host)]);
            put(&["u!tld:", domain::tld(host)]);
        }
        if url.userinfo.is_some() {
            put(&["u!userinfo"]);
        }
        if url.port.is_some() {
            put(&["u!port"]);
        }
        let path = url.path.to_ascii_lowercase();
        for_each_word(&path, &mut |w| {
            if (MIN_WORD..=16).contains(&w.len()) && w.chars().all(|c| c.is_ascii_alphabetic()) {
                put(&["u:path:", w]);
            }
        });
        if !link.text.is_empty() {
            let text = link.text.to_lowercase();
            if text.contains("click") || text.contains("here") {
                put(&["u!click-here"]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feats(raw: &[u8]) -> Vec<String> {
        let m = Message::parse(raw);
        let mut v = Vec::new();
        features(&m, &mut |f| v.push(f.to_string()));
        v
    }

    #[test]
    fn cjk_text_becomes_character_pairs_and_a_script() {
        let f = feats(
            "Subject: =?UTF-8?B?5YWN6LS55LyY5oOg?=\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             \u{6b61}\u{8fce}\u{5149}\u{81e8}\u{672c}\u{516c}\u{53f8}\u{7db2}\u{7ad9}\u{3002}\
             \u{6b61}\u{8fce}\u{5149}\u{81e8} hello there\r\n"
                .as_bytes(),
        );
        for want in [
            "c:\u{6b61}\u{8fce}",
            "c:\u{8fce}\u{5149}",
            "c:\u{7db2}\u{7ad9}",
            "s:c:\u{514d}\u{8d39}",
            "l:han",
        ] {
            assert!(f.iter().any(|x| x == want), "{want} missing from {f:?}");
        }
        assert!(
            !f.iter().any(|x| x.starts_with("o:long:")),
            "a CJK sentence is not one long word: {f:?}"
        );
        assert!(
            !f.iter()
                .any(|x| x.starts_with("b:") && x.chars().any(super::is_cjk)),
            "CJK runs are not words of word pairs: {f:?}"
        );
        // Latin text alone names only its own script.
        let f = feats(b"Subject: hi\r\n\r\nPlain English words, a dozen or more of them here.\r\n");
        assert!(
            f.iter().any(|x| x == "l:latin") && !f.iter().any(|x| x == "l:han"),
            "{f:?}"
        );
    }

    /// The header fields that give words are none of the fields left out
    /// on purpose (transport, delivery, list plumbing, spam-filter marks).
    #[test]
    fn word_headers_are_not_ignored_ones() {
        for w in WORD_HEADERS {
            assert_eq!(*w, w.to_ascii_lowercase());
            let ignored = IGNORED_HEADERS.contains(w)
                || ["x-spam", "list-", "x-mailman", "x-egroups", "x-yahoo", "x-ml-"]
                    .iter()
                    .any(|p| w.starts_with(p));
            assert!(!ignored, "{w}");
        }
    }

    #[test]
    fn stopword_keys_find_every_stopword_and_nothing_else() {
        for w in STOPWORDS {
            assert!(super::is_stopword(w), "{w}");
        }
        for w in [
            "",
            "aa",
            "abouts",
            "yourselvesx",
            "free",
            "viagra",
            "ours.",
            "thei",
            "a-very-long-word-indeed",
        ] {
            assert!(!super::is_stopword(w), "{w}");
        }
    }

    /// `for_each_word` scans bytes with a fast path for ASCII; it must cut
    /// exactly where the plain character-level definition does.
    #[test]
    fn words_split_like_the_character_definition() {
        fn reference(text: &str) -> Vec<&str> {
            let word_char =
                |c: char| c.is_alphanumeric() || matches!(c, '\'' | '-' | '$' | '!' | '.' | '_' | '%');
            text.split(|c: char| !word_char(c))
                .map(|raw| raw.trim_matches(|c: char| matches!(c, '\'' | '-' | '.' | '_')))
                .map(|w| w.trim_start_matches('!'))
                .filter(|w| !w.is_empty())
                .collect()
        }
        for text in [
            "Hello, world! It's a $100 deal -- 50% off... e-mail us_now.",
            "!!!wow!!! --a-- ._'x'_. !'!a !.!b ... '' - !",
            "déjà-vu naïve Ωμέγα\u{a0}Straße l'été, ʻokina",
            "e\u{301}cole x\u{200b}y 中文字符 ＦＵＬＬ－ｗｉｄｔｈ ١٢٣ ½ ²",
            "tab\tsep\r\nlines\u{2028}para \u{1F600}emoji\u{1F600} ",
            "",
        ] {
            let mut got = Vec::new();
            for_each_word(text, &mut |w| got.push(w.to_string()));
            assert_eq!(got, reference(text), "{text:?}");
        }
    }

    /// The one-pass ASCII profile must agree with the character-level
    /// definitions it replaces.
    #[test]
    fn letter_stats_on_bytes_agree_with_characters() {
        let ascii = [
            "abc", "ABC", "A1B2", "MONEY$$$", "x-Ray_9", "123", "1,234.50", "12a", ".5,", "!!!", "NoW",
            "$19.99", "",
        ];
        for w in ascii {
            let (stats, numeric, capitals) = ascii_profile(w.as_bytes());
            assert_eq!(stats, LetterStats::of_chars(w), "{w}");
            let chars_numeric = w.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',');
            assert_eq!(numeric, chars_numeric, "{w}");
            assert_eq!(capitals, w.chars().any(|c| c.is_uppercase()), "{w}");
            let st = LetterStats::of_chars(w);
            assert_eq!(is_caps_word(w), st.all_upper && st.letters > 0, "{w}");
        }
        assert_eq!(
            ascii_profile(b"A1B2c").0,
            LetterStats {
                letters: 3,
                digits: 2,
                all_upper: false
            }
        );
        assert!(LetterStats::of_chars("ÉTÉ2").all_upper && is_caps_word("ÉTÉ2"));
        assert!(!LetterStats::of_chars("Été").all_upper && !is_caps_word("Été"));
    }

    #[test]
    fn words_subject_and_shapes() {
        let f = feats(
            b"From: \"Best Deals\" <deals123@cheap.example.co.uk>\r\nTo: undisclosed-recipients:;\r\n\
              Subject: FREE MONEY NOW!!!\r\nMessage-ID: <abc$def@mx>\r\nX-Mailer: Foo Mailer 5.0\r\n\
              Received: from x by y\r\n\r\nGet V1AGRA for $19.99 at http://1.2.3.4/buy now, free free! Your order\r\n",
        );
        for want in [
            "s:free",
            "s!caps",
            "s!bang",
            "f:deals",
            "f!org:example.co.uk",
            "f!local-digits:3-4",
            "r:undisclosed",
            "x:x-mailer:mailer",
            "o:mixed:a9a",
            "o:money",
            "u!ip",
            "free",
            "b:free free!",
        ] {
            assert!(f.iter().any(|x| x == want), "{want} missing from {f:?}");
        }
        assert!(
            !f.iter()
                .any(|x| x.starts_with("x:received") || x.starts_with("h:") || x.starts_with("i!")),
            "transport headers, header names and Message-ID shapes are not features: {f:?}"
        );
    }

    #[test]
    fn html_tags_and_comment_tricks() {
        let f = feats(
            b"Content-Type: text/html\r\n\r\n<html><font color=\"#FFFFFF\" size=1>V<!-- x -->iagra</font>\
              <a href=\"http://bank.example@evil.example/\">click here</a></html>",
        );
        for want in [
            "t!white-font",
            "t!tiny-font",
            "t!comment-in-word",
            "u!userinfo",
            "u!click-here",
        ] {
            assert!(f.iter().any(|x| x == want), "{want} missing from {f:?}");
        }
        for layout in ["t:font", "m:text/html", "your"] {
            assert!(!f.iter().any(|x| x == layout), "{layout} is not a feature: {f:?}");
        }
    }

    #[test]
    fn same_message_same_features() {
        let raw = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/seed/seed-phish.eml"
        ))
        .unwrap();
        assert_eq!(feats(&raw), feats(&raw));
        assert!(feats(&raw).len() > 100);
    }
}
