//! Visual skeletons of domain labels: every character that looks like an
//! ASCII letter or digit maps to it, and so do the multi-letter tricks
//! (`rn` → `m`, `vv` → `w`, `cl` → `d`), so two labels that look alike
//! have the same skeleton (in the spirit of Unicode TR 39's confusables,
//! restricted to what can appear in a host name).

/// Single characters and the ASCII letter they imitate.
/// (ASCII look-alikes — `0` for `o`, `1` and `i` for `l` — are in [`fold`].)
const CONFUSABLE: &[(char, char)] = &[
    // Cyrillic.
    ('а', 'a'),
    ('в', 'b'),
    ('ь', 'b'),
    ('с', 'c'),
    ('ԁ', 'd'),
    ('е', 'e'),
    ('ё', 'e'),
    ('ԍ', 'g'),
    ('һ', 'h'),
    ('і', 'l'),
    ('ї', 'l'),
    ('ӏ', 'l'),
    ('ј', 'j'),
    ('к', 'k'),
    ('м', 'm'),
    ('н', 'h'),
    ('о', 'o'),
    ('р', 'p'),
    ('ԛ', 'q'),
    ('г', 'r'),
    ('ѕ', 's'),
    ('т', 't'),
    ('ц', 'u'),
    ('ѵ', 'v'),
    ('ԝ', 'w'),
    ('х', 'x'),
    ('у', 'y'),
    ('ү', 'y'),
    // Greek.
    ('α', 'a'),
    ('β', 'b'),
    ('ε', 'e'),
    ('η', 'n'),
    ('ι', 'l'),
    ('κ', 'k'),
    ('ν', 'v'),
    ('ο', 'o'),
    ('ρ', 'p'),
    ('τ', 't'),
    ('υ', 'u'),
    ('χ', 'x'),
    ('ω', 'w'),
    // Latin letters with marks and small capitals (dnstwist's glyph table
    // and the common Latin-1 / Latin Extended letters).
    ('à', 'a'),
    ('á', 'a'),
    ('â', 'a'),
    ('ã', 'a'),
    ('ä', 'a'),
    ('å', 'a'),
    ('ā', 'a'),
    ('ă', 'a'),
    ('ą', 'a'),
    ('ǎ', 'a'),
    ('ȧ', 'a'),
    ('ạ', 'a'),
    ('ɑ', 'a'),
    ('ə', 'a'),
    ('ʙ', 'b'),
    ('ɓ', 'b'),
    ('ḃ', 'b'),
    ('ḅ', 'b'),
    ('ḇ', 'b'),
    ('ƅ', 'b'),
    ('ç', 'c'),
    ('ć', 'c'),
    ('ĉ', 'c'),
    ('ċ', 'c'),
    ('č', 'c'),
    ('ƈ', 'c'),
    ('ᴄ', 'c'),
    ('ď', 'd'),
    ('đ', 'd'),
    ('ɗ', 'd'),
    ('ɖ', 'd'),
    ('ḋ', 'd'),
    ('ḍ', 'd'),
    ('ḏ', 'd'),
    ('ḑ', 'd'),
    ('ḓ', 'd'),
    ('è', 'e'),
    ('é', 'e'),
    ('ê', 'e'),
    ('ë', 'e'),
    ('ē', 'e'),
    ('ĕ', 'e'),
    ('ė', 'e'),
    ('ę', 'e'),
    ('ě', 'e'),
    ('ȩ', 'e'),
    ('ɇ', 'e'),
    ('ḛ', 'e'),
    ('ẹ', 'e'),
    ('ƒ', 'f'),
    ('ḟ', 'f'),
    ('ĝ', 'g'),
    ('ğ', 'g'),
    ('ġ', 'g'),
    ('ģ', 'g'),
    ('ǥ', 'g'),
    ('ǧ', 'g'),
    ('ǵ', 'g'),
    ('ɡ', 'g'),
    ('ɢ', 'g'),
    ('ĥ', 'h'),
    ('ħ', 'h'),
    ('ȟ', 'h'),
    ('ɦ', 'h'),
    ('ḣ', 'h'),
    ('ḥ', 'h'),
    ('ḧ', 'h'),
    ('ḩ', 'h'),
    ('ḫ', 'h'),
    ('ẖ', 'h'),
    ('ⱨ', 'h'),
    ('ì', 'l'),
    ('í', 'l'),
    ('î', 'l'),
    ('ï', 'l'),
    ('ĩ', 'l'),
    ('ī', 'l'),
    ('ĭ', 'l'),
    ('į', 'l'),
    ('ı', 'l'),
    ('ǐ', 'l'),
    ('ȋ', 'l'),
    ('ɨ', 'l'),
    ('ɩ', 'l'),
    ('ɪ', 'l'),
    ('ỉ', 'l'),
    ('ị', 'l'),
    ('ĵ', 'j'),
    ('ǰ', 'j'),
    ('ɉ', 'j'),
    ('ʝ', 'j'),
    ('ķ', 'k'),
    ('ḳ', 'k'),
    ('ḵ', 'k'),
    ('ⱪ', 'k'),
    ('ᴋ', 'k'),
    ('ĺ', 'l'),
    ('ļ', 'l'),
    ('ľ', 'l'),
    ('ŀ', 'l'),
    ('ł', 'l'),
    ('ɫ', 'l'),
    ('ḿ', 'm'),
    ('ṁ', 'm'),
    ('ṃ', 'm'),
    ('ɱ', 'm'),
    ('ᴍ', 'm'),
    ('ñ', 'n'),
    ('ń', 'n'),
    ('ņ', 'n'),
    ('ň', 'n'),
    ('ǹ', 'n'),
    ('ṅ', 'n'),
    ('ṇ', 'n'),
    ('ṉ', 'n'),
    ('ꞑ', 'n'),
    ('ò', 'o'),
    ('ó', 'o'),
    ('ô', 'o'),
    ('õ', 'o'),
    ('ö', 'o'),
    ('ø', 'o'),
    ('ō', 'o'),
    ('ŏ', 'o'),
    ('ő', 'o'),
    ('ơ', 'o'),
    ('ȯ', 'o'),
    ('ọ', 'o'),
    ('ỏ', 'o'),
    ('ᴏ', 'o'),
    ('ƿ', 'p'),
    ('ƥ', 'p'),
    ('ṕ', 'p'),
    ('ṗ', 'p'),
    ('ʠ', 'q'),
    ('ŕ', 'r'),
    ('ŗ', 'r'),
    ('ř', 'r'),
    ('ȑ', 'r'),
    ('ȓ', 'r'),
    ('ɍ', 'r'),
    ('ɼ', 'r'),
    ('ɽ', 'r'),
    ('ɾ', 'r'),
    ('ʀ', 'r'),
    ('ṙ', 'r'),
    ('ṛ', 'r'),
    ('ṟ', 'r'),
    ('ś', 's'),
    ('ŝ', 's'),
    ('ş', 's'),
    ('š', 's'),
    ('ș', 's'),
    ('ʂ', 's'),
    ('ṡ', 's'),
    ('ṣ', 's'),
    ('ꜱ', 's'),
    ('ţ', 't'),
    ('ť', 't'),
    ('ŧ', 't'),
    ('ƫ', 't'),
    ('ț', 't'),
    ('ṫ', 't'),
    ('ṭ', 't'),
    ('ù', 'u'),
    ('ú', 'u'),
    ('û', 'u'),
    ('ü', 'u'),
    ('ũ', 'u'),
    ('ū', 'u'),
    ('ŭ', 'u'),
    ('ů', 'u'),
    ('ű', 'u'),
    ('ų', 'u'),
    ('ư', 'u'),
    ('ǔ', 'u'),
    ('ȕ', 'u'),
    ('ȗ', 'u'),
    ('ʉ', 'u'),
    ('ụ', 'u'),
    ('ᴜ', 'u'),
    ('ṽ', 'v'),
    ('ṿ', 'v'),
    ('ᶌ', 'v'),
    ('ⱱ', 'v'),
    ('ⱴ', 'v'),
    ('ᴠ', 'v'),
    ('ŵ', 'w'),
    ('ẁ', 'w'),
    ('ẃ', 'w'),
    ('ẅ', 'w'),
    ('ẇ', 'w'),
    ('ẉ', 'w'),
    ('ẘ', 'w'),
    ('ⱳ', 'w'),
    ('ᴡ', 'w'),
    ('ẋ', 'x'),
    ('ẍ', 'x'),
    ('ý', 'y'),
    ('ÿ', 'y'),
    ('ŷ', 'y'),
    ('ƴ', 'y'),
    ('ȳ', 'y'),
    ('ɏ', 'y'),
    ('ʏ', 'y'),
    ('ẏ', 'y'),
    ('ỵ', 'y'),
    ('ỿ', 'y'),
    ('ź', 'z'),
    ('ż', 'z'),
    ('ž', 'z'),
    ('ƶ', 'z'),
    ('ʐ', 'z'),
    ('ẓ', 'z'),
    ('ẕ', 'z'),
    ('ⱬ', 'z'),
    ('ᴢ', 'z'),
];

/// Letter pairs that read as one letter.
const PAIRS: &[(&str, char)] = &[("rn", 'm'), ("vv", 'w'), ("cl", 'd'), ("nn", 'm'), ("rr", 'm')];

/// The character `c` imitates (lower-case), or `c` itself.
pub fn fold(c: char) -> char {
    if c.is_ascii() {
        return match c.to_ascii_lowercase() {
            '0' => 'o',
            '1' | 'i' | '|' => 'l',
            other => other,
        };
    }
    let c = c.to_lowercase().next().unwrap_or(c);
    if let Some((_, a)) = CONFUSABLE.iter().find(|(k, _)| *k == c) {
        return *a;
    }
    match c {
        // Full-width ASCII (U+FF01–U+FF5E).
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xff01 + 0x21).map_or(c, fold),
        _ => c,
    }
}

/// The visual skeleton of a label: characters folded with [`fold`], then
/// letter pairs that read as one letter replaced.
pub fn skeleton(label: &str) -> String {
    let folded: String = label.chars().map(fold).collect();
    if !PAIRS.iter().any(|(p, _)| folded.contains(p)) {
        return folded;
    }
    let mut out = String::with_capacity(folded.len());
    let mut rest = folded.as_str();
    'outer: while !rest.is_empty() {
        for (p, c) in PAIRS {
            if let Some(r) = rest.strip_prefix(p) {
                out.push(*c);
                rest = r;
                continue 'outer;
            }
        }
        let ch = rest.chars().next().unwrap_or(' ');
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_no_duplicates_and_maps_to_ascii() {
        let mut seen = std::collections::BTreeSet::new();
        for (k, v) in CONFUSABLE {
            assert!(seen.insert(*k), "{k:?} listed twice");
            assert!(v.is_ascii_lowercase(), "{k:?} maps to {v:?}");
            assert!(!k.is_ascii(), "{k:?} is ASCII (fold handles those)");
        }
    }

    #[test]
    fn skeletons() {
        assert_eq!(skeleton("p\u{0430}yp\u{0430}l"), skeleton("paypal"));
        assert_eq!(skeleton("PAYPA1"), skeleton("paypal"));
        assert_eq!(skeleton("rnicrosoft"), skeleton("microsoft"));
        assert_eq!(skeleton("g\u{00f6}\u{00f6}gle"), skeleton("google"));
        assert_eq!(skeleton("\u{ff41}pple"), skeleton("apple"));
        assert_eq!(skeleton("vvells"), skeleton("wells"));
        assert_ne!(skeleton("paypal"), skeleton("paypai-x"));
    }
}
