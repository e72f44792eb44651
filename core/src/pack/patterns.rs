//! Many patterns over one text, fast, with no per-message warm-up.
//!
//! Each pattern's required prefix literals are extracted at compile time
//! (every match starts with one of them). One Aho-Corasick automaton finds
//! every literal occurrence in a single pass; a pattern runs only where one
//! of its literals occurs, as an *anchored* search starting there, on a
//! fully determinized DFA (dense when small, sparse when large: see
//! [`SPARSE_ABOVE`]). Patterns without a usable literal set
//! run unanchored over the whole text, and a reverse DFA finds where their
//! match starts.
//!
//! Every automaton is built completely when the pack loads and is only
//! read afterwards. That matters inside the sandbox: each message gets a
//! fresh instance of the pre-initialised snapshot, so a lazily built
//! automaton (the `regex` crate's default) would be rebuilt — and its
//! memory rewritten — for every message. A pattern too large for a full
//! DFA falls back to the `regex` crate's engine and is reported by
//! [`PatternSet::lazy_patterns`].

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::Regex;
use regex_automata::dfa::{Automaton, StartKind, dense, sparse};
use regex_automata::{Anchored, HalfMatch, Input, MatchError};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Repetition};

/// Literals shorter than this (in characters) make a weak filter; such
/// patterns always run.
///
/// Two letters are enough: every occurrence of a short literal (`by`,
/// `do`) costs one anchored search that usually fails within a few bytes,
/// and [`MAX_STARTS`] bounds how many are tried, while a pattern without
/// literals is searched over the whole text. With 3, two body patterns of
/// the default pack (an optional `by` or `do` in front) ran over every
/// body; with 2 they are prefiltered, the sandboxed check got 6-14 %
/// faster on the SpamAssassin training groups, and its verdicts (symbols
/// and matched text) stayed identical on all 3000 messages.
const MIN_LITERAL: usize = 2;

/// Largest DFA (bytes, while determinizing) built for one pattern.
const DFA_SIZE_LIMIT: usize = 8 << 20;

/// Dense DFAs larger than this (bytes) are kept in sparse form.
///
/// A dense DFA reads one transition per byte; a sparse one searches the
/// state's byte ranges, so it is slower per byte but several times smaller.
/// Size matters in the sandbox: the automata live in every instance's
/// linear memory, and resetting an instance after a message walks the page
/// table of all of it. In the default pack 0.6.0 (before prefiltered
/// patterns got anchored-only DFAs) five automata were larger than this,
/// 10.0 MB dense and 2.7 MB sparse, and the instance's memory shrank from
/// 24.7 to 17.4 MiB. Then a lower threshold also turned mid-sized
/// patterns sparse that ran over most of every message: at 64 KiB the
/// native core checked 28 % fewer messages per second on the SpamAssassin
/// training groups, at 1 MiB 2-4 % fewer. Since prefiltered patterns run
/// their DFA only anchored at their literals' occurrences, a sparse DFA
/// reads a few bytes per occurrence, and 32 KiB (was 1 MiB) costs no
/// speed measurably (pack 0.15.0: native and sandbox rates within the
/// machine's noise in interleaved pairs) while the automata shrink from
/// 4.2 to 1.8 MB and the instance's memory from 12.4 to 10.2 MiB; the
/// reset after a message took less time in each of six interleaved pairs
/// (21-33 µs against 26-46 µs).
pub const SPARSE_ABOVE: usize = 32 << 10;

/// A fully built DFA, in the form its size calls for.
#[derive(Debug)]
enum Dfa {
    Dense(dense::DFA<Vec<u32>>),
    Sparse(sparse::DFA<Vec<u8>>),
}

impl Dfa {
    /// Keeps `dense` as it is when small, else converts it to sparse form
    /// (same states and transitions, so the same matches).
    fn new(dense: dense::DFA<Vec<u32>>, sparse_above: usize) -> Option<Dfa> {
        if dense.memory_usage() <= sparse_above {
            return Some(Dfa::Dense(dense));
        }
        dense.to_sparse().ok().map(Dfa::Sparse)
    }

    fn try_search_fwd(&self, input: &Input<'_>) -> Result<Option<HalfMatch>, MatchError> {
        match self {
            Dfa::Dense(d) => d.try_search_fwd(input),
            Dfa::Sparse(d) => d.try_search_fwd(input),
        }
    }

    fn try_search_rev(&self, input: &Input<'_>) -> Result<Option<HalfMatch>, MatchError> {
        match self {
            Dfa::Dense(d) => d.try_search_rev(input),
            Dfa::Sparse(d) => d.try_search_rev(input),
        }
    }

    fn memory_usage(&self) -> usize {
        match self {
            Dfa::Dense(d) => d.memory_usage(),
            Dfa::Sparse(d) => d.memory_usage(),
        }
    }

    #[cfg(test)]
    fn is_sparse(&self) -> bool {
        matches!(self, Dfa::Sparse(_))
    }
}

/// Most literal occurrences tried per pattern before one unanchored search
/// (on the regex crate: see [`Pattern::regex`]).
const MAX_STARTS: usize = 256;

/// One pattern of a set.
#[derive(Debug)]
struct Pattern {
    symbol: usize,
    /// The `regex` engine, kept where the DFA cannot do the job alone:
    /// patterns without a DFA, patterns without literals whose start the
    /// reverse DFA cannot find, and prefiltered patterns, whose DFA only
    /// runs anchored: for them it is the rare unanchored search (more than
    /// [`MAX_STARTS`] literal occurrences).
    regex: Option<Regex>,
    /// The full DFA, when the pattern fits the size limit; anchored only
    /// for a prefiltered pattern.
    dfa: Option<Dfa>,
    /// Whether the DFA has only anchored start states.
    anchored_only: bool,
    /// For a pattern without literals: the reversed pattern's DFA, run
    /// anchored backwards from a match's end to find its start.
    reverse: Option<Dfa>,
}

impl Pattern {
    /// The match starting exactly at `start`, if any.
    fn anchored_at(&self, text: &str, start: usize) -> Option<usize> {
        let dfa = self.dfa.as_ref()?;
        let input = Input::new(text).range(start..).anchored(Anchored::Yes);
        dfa.try_search_fwd(&input).ok().flatten().map(|m| m.offset())
    }

    /// The leftmost match in `text[from..]`, as (start, end).
    fn find_from(&self, text: &str, from: usize) -> Option<(usize, usize)> {
        if let Some(re) = &self.regex {
            return re.find_at(text, from).map(|m| (m.start(), m.end()));
        }
        // Without the regex crate, the pattern has an unanchored DFA and
        // the reverse one (see `PatternSet::build_with`).
        let (dfa, reverse) = (self.dfa.as_ref()?, self.reverse.as_ref()?);
        let end = dfa
            .try_search_fwd(&Input::new(text).range(from..))
            .ok()
            .flatten()?
            .offset();
        // As regex-automata's DFA regex does: the leftmost-first match
        // ending at `end` starts where the reversed pattern, anchored at
        // `end`, matches longest.
        let back = Input::new(text)
            .range(from..end)
            .anchored(Anchored::Yes)
            .earliest(false);
        let start = reverse.try_search_rev(&back).ok().flatten()?.offset();
        Some((start, end))
    }
}

/// The forward DFA. A prefiltered pattern only ever runs anchored at its
/// literals, so its DFA leaves out the unanchored start (the `.*?` prefix
/// that, with Unicode classes and case folding, made the default pack's
/// body automata about twice as large).
fn build_dfa(pattern: &str, sparse_above: usize, anchored_only: bool) -> Option<Dfa> {
    let start_kind = if anchored_only {
        StartKind::Anchored
    } else {
        StartKind::Both
    };
    let dense = dense::Builder::new()
        .configure(
            dense::Config::new()
                .match_kind(regex_automata::MatchKind::LeftmostFirst)
                .start_kind(start_kind)
                .minimize(false)
                .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
        )
        .build(pattern)
        .ok()?;
    Dfa::new(dense, sparse_above)
}

/// The DFA of the reversed pattern that finds where a match starts (see
/// [`Pattern::find_from`]), configured as regex-automata's DFA regex
/// builds its reverse half.
fn build_reverse_dfa(pattern: &str, sparse_above: usize) -> Option<Dfa> {
    dense::Builder::new()
        .configure(
            dense::Config::new()
                .match_kind(regex_automata::MatchKind::All)
                .start_kind(StartKind::Anchored)
                .specialize_start_states(false)
                .minimize(false)
                .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
        )
        .thompson(regex_automata::nfa::thompson::Config::new().reverse(true))
        .build(pattern)
        .ok()
        .and_then(|d| Dfa::new(d, sparse_above))
}

/// Compiled patterns with a shared literal prefilter.
#[derive(Debug)]
pub struct PatternSet {
    patterns: Vec<Pattern>,
    prefilter: Option<AhoCorasick>,
    /// For each prefilter literal, the patterns it admits.
    admits: Vec<Vec<u32>>,
    /// Patterns without a literal set.
    always: Vec<u32>,
}

impl PatternSet {
    /// Builds a set from `(symbol, source, compiled)` triples.
    pub fn build(rules: Vec<(usize, String, Regex)>) -> Result<Self, String> {
        Self::build_with(rules, SPARSE_ABOVE)
    }

    /// [`PatternSet::build`], keeping DFAs larger than `sparse_above`
    /// bytes in sparse form.
    fn build_with(rules: Vec<(usize, String, Regex)>, sparse_above: usize) -> Result<Self, String> {
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut admits: Vec<Vec<u32>> = Vec::new();
        let mut always = Vec::new();
        let mut patterns = Vec::with_capacity(rules.len());
        for (i, (symbol, src, regex)) in rules.into_iter().enumerate() {
            let id = u32::try_from(i).map_err(|_| "too many patterns".to_string())?;
            let literals_found = prefix_literals(&src);
            let anchored_only = literals_found.is_some();
            let dfa = build_dfa(&src, sparse_above, anchored_only);
            let reverse = match (&dfa, anchored_only) {
                (Some(_), false) => build_reverse_dfa(&src, sparse_above),
                _ => None,
            };
            let keep_regex = dfa.is_none() || anchored_only || reverse.is_none();
            match literals_found {
                Some(lits) => {
                    for lit in lits {
                        match literals.iter().position(|l| *l == lit) {
                            Some(k) => admits[k].push(id),
                            None => {
                                literals.push(lit);
                                admits.push(vec![id]);
                            }
                        }
                    }
                }
                None => always.push(id),
            }
            patterns.push(Pattern {
                symbol,
                regex: keep_regex.then_some(regex),
                dfa,
                anchored_only,
                reverse,
            });
        }
        let prefilter = if literals.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .kind(Some(AhoCorasickKind::DFA))
                    .match_kind(MatchKind::Standard)
                    .build(&literals)
                    .map_err(|e| format!("building the literal prefilter: {e}"))?,
            )
        };
        Ok(PatternSet {
            patterns,
            prefilter,
            admits,
            always,
        })
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// True when the set has no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Number of patterns that run on every text (no literal prefilter).
    pub fn unfiltered(&self) -> usize {
        self.always.len()
    }

    /// Symbols of the patterns too large for full DFAs (they run on the
    /// regex crate's lazily built automaton, rebuilt for every message
    /// inside the sandbox).
    pub fn lazy_patterns(&self) -> Vec<usize> {
        self.patterns
            .iter()
            .filter(|p| p.dfa.is_none() || (!p.anchored_only && p.reverse.is_none()))
            .map(|p| p.symbol)
            .collect()
    }

    /// Each pattern's symbol and the bytes of its own automata (the shared
    /// prefilter not counted).
    pub fn pattern_memory(&self) -> Vec<(usize, usize)> {
        self.patterns
            .iter()
            .map(|p| {
                let bytes = p.dfa.as_ref().map_or(0, |d| d.memory_usage())
                    + p.reverse.as_ref().map_or(0, |d| d.memory_usage());
                (p.symbol, bytes)
            })
            .collect()
    }

    /// Bytes of automata held by the set.
    pub fn memory_usage(&self) -> usize {
        self.prefilter.as_ref().map_or(0, |a| a.memory_usage())
            + self
                .pattern_memory()
                .into_iter()
                .map(|(_, bytes)| bytes)
                .sum::<usize>()
    }

    /// Runs the set over `text`; calls `hit(symbol, matched_text)` for each
    /// pattern that matches (its leftmost match), in pattern order.
    pub fn scan(&self, text: &str, hit: &mut dyn FnMut(usize, &str)) {
        if self.patterns.is_empty() {
            return;
        }
        // (pattern, start) pairs where a pattern's literal occurs.
        let mut starts: Vec<(u32, u32)> = Vec::new();
        if let Some(ac) = &self.prefilter {
            // Two letters fold to ASCII under Unicode case-insensitivity
            // (KELVIN SIGN → k, LONG S → s) but not under the prefilter's
            // ASCII folding: with either present, the prefilter reads a
            // copy with them folded and maps its matches back.
            let folded = FoldedText::new(text);
            let haystack = folded.as_ref().map_or(text, |f| f.text.as_str());
            for m in ac.find_overlapping_iter(haystack) {
                let at = folded.as_ref().map_or(m.start(), |f| f.original(m.start()));
                let at = u32::try_from(at).unwrap_or(u32::MAX);
                for &i in &self.admits[m.pattern().as_usize()] {
                    starts.push((i, at));
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let mut matched: Vec<Option<(usize, usize)>> = vec![None; self.patterns.len()];
        let mut k = 0;
        while k < starts.len() {
            let i = starts[k].0;
            let group_end = starts[k..]
                .iter()
                .position(|s| s.0 != i)
                .map_or(starts.len(), |n| k + n);
            let p = &self.patterns[i as usize];
            let group = &starts[k..group_end];
            matched[i as usize] = if p.dfa.is_none() || group.len() > MAX_STARTS {
                p.find_from(text, group[0].1 as usize)
            } else {
                group.iter().find_map(|&(_, at)| {
                    let at = at as usize;
                    p.anchored_at(text, at).map(|end| (at, end))
                })
            };
            k = group_end;
        }
        for (i, p) in self.patterns.iter().enumerate() {
            let unfiltered = self.always.contains(&(i as u32));
            if unfiltered {
                matched[i] = p.find_from(text, 0);
            }
            if let Some((s, e)) = matched[i] {
                hit(p.symbol, &text[s..e]);
            }
        }
    }
}

/// A text with KELVIN SIGN and LONG S folded to `k` and `s`, for the
/// prefilter; `None` when the text has neither.
struct FoldedText {
    text: String,
    /// (position in `text` just after a folded letter, bytes the original
    /// had more up to there), in order.
    shifts: Vec<(usize, usize)>,
}

impl FoldedText {
    fn new(original: &str) -> Option<FoldedText> {
        if !original.contains(['\u{212A}', '\u{17F}']) {
            return None;
        }
        let mut text = String::with_capacity(original.len());
        let mut shifts = Vec::new();
        let mut extra = 0;
        for c in original.chars() {
            let folded = match c {
                '\u{212A}' => 'k',
                '\u{17F}' => 's',
                c => {
                    text.push(c);
                    continue;
                }
            };
            text.push(folded);
            extra += c.len_utf8() - 1;
            shifts.push((text.len(), extra));
        }
        Some(FoldedText { text, shifts })
    }

    /// The position in the original text of position `at` of the folded
    /// one (a literal never starts inside a folded letter's bytes).
    fn original(&self, at: usize) -> usize {
        let k = self.shifts.partition_point(|&(end, _)| end <= at);
        at + if k == 0 { 0 } else { self.shifts[k - 1].1 }
    }
}

/// The lower-cased literals every match of `pattern` starts with, or
/// `None` when there is no usable finite set.
pub fn prefix_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::ParserBuilder::new().build().parse(pattern).ok()?;
    let hir = fold_ascii_letters(hir);
    let mut ex = Extractor::new();
    ex.kind(ExtractKind::Prefix)
        .limit_class(4)
        .limit_repeat(4)
        .limit_literal_len(16)
        .limit_total(256);
    let seq = ex.extract(&hir);
    let lits = seq.literals()?;
    let mut out: Vec<Vec<u8>> = Vec::new();
    for l in lits {
        let lower = l.as_bytes().to_ascii_lowercase();
        let chars = std::str::from_utf8(&lower).map_or(lower.len(), |t| t.chars().count());
        if chars < MIN_LITERAL {
            return None;
        }
        if !out.contains(&lower) {
            out.push(lower);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Replaces each class that is exactly the case-fold closure of one ASCII
/// letter (`[Aa]`, `[Kk\u{212A}]`) by the lower-case letter, so literal
/// extraction sees words, not 2ⁿ case variants. The prefilter matches
/// ASCII case-insensitively, which makes this exact but for the two
/// non-ASCII letters handled in [`PatternSet::scan`].
fn fold_ascii_letters(hir: Hir) -> Hir {
    match hir.into_kind() {
        HirKind::Class(Class::Unicode(cls)) => match single_letter(&cls) {
            Some(c) => Hir::literal([c]),
            None => Hir::class(Class::Unicode(cls)),
        },
        HirKind::Class(other) => Hir::class(other),
        HirKind::Concat(subs) => Hir::concat(subs.into_iter().map(fold_ascii_letters).collect()),
        HirKind::Alternation(subs) => Hir::alternation(subs.into_iter().map(fold_ascii_letters).collect()),
        HirKind::Repetition(rep) => Hir::repetition(Repetition {
            sub: Box::new(fold_ascii_letters(*rep.sub)),
            ..rep
        }),
        HirKind::Capture(mut cap) => {
            cap.sub = Box::new(fold_ascii_letters(*cap.sub));
            Hir::capture(cap)
        }
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(l) => Hir::literal(l.0),
        HirKind::Look(l) => Hir::look(l),
    }
}

fn single_letter(cls: &ClassUnicode) -> Option<u8> {
    let first = cls.ranges().first()?.start();
    let lower = u8::try_from(u32::from(first)).ok()?.to_ascii_lowercase();
    if !lower.is_ascii_lowercase() {
        return None;
    }
    let mut closure = ClassUnicode::new([ClassUnicodeRange::new(char::from(lower), char::from(lower))]);
    closure.case_fold_simple();
    (closure == *cls).then_some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(p: &str) -> Option<Vec<String>> {
        prefix_literals(p).map(|v| {
            let mut v: Vec<String> = v.into_iter().map(|l| String::from_utf8(l).unwrap()).collect();
            v.sort();
            v
        })
    }

    #[test]
    fn case_insensitive_words_become_lowercase_literals() {
        assert_eq!(lits(r"(?i)\bpass\s?word\b").unwrap(), ["pass"]);
        let l = lits(r"(?i)(?-u:\b)(?:send|Reply|kill)\s").unwrap();
        assert_eq!(l, ["kill", "reply", "send"]);
        assert_eq!(
            lits(r"(?i)\b(?:e-?mail\s+)?user").unwrap(),
            ["e-mail", "email", "user"]
        );
    }

    #[test]
    fn weak_or_infinite_sets_run_always() {
        assert_eq!(lits(r"\d+ dollars"), None);
        assert_eq!(lits(r"(?i)a|bcd"), None, "a 1-letter literal is too weak");
        assert_eq!(lits(r"é+|ée"), None, "so is a 1-letter literal of 2 bytes");
        assert_eq!(lits(r".*password"), None);
    }

    #[test]
    fn an_optional_short_word_in_front_still_gives_literals() {
        assert_eq!(
            lits(r"(?i)\b(?:by\s+)?(?:reply|respond)\s+to").unwrap(),
            ["by", "reply", "respond"]
        );
    }

    fn set(patterns: &[&str]) -> PatternSet {
        set_with(patterns, SPARSE_ABOVE)
    }

    fn set_with(patterns: &[&str], sparse_above: usize) -> PatternSet {
        PatternSet::build_with(
            patterns
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let p = super::super::ascii_word_boundaries(p);
                    let re = Regex::new(&p).unwrap();
                    (i, p, re)
                })
                .collect(),
            sparse_above,
        )
        .unwrap()
    }

    /// What the regex crate finds: each pattern's leftmost match.
    fn plain_hits<'t>(pats: &[&str], text: &'t str) -> Vec<(usize, &'t str)> {
        pats.iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let p = super::super::ascii_word_boundaries(p);
                Regex::new(&p).unwrap().find(text).map(|m| (i, m.as_str()))
            })
            .collect()
    }

    fn hits<'t>(s: &PatternSet, text: &'t str) -> Vec<(usize, &'t str)> {
        let mut v = Vec::new();
        s.scan(text, &mut |sym, m| {
            let start = m.as_ptr() as usize - text.as_ptr() as usize;
            v.push((sym, &text[start..start + m.len()]));
        });
        v
    }

    #[test]
    fn prefiltered_scan_agrees_with_plain_regexes() {
        let pats = [
            r"(?i)\bpassword\s*:",
            r"(?i)\bverify\s+your\s+account",
            r"\d{3}-\d{4}",
            r"(?i)\bkelvin",
            r"(?i)(?-u:\b)user(?:name)?\s+id",
            r"(?i)\bsend\s+your\s+pass",
        ];
        let s = set(&pats);
        assert_eq!(s.unfiltered(), 1);
        for text in [
            "Please enter your PASSWORD: now".to_string(),
            "verify  your Account today, call 555-1234".into(),
            "nothing here".into(),
            "\u{212A}ELVIN with a kelvin sign, a user id".into(),
            // Kelvin signs and long s inside the literals, before and
            // after other matches (the prefilter reads a folded copy).
            "\u{17F}end your pa\u{17F}\u{17F}word: \u{212A}elvin, u\u{17F}er id".into(),
            "Ωmega \u{212A}\u{212A} then verify your account and \u{212A}ELVIN".into(),
            "the user id, the USERNAME  ID and xuser id".into(),
            format!("{} username id", "user ".repeat(2 * MAX_STARTS)),
        ] {
            let text = text.as_str();
            let want = plain_hits(&pats, text);
            assert_eq!(hits(&s, text), want, "{text}");
        }
        assert!(s.lazy_patterns().is_empty());
    }

    /// Positions in the folded copy map back to the original text.
    #[test]
    fn folded_text_maps_positions_back() {
        assert!(FoldedText::new("plain text").is_none());
        let original = "a\u{212A}b\u{17F}c\u{212A}";
        let f = FoldedText::new(original).unwrap();
        assert_eq!(f.text, "akbsck");
        for (folded, char_at) in f.text.char_indices().zip(original.char_indices()) {
            assert_eq!(f.original(folded.0), char_at.0, "{folded:?}");
        }
        assert_eq!(f.original(f.text.len()), original.len());
    }

    /// A prefiltered pattern's DFA has anchored start states only, which
    /// makes it much smaller.
    #[test]
    fn prefiltered_patterns_get_anchored_dfas() {
        let p = r"(?i)(?-u:\b)(?:reply|send)(?-u:\b)[^.!?]*?(?-u:\b)remove(?-u:\b)";
        assert!(prefix_literals(p).is_some());
        let anchored = build_dfa(p, usize::MAX, true).unwrap().memory_usage();
        let both = build_dfa(p, usize::MAX, false).unwrap().memory_usage();
        assert!(anchored * 2 < both, "anchored {anchored} bytes, both {both}");
        let s = set(&[p]);
        assert!(s.patterns[0].anchored_only);
        assert_eq!(
            s.memory_usage() - s.prefilter.as_ref().unwrap().memory_usage(),
            anchored
        );
    }

    /// A DFA above the size threshold is kept sparse, and a sparse DFA
    /// finds the same matches (anchored at a literal; unanchored and
    /// backwards for the start without one) as the plain regex.
    #[test]
    fn sparse_dfas_match_like_plain_regexes() {
        let pats = [
            // Literal prefix: anchored forward searches.
            r"(?i)\b(?:account|mailbox|e-?mail)\b[^.!?]*?\b(?:upgrade|verif\w*|suspen\w*|quota)\b",
            // No literals: unanchored forward and reverse searches.
            r"(?i)\w+\s+\w*(?:ächt|ount)\w*\s+\w{2,}",
            r"\$[0-9a-f]{8}\$",
        ];
        let dense = set(&pats);
        let sparse = set_with(&pats, 0);
        assert_eq!(sparse.unfiltered(), 2);
        let small = dense.patterns[2].dfa.as_ref().unwrap();
        assert!(!small.is_sparse(), "{} bytes", small.memory_usage());
        for s in &sparse.patterns {
            assert!(s.dfa.as_ref().unwrap().is_sparse());
            // A prefiltered pattern keeps the regex crate only for its
            // rare unanchored search; the others have a reverse DFA.
            assert_eq!(s.regex.is_some(), s.anchored_only);
        }
        assert!(sparse.patterns[0].anchored_only);
        assert!(sparse.patterns[1].reverse.as_ref().unwrap().is_sparse());
        let texts = [
            "Your MAILBOX has reached its quota. Your account needs verification now",
            "the e-mail  will be suspended; das Konto wird geächtet werden",
            "Ώρα για account upgrade: σας λογαριασμός <01c2$1f2b3c40$0a>",
            "an account. no verify here, $1f2b3c40$",
            "",
        ];
        let mut matched = 0;
        for text in texts {
            let want = plain_hits(&pats, text);
            matched += want.len();
            assert_eq!(hits(&sparse, text), want, "{text}");
            assert_eq!(hits(&dense, text), want, "{text}");
        }
        assert!(matched >= 6, "the texts exercise the patterns: {matched} matches");
    }

    /// Patterns without literals find their match's start with a reverse
    /// DFA, never with the regex crate's lazily built automaton (which a
    /// fresh sandbox instance would rebuild for every message).
    #[test]
    fn unanchored_patterns_find_starts_like_plain_regexes() {
        let pats = [
            r"\S[ \t]{10,}\S{1,30}$",
            r"^[^a-z]*(?:[A-Z][^a-z]*){8}$",
            r"[^ \t][ \t]{10,}[!-~]{1,30}$",
            r"\$[0-9a-f]{8}\$",
            r"b+|abc",
            r"x*",
            r"^",
            r"(?i)\d+ (?:dollars|€)",
            r"é+|ée",
        ];
        let s = set(&pats);
        assert_eq!(s.unfiltered(), pats.len());
        for text in [
            "Lowest rates in 40 years                         QWXZTR",
            "FREE CELL PHONE WITH ACTIVATION - LIMITED TIME!!!",
            "ÉTÉ: FREE CELL PHONE WITH ACTIVATION          Ωμέγα",
            "<000801c2548a$1f2b3c40$0a00a8c0@laptop>",
            "xxabcbbb",
            "",
            "send 100 DOLLARS or 5 € now, déjà éé ée",
            "a subject with   a short gap  and CAPS",
        ] {
            assert_eq!(hits(&s, text), plain_hits(&pats, text), "{text}");
        }
        assert!(s.lazy_patterns().is_empty());
        assert!(
            s.patterns
                .iter()
                .all(|p| p.regex.is_none() && p.reverse.is_some())
        );
    }
}
