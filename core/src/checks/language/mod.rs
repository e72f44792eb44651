//! Languages the site's readers do not read.
//!
//! The companion of [`super::scripts`] for text in Latin script, as
//! SpamAssassin's `ok_languages` (rule `UNWANTED_LANGUAGE_BODY`) is to its
//! `ok_locales`: the pack option `ok-languages` lists the languages the
//! site reads (ISO 639-1 codes of [`words::LANGUAGES`]), or `all`, the
//! default, in which case the check emits nothing.
//!
//! A language is recognised by its function words (articles, pronouns,
//! prepositions, auxiliaries: `scripts/gen-language-words.py` writes the
//! table), counted over the first [`MAX_WORDS`] words of the visible text
//! outside quoted lines (`> …`), so that a reply quoting a foreign mail is
//! judged by its own words. The check fires only on a clear case: at
//! least [`MIN_WORDS`] words, [`MIN_HITS`] function words of the language
//! and 15 % of the words, and twice the function words of any language
//! the site reads. On the training groups (`easy-ham-1`, `spam-1`) with
//! `ok-languages = "en"` that marks no ham and 9 spam (German, French,
//! Serbian and Turkish); an English mail with a long German signature
//! (easy-ham-1 01199: 8 English, 13 German function words in 69 words)
//! is what the share and the margin keep out.

mod words;

use super::reads::{Choice, Reads};
use super::{Context, Findings};
pub use words::LANGUAGES;
use words::{MAX_LEN, SLOTS, WORDS};

/// Symbols this check emits.
pub const SYMBOLS: &[&str] = &["TEXT_LANGUAGE_UNEXPECTED"];

/// The pack option naming the languages the site reads.
pub const OPTION: &str = "ok-languages";

/// Words read from a text.
pub const MAX_WORDS: usize = 400;
/// Words a text needs to be judged.
pub const MIN_WORDS: usize = 30;
/// Function words of the language a text needs to be judged.
pub const MIN_HITS: usize = 8;
/// The share of the words that are the language's function words, in
/// percent.
const MIN_SHARE_PERCENT: usize = 15;
/// How many times the function words of every language the site reads.
const MARGIN: usize = 2;

/// How the option `ok-languages` names the languages the site reads.
pub const CHOICE: Choice = Choice {
    option: OPTION,
    names: &LANGUAGES,
    one: "a language this pack tells apart",
    each: "language",
};

/// The languages `word` (lower case) is a function word of, a bit per
/// language of [`LANGUAGES`]; 0 for any other word.
fn languages_of(word: &str) -> u32 {
    // Longer than any function word: not one (most words are not).
    if word.len() > MAX_LEN {
        return 0;
    }
    let mut h: u32 = 0x811c_9dc5;
    for b in word.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let mut slot = h as usize % SLOTS.len();
    loop {
        match SLOTS[slot] {
            0 => return 0,
            i => {
                let (w, bits) = WORDS[usize::from(i) - 1];
                if w == word {
                    return bits;
                }
            }
        }
        slot = (slot + 1) % SLOTS.len();
    }
}

/// Function words of each of [`LANGUAGES`] among the first
/// [`MAX_WORDS`] words of `text` outside quoted lines, and the words read.
pub fn count(text: &str) -> ([usize; LANGUAGES.len()], usize) {
    let mut hits = [0usize; LANGUAGES.len()];
    let mut words = 0usize;
    let mut lower = String::new();
    'lines: for line in text.lines() {
        if line.trim_start().starts_with('>') {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find(char::is_alphabetic) {
            let tail = &rest[start..];
            let end = tail
                .find(|c: char| !(c.is_alphabetic() || c == '\'' || c == '\u{2019}'))
                .unwrap_or(tail.len());
            let word = &tail[..end];
            rest = &tail[end..];
            words += 1;
            // Lower-casing shrinks a letter to a third of its bytes at
            // most (the Kelvin sign, 3 bytes, becomes `k`): a longer word
            // cannot become a function word.
            let bits = if word.len() > 3 * MAX_LEN {
                0
            } else {
                lower.clear();
                if word.is_ascii() {
                    lower.push_str(word);
                    lower.make_ascii_lowercase();
                } else {
                    lower.extend(word.chars().flat_map(char::to_lowercase));
                }
                languages_of(&lower)
            };
            if bits != 0 {
                for (l, h) in hits.iter_mut().enumerate() {
                    *h += ((bits >> l) & 1) as usize;
                }
            }
            if words >= MAX_WORDS {
                break 'lines;
            }
        }
    }
    (hits, words)
}

/// The language `text` is clearly written in when the site does not read
/// it (see the module's documentation for "clearly").
pub fn unread(expected: Reads, text: &str) -> Option<&'static str> {
    let (hits, words) = count(text);
    let best = (0..LANGUAGES.len()).max_by_key(|&l| (hits[l], std::cmp::Reverse(l)))?;
    let read_max = (0..LANGUAGES.len())
        .filter(|&l| expected.reads(l))
        .map(|l| hits[l])
        .max()
        .unwrap_or(0);
    let clear = words >= MIN_WORDS
        && hits[best] >= MIN_HITS
        && hits[best] * 100 >= MIN_SHARE_PERCENT * words
        && hits[best] >= MARGIN * read_max;
    (clear && !expected.reads(best)).then_some(LANGUAGES[best])
}

/// Runs the check.
pub fn check(cx: &Context<'_>, findings: &mut Findings) {
    let expected = cx.config.languages;
    if expected.is_all() {
        return;
    }
    if let Some(language) = unread(expected, cx.message.text()) {
        findings.fire(cx.pack, "TEXT_LANGUAGE_UNEXPECTED", &[language]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{configure_with_options, run_with_options};

    #[test]
    fn every_function_word_is_found_and_other_words_are_not() {
        assert!(WORDS.len() < SLOTS.len() / 2, "keep the table at most half full");
        for (w, bits) in WORDS {
            assert_eq!(languages_of(w), *bits, "{w}");
            assert!(w.len() <= MAX_LEN, "{w}");
        }
        for w in [
            "",
            "mailbox",
            "thee",
            "ander",
            "dier",
            "xyzzy",
            "supercalifragilistic",
        ] {
            assert_eq!(languages_of(w), 0, "{w}");
        }
    }

    #[test]
    fn the_word_table_is_sorted_and_each_word_names_a_language() {
        for pair in WORDS.windows(2) {
            assert!(pair[0].0.as_bytes() < pair[1].0.as_bytes(), "{pair:?}");
        }
        for (w, bits) in WORDS {
            assert!(*bits != 0 && bits >> LANGUAGES.len() == 0, "{w}: {bits:#x}");
            assert_eq!(w.to_lowercase(), *w);
        }
    }

    #[test]
    fn the_option_names_languages_or_all() {
        let en = LANGUAGES.iter().position(|l| *l == "en").unwrap();
        let de = LANGUAGES.iter().position(|l| *l == "de").unwrap();
        assert!(CHOICE.parse("all").unwrap().is_all());
        let e = CHOICE.parse("EN, de").unwrap();
        assert!(e.reads(en) && e.reads(de) && !e.is_all());
        assert_eq!((0..LANGUAGES.len()).filter(|&l| e.reads(l)).count(), 2);
        for (value, part) in [
            ("en,xx", "\"xx\" is not a language"),
            ("", "is empty"),
            (", ", "is empty"),
        ] {
            let err = CHOICE.parse(value).unwrap_err();
            assert!(err.contains(part) && err.contains(OPTION), "{value:?}: {err}");
        }
        let err = configure_with_options(&[(OPTION, "english")]).unwrap_err();
        assert!(err.contains(OPTION) && err.contains("english"), "{err}");
    }

    const ENGLISH: &str = "Thanks for the patch. I have looked at it and I think it is fine, but \
        the tests should run on the old version as well before we merge it into the main branch. \
        Could you add a note to the change log about what it fixes? Then we can ship it next week.";
    const GERMAN: &str = "Wir freuen uns, Ihnen mitteilen zu können, dass unser neues Magazin ab \
        sofort im Handel ist. In dieser Ausgabe finden Sie wie immer viele Kontakte und Berichte, \
        die Sie nicht verpassen sollten. Wenn Sie noch kein Abonnent sind, können Sie sich hier \
        anmelden und erhalten die nächste Ausgabe kostenlos nach Hause.";
    const FRENCH: &str = "Nous avons le plaisir de vous présenter notre lettre d'information du \
        mois. Vous y trouverez les conseils de nos experts pour gérer votre patrimoine, ainsi que \
        les dernières nouvelles des marchés. Si vous ne souhaitez plus recevoir cette lettre, il \
        suffit de nous écrire.";

    #[test]
    fn clear_text_in_an_unread_language_is_named() {
        let en = CHOICE.parse("en").unwrap();
        let cases: &[(Reads, String, Option<&str>)] = &[
            (en, ENGLISH.to_string(), None),
            (en, GERMAN.to_string(), Some("de")),
            (en, FRENCH.to_string(), Some("fr")),
            (CHOICE.parse("en, de").unwrap(), GERMAN.to_string(), None),
            (CHOICE.parse("de").unwrap(), ENGLISH.to_string(), Some("en")),
            (Reads::default(), GERMAN.to_string(), None),
            // Quoted lines are the other writer's words.
            (
                en,
                format!("{ENGLISH}\n\n> {}", GERMAN.replace(". ", ".\n> ")),
                None,
            ),
            (
                en,
                format!("Yes, I agree.\n> {}", GERMAN.replace(". ", ".\n> ")),
                None,
            ),
            // Too few words to judge.
            (
                en,
                "Wir freuen uns, Ihnen mitteilen zu können, dass es da ist.".to_string(),
                None,
            ),
            // An English mail with a German signature: English enough.
            (
                en,
                format!("{ENGLISH}\n-- \nGut, er hat das in einen Zustand versetzt, aber nunja."),
                None,
            ),
        ];
        for (expected, text, want) in cases {
            assert_eq!(unread(*expected, text), *want, "{expected:?}\n{text}");
        }
    }

    #[test]
    fn words_are_counted_up_to_the_bound_and_apostrophes_stay_inside_words() {
        let (_, words) = count(&"word ".repeat(MAX_WORDS * 2));
        assert_eq!(words, MAX_WORDS);
        // "it's" is one word, not "it" and a Czech "s".
        let (hits, words) = count("it's d'accord l’école");
        assert_eq!(words, 3);
        assert_eq!(hits.iter().sum::<usize>(), 0, "{hits:?}");
    }

    #[test]
    fn the_check_reads_the_message_text_inbound() {
        let raw = format!(
            "From: news@example.de\r\nTo: b@example.org\r\nSubject: Neu\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{GERMAN}\r\n"
        );
        let fired = |options: &[(&str, &str)]| -> Vec<(String, Vec<String>)> {
            run_with_options(options, &raw)
                .symbols
                .into_iter()
                .filter(|s| s.name == "TEXT_LANGUAGE_UNEXPECTED")
                .map(|s| (s.name, s.options))
                .collect()
        };
        assert_eq!(
            fired(&[(OPTION, "en")]),
            [("TEXT_LANGUAGE_UNEXPECTED".to_string(), vec!["de".to_string()])]
        );
        assert!(fired(&[]).is_empty());
        assert!(fired(&[(OPTION, "en de")]).is_empty());
    }
}
