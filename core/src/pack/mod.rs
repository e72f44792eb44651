//! Rule packs: scores, thresholds, rule text and composites as data.
//!
//! A pack's source is a set of TOML files. One of them carries `[pack]`
//! (name, semver version, description) and `[actions]` (default score
//! thresholds); any file may carry `[symbols.NAME]` tables (score and
//! description for symbols emitted by code checks) and `[[rule]]` entries:
//!
//! ```toml
//! [[rule]]
//! name = "PHISH_ASK_PASSWORD"
//! type = "body"                 # body | header | uri | meta
//! pattern = '(?i)\bpassword\s*:'
//! score = 2.5
//! description = "Asks for a password in the body"
//!
//! [[rule]]
//! name = "PHISH_LURE"
//! type = "meta"
//! expr = "PHISH_ASK_PASSWORD && (PHISH_UPGRADE || PHISH_DEACTIVATE)"
//! score = 6
//! description = "Credential request combined with an account threat"
//! ```
//!
//! A rule whose name starts with `__` is a helper, as SpamAssassin's
//! sub-rules: it must score 0, is never reported in a verdict, and exists
//! for meta rules to combine (`__DATE_PRESENT && !__DATE_RFC5322`).
//!
//! [`RulePack::compile`] validates everything (regexes, expressions, that
//! every symbol a code check can emit has a score) and reports the file,
//! line and rule name of the first problem. Compilation happens once per
//! pack load; checks then only run the compiled sets.

pub mod expr;
pub mod model;
pub mod patterns;

pub use model::Model;
pub use patterns::PatternSet;

use crate::types::{Action, PackInfo};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// The contract version packs built from this crate implement.
pub const CONTRACT_VERSION: &str = "mailward:filter@0.2.0";

/// Largest compiled size allowed for one regex (bytes).
const REGEX_SIZE_LIMIT: usize = 4 << 20;

/// A problem in a pack's source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PackError {
    /// The source file's name.
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// The rule or symbol concerned, if any.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(rule) = &self.rule {
            write!(f, ": rule {rule}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Score thresholds for actions.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ActionThresholds {
    /// Add spam headers at or above.
    pub add_header: f64,
    /// Quarantine at or above.
    pub quarantine: f64,
    /// Reject at or above.
    pub reject: f64,
}

impl ActionThresholds {
    /// The action for `score`.
    pub fn action_for(&self, score: f64) -> Action {
        if score >= self.reject {
            Action::Reject
        } else if score >= self.quarantine {
            Action::Quarantine
        } else if score >= self.add_header {
            Action::AddHeader
        } else {
            Action::Accept
        }
    }

    /// Checks that the thresholds rise with the actions' severity.
    pub fn validate(&self) -> Result<(), String> {
        let all = [self.add_header, self.quarantine, self.reject];
        if all.iter().any(|t| !t.is_finite()) {
            return Err("thresholds must be finite numbers".into());
        }
        if !(self.add_header <= self.quarantine && self.quarantine <= self.reject) {
            return Err(format!(
                "thresholds must satisfy add-header ({}) <= quarantine ({}) <= reject ({})",
                self.add_header, self.quarantine, self.reject
            ));
        }
        Ok(())
    }
}

/// Where a symbol comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Emitted by a code check.
    Check,
    /// A pattern rule in the pack.
    Rule,
    /// A meta rule in the pack.
    Meta,
}

/// What the pack says about one symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolDef {
    /// The name.
    pub name: String,
    /// The score it adds.
    pub score: f64,
    /// One-line description.
    pub description: String,
    /// An action forced whenever the symbol fires (e.g. a restricted
    /// sender is rejected whatever the score).
    pub force_action: Option<Action>,
    /// Where it comes from.
    pub origin: Origin,
}

impl SymbolDef {
    /// True for a helper rule (`__NAME`, as SpamAssassin's sub-rules): it
    /// scores nothing and is never reported; meta rules combine it.
    pub fn is_helper(&self) -> bool {
        is_helper_name(&self.name)
    }
}

/// True for a helper rule's name: two underscores, then a rule name.
pub fn is_helper_name(name: &str) -> bool {
    name.strip_prefix("__").is_some_and(valid_symbol_name)
}

/// The header rules that look at the same part of the same field.
#[derive(Debug)]
pub struct HeaderGroup {
    /// Header field name, lower-case.
    pub header: String,
    /// Which part of the field the patterns see.
    pub part: HeaderPart,
    /// The patterns.
    pub set: PatternSet,
}

/// Which part of a header field a header rule sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderPart {
    /// The decoded, unfolded value.
    Value,
    /// The addresses of an address field, one per line.
    Addr,
    /// The display names of an address field, one per line.
    Name,
    /// The unfolded value as written, RFC 2047 encoded-words not decoded.
    Raw,
}

/// A meta rule.
#[derive(Debug)]
pub struct MetaRule {
    /// Symbol index.
    pub symbol: usize,
    /// The expression.
    pub expr: expr::Expr,
}

/// A probability band of the classifier: the symbol fires when the spam
/// probability `p` satisfies `min <= p < max` (`p <= max` when `max` is 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Symbol index.
    pub symbol: usize,
    /// Lower bound (inclusive).
    pub min: f64,
    /// Upper bound (exclusive, except 1.0).
    pub max: f64,
}

impl Band {
    /// True when probability `p` falls in the band.
    pub fn contains(&self, p: f64) -> bool {
        p >= self.min && (p < self.max || (self.max >= 1.0 && p <= 1.0))
    }
}

/// Bytes of automata above which a rule is reported as large (the pack's
/// build warns, and the default pack's tests refuse it): its automata live
/// in every instance's memory, and memory is time (README, Benchmark).
pub const LARGE_RULE_BYTES: usize = 512 * 1024;

/// A compiled, validated rule pack.
#[derive(Debug)]
pub struct RulePack {
    /// Name, version, description.
    pub info: PackInfo,
    /// Default thresholds.
    pub thresholds: ActionThresholds,
    /// Every known symbol; rules refer to these by index.
    pub symbols: Vec<SymbolDef>,
    index: HashMap<String, usize>,
    /// Body rules.
    pub body: PatternSet,
    /// URI rules (run on each link target).
    pub uri: PatternSet,
    /// Header rules, grouped by field and part.
    pub headers: Vec<HeaderGroup>,
    /// Meta rules, dependencies first.
    pub metas: Vec<MetaRule>,
    /// Pack options and their defaults.
    pub options: BTreeMap<String, String>,
    /// Named lists (freemail domains, URL shorteners, …), lower-case,
    /// sorted, without duplicates.
    pub lists: BTreeMap<String, Vec<String>>,
    /// The statistical classifier's model, when the pack has one.
    pub model: Option<Model>,
    /// The classifier's probability bands, by increasing probability.
    pub bands: Vec<Band>,
    /// Fewest features the model must know in a message to judge it
    /// (`[model] min-features`); below, no band fires.
    pub model_min_features: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSource {
    pack: Option<PackSection>,
    actions: Option<ActionThresholds>,
    #[serde(default)]
    options: BTreeMap<String, toml::Value>,
    #[serde(default)]
    symbols: BTreeMap<String, toml::Spanned<SymbolSource>>,
    #[serde(default)]
    rule: Vec<toml::Spanned<RuleSource>>,
    #[serde(default)]
    lists: BTreeMap<String, toml::Spanned<Vec<String>>>,
    model: Option<toml::Spanned<ModelSection>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelSection {
    /// The model file, relative to the TOML file that names it.
    file: String,
    /// Fewest features the model must know in a message to judge it.
    #[serde(rename = "min-features", default)]
    min_features: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PackSection {
    name: String,
    version: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SymbolSource {
    score: f64,
    description: String,
    action: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSource {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    pattern: Option<String>,
    header: Option<String>,
    expr: Option<String>,
    range: Option<[f64; 2]>,
    score: f64,
    description: String,
    action: Option<String>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn valid_symbol_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Rewrites `\b` and `\B` outside character classes to their ASCII forms
/// `(?-u:\b)` / `(?-u:\B)`. Pack patterns see mostly-ASCII mail text; the
/// ASCII word boundary keeps the fast lazy-DFA engine usable on any input,
/// where the Unicode one makes it fall back to the slow PikeVM whenever a
/// text holds a non-ASCII character.
pub fn ascii_word_boundaries(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 16);
    let mut class_depth = 0usize;
    let mut chars = src.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(b @ ('b' | 'B')) if class_depth == 0 => {
                    out.push_str("(?-u:\\");
                    out.push(b);
                    out.push(')');
                }
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            '[' => {
                class_depth += 1;
                out.push(c);
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn compile_regex(src: &str) -> Result<Regex, String> {
    RegexBuilder::new(src)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

/// A pattern rule before it joins a set: (symbol, source, compiled).
type SourcePattern = (usize, String, Regex);

struct PendingMeta {
    file: String,
    line: usize,
    symbol: usize,
    src: String,
}

impl RulePack {
    /// Compiles a pack from its source files (`(file name, TOML text)`).
    /// `code_symbols` lists every symbol the code checks can emit; each
    /// must have a `[symbols.NAME]` entry; `code_lists` every named list
    /// the code checks read. Files whose name does not end in `.toml` are
    /// data files (models) that a TOML file refers to.
    pub fn compile(
        files: &[(&str, &str)],
        code_symbols: &[&str],
        code_lists: &[&str],
    ) -> Result<Self, PackError> {
        let err = |file: &str, line: usize, rule: Option<&str>, message: String| PackError {
            file: file.to_string(),
            line,
            rule: rule.map(str::to_string),
            message,
        };
        let mut info = None;
        let mut thresholds = None;
        let mut symbols: Vec<SymbolDef> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut options = BTreeMap::new();
        let mut body = Vec::new();
        let mut uri = Vec::new();
        let mut headers: Vec<((String, HeaderPart), Vec<SourcePattern>)> = Vec::new();
        let mut pending_metas = Vec::new();
        let mut lists: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut model: Option<Model> = None;
        let mut model_at: Option<(String, usize)> = None;
        let mut model_min_features = 0;
        let mut bands: Vec<(Band, String, usize)> = Vec::new();

        let parse_action = |s: &Option<String>| -> Result<Option<Action>, String> {
            s.as_deref().map(str::parse).transpose()
        };

        for (file, text) in files {
            if !file.ends_with(".toml") {
                continue;
            }
            let src: FileSource = toml::from_str(text).map_err(|e| {
                let line = e.span().map_or(0, |s| line_of(text, s.start));
                err(file, line, None, e.message().to_string())
            })?;
            if let Some(p) = src.pack {
                if info.is_some() {
                    return Err(err(file, 0, None, "a second [pack] section".into()));
                }
                if !is_semver(&p.version) {
                    return Err(err(
                        file,
                        0,
                        None,
                        format!("pack version {:?} is not semver (x.y.z)", p.version),
                    ));
                }
                info = Some(PackInfo {
                    name: p.name,
                    version: p.version,
                    contract: CONTRACT_VERSION.to_string(),
                    description: p.description,
                });
            }
            if let Some(t) = src.actions {
                t.validate().map_err(|m| err(file, 0, None, m))?;
                thresholds = Some(t);
            }
            for (k, v) in src.options {
                let v = match v {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                options.insert(k, v);
            }
            for (name, items) in src.lists {
                let line = line_of(text, items.span().start);
                if lists.contains_key(&name) {
                    return Err(err(file, line, Some(&name), "list defined twice".into()));
                }
                let mut items: Vec<String> = items
                    .into_inner()
                    .into_iter()
                    .map(|i| i.trim().to_lowercase())
                    .collect();
                // Sorted for binary search by the checks.
                items.sort();
                items.dedup();
                if let Some(bad) = items.iter().find(|i| i.is_empty()) {
                    return Err(err(
                        file,
                        line,
                        Some(&name),
                        format!("empty item {bad:?} in list"),
                    ));
                }
                lists.insert(name, items);
            }
            if let Some(m) = src.model {
                let line = line_of(text, m.span().start);
                if model.is_some() {
                    return Err(err(file, line, None, "a second [model] section".into()));
                }
                let m = m.into_inner();
                let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
                let path = if dir.is_empty() {
                    m.file.clone()
                } else {
                    format!("{dir}/{}", m.file)
                };
                let (_, model_text) = files.iter().find(|(f, _)| *f == path).ok_or_else(|| {
                    err(
                        file,
                        line,
                        None,
                        format!("[model] file {path:?} is not part of the pack"),
                    )
                })?;
                let parsed = Model::parse(model_text).map_err(|(l, m)| err(&path, l, None, m))?;
                if parsed.tokenizer != crate::checks::classifier::TOKENIZER_VERSION {
                    return Err(err(
                        &path,
                        0,
                        None,
                        format!(
                            "model trained with tokenizer {}, this build tokenizes with {}; retrain it",
                            parsed.tokenizer,
                            crate::checks::classifier::TOKENIZER_VERSION
                        ),
                    ));
                }
                model = Some(parsed);
                model_min_features = m.min_features;
                model_at = Some((file.to_string(), line));
            }
            for (name, def) in src.symbols {
                let line = line_of(text, def.span().start);
                let def = def.into_inner();
                if !valid_symbol_name(&name) {
                    return Err(err(
                        file,
                        line,
                        Some(&name),
                        "symbol names are A-Z, 0-9, _".into(),
                    ));
                }
                if index.contains_key(&name) {
                    return Err(err(file, line, Some(&name), "defined twice".into()));
                }
                let force_action = parse_action(&def.action).map_err(|m| err(file, line, Some(&name), m))?;
                index.insert(name.clone(), symbols.len());
                symbols.push(SymbolDef {
                    name,
                    score: def.score,
                    description: def.description,
                    force_action,
                    origin: Origin::Check,
                });
            }
            for rule in src.rule {
                let line = line_of(text, rule.span().start);
                let r = rule.into_inner();
                let e = |m: String| err(file, line, Some(&r.name), m);
                let helper = is_helper_name(&r.name);
                if !valid_symbol_name(&r.name) && !helper {
                    return Err(e(
                        "rule names are A-Z, 0-9, _ and start with a letter (or `__` for a helper)".into(),
                    ));
                }
                if index.contains_key(&r.name) {
                    return Err(e("defined twice".into()));
                }
                if !r.score.is_finite() {
                    return Err(e("score must be a finite number".into()));
                }
                if helper && (r.score != 0.0 || r.action.is_some()) {
                    return Err(e(
                        "a helper rule (`__` name) scores 0 and forces no action; meta rules use it".into(),
                    ));
                }
                let force_action = parse_action(&r.action).map_err(&e)?;
                let sym = symbols.len();
                let origin = match r.kind.as_str() {
                    "meta" => Origin::Meta,
                    "model" => Origin::Check,
                    _ => Origin::Rule,
                };
                index.insert(r.name.clone(), sym);
                symbols.push(SymbolDef {
                    name: r.name.clone(),
                    score: r.score,
                    description: r.description.clone(),
                    force_action,
                    origin,
                });
                let pattern = || -> Result<(String, Regex), String> {
                    let p = r
                        .pattern
                        .clone()
                        .ok_or_else(|| format!("a {} rule needs `pattern`", r.kind))?;
                    let re = compile_regex(&p).map_err(|m| format!("pattern does not compile: {m}"))?;
                    let fast = ascii_word_boundaries(&p);
                    let re = if fast == p {
                        re
                    } else {
                        compile_regex(&fast).map_err(|m| format!("pattern does not compile: {m}"))?
                    };
                    Ok((fast, re))
                };
                let no = |field: &str, v: &Option<String>| -> Result<(), String> {
                    match v {
                        Some(_) => Err(format!("a {} rule takes no `{field}`", r.kind)),
                        None => Ok(()),
                    }
                };
                if r.kind != "model" && r.range.is_some() {
                    return Err(e(format!("a {} rule takes no `range`", r.kind)));
                }
                match r.kind.as_str() {
                    "body" | "uri" => {
                        no("header", &r.header).map_err(&e)?;
                        no("expr", &r.expr).map_err(&e)?;
                        let (src, re) = pattern().map_err(&e)?;
                        if r.kind == "body" {
                            body.push((sym, src, re));
                        } else {
                            uri.push((sym, src, re));
                        }
                    }
                    "header" => {
                        no("expr", &r.expr).map_err(&e)?;
                        let spec = r
                            .header
                            .clone()
                            .ok_or_else(|| e("a header rule needs `header`".into()))?;
                        let (name, part) = match spec.rsplit_once(':') {
                            Some((n, "addr")) => (n, HeaderPart::Addr),
                            Some((n, "name")) => (n, HeaderPart::Name),
                            Some((n, "raw")) => (n, HeaderPart::Raw),
                            Some((_, other)) => {
                                return Err(e(format!(
                                    "unknown header part :{other} (use :addr, :name or :raw)"
                                )));
                            }
                            None => (spec.as_str(), HeaderPart::Value),
                        };
                        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                            return Err(e(format!("bad header name {name:?}")));
                        }
                        let (src, regex) = pattern().map_err(&e)?;
                        let key = (name.to_ascii_lowercase(), part);
                        match headers.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, rules)) => rules.push((sym, src, regex)),
                            None => headers.push((key, vec![(sym, src, regex)])),
                        }
                    }
                    "meta" => {
                        no("pattern", &r.pattern).map_err(&e)?;
                        no("header", &r.header).map_err(&e)?;
                        let src = r
                            .expr
                            .clone()
                            .ok_or_else(|| e("a meta rule needs `expr`".into()))?;
                        pending_metas.push(PendingMeta {
                            file: file.to_string(),
                            line,
                            symbol: sym,
                            src,
                        });
                    }
                    "model" => {
                        no("pattern", &r.pattern).map_err(&e)?;
                        no("header", &r.header).map_err(&e)?;
                        no("expr", &r.expr).map_err(&e)?;
                        let [min, max] = r
                            .range
                            .ok_or_else(|| e("a model rule needs `range = [min, max]`".into()))?;
                        if !(0.0..=1.0).contains(&min) || !(0.0..=1.0).contains(&max) || min >= max {
                            return Err(e(format!(
                                "range [{min}, {max}] must satisfy 0 <= min < max <= 1"
                            )));
                        }
                        bands.push((
                            Band {
                                symbol: sym,
                                min,
                                max,
                            },
                            file.to_string(),
                            line,
                        ));
                    }
                    other => {
                        return Err(e(format!(
                            "unknown rule type {other:?} (body, header, uri, meta, model)"
                        )));
                    }
                }
            }
        }

        let info = info.ok_or_else(|| err("(pack)", 0, None, "no file has a [pack] section".into()))?;
        let thresholds =
            thresholds.ok_or_else(|| err("(pack)", 0, None, "no file has an [actions] section".into()))?;
        for name in code_lists {
            if !lists.contains_key(*name) {
                return Err(err(
                    "(pack)",
                    0,
                    Some(name),
                    "a check reads this list but no [lists] table defines it".into(),
                ));
            }
        }
        bands.sort_by(|a, b| a.0.min.total_cmp(&b.0.min));
        for pair in bands.windows(2) {
            if pair[1].0.min < pair[0].0.max {
                let (_, f, l) = &pair[1];
                return Err(err(
                    f,
                    *l,
                    Some(&symbols[pair[1].0.symbol].name),
                    format!("range overlaps {}", symbols[pair[0].0.symbol].name),
                ));
            }
        }
        match (&model, bands.first()) {
            (None, Some((b, f, l))) => {
                return Err(err(
                    f,
                    *l,
                    Some(&symbols[b.symbol].name),
                    "a model rule needs a [model] section in the pack".into(),
                ));
            }
            (Some(_), None) => {
                let (f, l) = model_at.unwrap_or_default();
                return Err(err(
                    &f,
                    l,
                    None,
                    "[model] without any `type = \"model\"` rule".into(),
                ));
            }
            _ => {}
        }
        let bands: Vec<Band> = bands.into_iter().map(|(b, _, _)| b).collect();
        for name in code_symbols {
            if !index.contains_key(*name) {
                return Err(err(
                    "(pack)",
                    0,
                    Some(name),
                    "a check emits this symbol but the pack gives it no [symbols] entry".into(),
                ));
            }
        }

        // Meta rules: parse, then order so every meta runs after the metas
        // it reads.
        let mut parsed = Vec::new();
        for m in &pending_metas {
            let e = expr::parse(&m.src, &mut |n| index.get(n).copied())
                .map_err(|msg| err(&m.file, m.line, Some(&symbols[m.symbol].name), msg))?;
            parsed.push((m, e));
        }
        let metas = order_metas(parsed, &symbols)
            .map_err(|(m, msg)| err(&m.file, m.line, Some(&symbols[m.symbol].name), msg))?;

        let set = |rules, what: &str| {
            PatternSet::build(rules).map_err(|m| err("(pack)", 0, None, format!("{what} rules: {m}")))
        };
        let headers = headers
            .into_iter()
            .map(|((header, part), rules)| {
                Ok(HeaderGroup {
                    set: set(rules, &header)?,
                    header,
                    part,
                })
            })
            .collect::<Result<_, PackError>>()?;
        Ok(RulePack {
            info,
            thresholds,
            body: set(body, "body")?,
            uri: set(uri, "uri")?,
            headers,
            metas,
            symbols,
            index,
            options,
            lists,
            model,
            bands,
            model_min_features,
        })
    }

    /// The named list `name` (empty when the pack has none).
    pub fn list(&self, name: &str) -> &[String] {
        self.lists.get(name).map_or(&[], Vec::as_slice)
    }

    /// The index of symbol `name`.
    pub fn symbol_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// What the pack says about symbol `name`.
    pub fn symbol(&self, name: &str) -> Option<&SymbolDef> {
        self.symbol_index(name).map(|i| &self.symbols[i])
    }

    /// Names of the pattern rules too large for a full DFA. They still
    /// work, on a lazily built automaton that is slow inside the sandbox;
    /// the build warns about them.
    pub fn lazy_rules(&self) -> Vec<&str> {
        self.pattern_sets()
            .flat_map(PatternSet::lazy_patterns)
            .map(|i| self.symbols[i].name.as_str())
            .collect()
    }

    /// The compiled pattern sets: body, URI, and one per header part.
    fn pattern_sets(&self) -> impl Iterator<Item = &PatternSet> {
        [&self.body, &self.uri]
            .into_iter()
            .chain(self.headers.iter().map(|g| &g.set))
    }

    /// The rules whose automata take more than `limit` bytes (of every
    /// instance's memory), largest first, with their size. A Unicode class
    /// such as `\w` is the usual cause: ASCII classes cost next to nothing.
    pub fn large_rules(&self, limit: usize) -> Vec<(&str, usize)> {
        let mut large: Vec<(&str, usize)> = self
            .pattern_sets()
            .flat_map(PatternSet::pattern_memory)
            .filter(|&(_, bytes)| bytes > limit)
            .map(|(i, bytes)| (self.symbols[i].name.as_str(), bytes))
            .collect();
        large.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        large
    }

    /// Bytes of compiled automata in the pack.
    pub fn automata_bytes(&self) -> usize {
        self.pattern_sets().map(PatternSet::memory_usage).sum()
    }
}

fn order_metas<'m>(
    parsed: Vec<(&'m PendingMeta, expr::Expr)>,
    symbols: &[SymbolDef],
) -> Result<Vec<MetaRule>, (&'m PendingMeta, String)> {
    let is_meta: BTreeSet<usize> = parsed.iter().map(|(m, _)| m.symbol).collect();
    let mut done: BTreeSet<usize> = BTreeSet::new();
    let mut out = Vec::new();
    let mut left = parsed;
    while !left.is_empty() {
        let before = left.len();
        let mut next = Vec::new();
        for (m, e) in left {
            let mut deps = BTreeSet::new();
            e.symbols(&mut deps);
            if deps.contains(&m.symbol) {
                return Err((m, "expression refers to itself".into()));
            }
            if deps.iter().all(|d| !is_meta.contains(d) || done.contains(d)) {
                done.insert(m.symbol);
                out.push(MetaRule {
                    symbol: m.symbol,
                    expr: e,
                });
            } else {
                next.push((m, e));
            }
        }
        if next.len() == before {
            let (m, _) = &next[0];
            let names: Vec<_> = next
                .iter()
                .map(|(m, _)| symbols[m.symbol].name.as_str())
                .collect();
            return Err((
                m,
                format!("meta rules depend on each other in a cycle: {}", names.join(", ")),
            ));
        }
        left = next;
    }
    Ok(out)
}

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<_> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACK: &str = r#"
[pack]
name = "t"
version = "1.2.3"

[actions]
add-header = 5
quarantine = 8
reject = 12

[symbols.CODE_SYM]
score = 1.5
description = "from code"
"#;

    fn compile(rules: &str) -> Result<RulePack, PackError> {
        RulePack::compile(&[("pack.toml", PACK), ("rules.toml", rules)], &["CODE_SYM"], &[])
    }

    #[test]
    fn compiles_every_kind() {
        let p = compile(
            r#"
[[rule]]
name = "B1"
type = "body"
pattern = '(?i)password'
score = 2
description = "d"

[[rule]]
name = "H1"
type = "header"
header = "From:name"
pattern = 'bank'
score = 1
description = "d"

[[rule]]
name = "M2"
type = "meta"
expr = "M1 && CODE_SYM"
score = 3
description = "d"

[[rule]]
name = "M1"
type = "meta"
expr = "B1 || H1"
score = 1
description = "d"
"#,
        )
        .unwrap();
        assert_eq!(p.info.version, "1.2.3");
        assert_eq!(p.body.len(), 1);
        assert_eq!(p.headers[0].part, HeaderPart::Name);
        assert!(p.lazy_rules().is_empty());
        let order: Vec<_> = p
            .metas
            .iter()
            .map(|m| p.symbols[m.symbol].name.as_str())
            .collect();
        assert_eq!(order, ["M1", "M2"], "metas are ordered by dependency");
    }

    #[test]
    fn bad_regex_names_rule_and_line() {
        let e = compile("\n\n[[rule]]\nname = \"BAD\"\ntype = \"body\"\npattern = '(unclosed'\nscore = 1\ndescription = \"d\"\n")
            .unwrap_err();
        assert_eq!(e.file, "rules.toml");
        assert_eq!(e.line, 3);
        assert_eq!(e.rule.as_deref(), Some("BAD"));
        assert!(
            e.to_string()
                .starts_with("rules.toml:3: rule BAD: pattern does not compile"),
            "{e}"
        );
    }

    #[test]
    fn unscored_code_symbol_and_cycles_are_errors() {
        let e = RulePack::compile(&[("pack.toml", PACK)], &["CODE_SYM", "OTHER"], &[]).unwrap_err();
        assert_eq!(e.rule.as_deref(), Some("OTHER"));
        let e = compile(
            "[[rule]]\nname = \"A\"\ntype = \"meta\"\nexpr = \"B\"\nscore = 1\ndescription = \"d\"\n\
             [[rule]]\nname = \"B\"\ntype = \"meta\"\nexpr = \"A\"\nscore = 1\ndescription = \"d\"\n",
        )
        .unwrap_err();
        assert!(e.message.contains("cycle"), "{e}");
        let e = compile(
            "[[rule]]\nname = \"A\"\ntype = \"meta\"\nexpr = \"NOPE\"\nscore = 1\ndescription = \"d\"\n",
        )
        .unwrap_err();
        assert!(e.message.contains("unknown symbol NOPE"), "{e}");
    }

    /// A one-feature model of the current tokenizer version.
    fn model() -> String {
        format!(
            "mailward-model 1\ntokenizer {}\nnorm l2\nbias -1\n1.5\tfree\n",
            crate::checks::classifier::TOKENIZER_VERSION
        )
    }

    fn compile_with_model(rules: &str, model: &str) -> Result<RulePack, PackError> {
        RulePack::compile(
            &[("p/pack.toml", PACK), ("p/m.toml", rules), ("p/c.model", model)],
            &["CODE_SYM"],
            &[],
        )
    }

    const BANDS: &str = "[model]\nfile = \"c.model\"\nmin-features = 3\n\n\
        [[rule]]\nname = \"LOW\"\ntype = \"model\"\nrange = [0.0, 0.5]\nscore = -1\ndescription = \"d\"\n\n\
        [[rule]]\nname = \"HIGH\"\ntype = \"model\"\nrange = [0.5, 1.0]\nscore = 3\ndescription = \"d\"\n";

    #[test]
    fn model_section_and_bands() {
        let model = model();
        let p = compile_with_model(BANDS, &model).unwrap();
        assert_eq!(p.model.as_ref().unwrap().len(), 1);
        assert_eq!(p.model_min_features, 3);
        assert_eq!(p.bands.len(), 2);
        assert!(p.bands[0].contains(0.2) && !p.bands[0].contains(0.5));
        assert!(p.bands[1].contains(0.5) && p.bands[1].contains(1.0));
        // A broken model line names the model file and line.
        let e = compile_with_model(BANDS, &model.replace("bias -1", "bias x")).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("p/c.model", 4), "{e}");
        // A model trained with another tokenizer does not load.
        let e = compile_with_model(BANDS, &model.replace("\ntokenizer ", "\ntokenizer 999")).unwrap_err();
        assert!(e.message.contains("retrain"), "{e}");
        // Overlapping bands, a band without a model, a missing model file.
        let e = compile_with_model(&BANDS.replace("[0.5, 1.0]", "[0.4, 1.0]"), &model).unwrap_err();
        assert!(e.message.contains("overlaps"), "{e}");
        let e = compile_with_model(
            &BANDS.replace("[model]\nfile = \"c.model\"\nmin-features = 3\n", ""),
            &model,
        )
        .unwrap_err();
        assert!(e.message.contains("needs a [model]"), "{e}");
        let e = compile_with_model(&BANDS.replace("c.model", "nope.model"), &model).unwrap_err();
        assert!(e.message.contains("not part of the pack"), "{e}");
        let e = compile_with_model(&BANDS.replace("[0.0, 0.5]", "[0.6, 0.5]"), &model).unwrap_err();
        assert_eq!(e.rule.as_deref(), Some("LOW"));
    }

    #[test]
    fn lists_are_sorted_and_required() {
        let p = RulePack::compile(
            &[
                ("pack.toml", PACK),
                (
                    "l.toml",
                    "[lists]\nfree = [\"B.example\", \"a.example\", \"b.example\"]\n",
                ),
            ],
            &["CODE_SYM"],
            &["free"],
        )
        .unwrap();
        assert_eq!(p.list("free"), ["a.example", "b.example"]);
        assert!(p.list("other").is_empty());
        let e = RulePack::compile(&[("pack.toml", PACK)], &["CODE_SYM"], &["free"]).unwrap_err();
        assert_eq!(e.rule.as_deref(), Some("free"));
    }

    #[test]
    fn helper_rules_score_nothing() {
        let helper =
            "[[rule]]\nname = \"__H\"\ntype = \"body\"\npattern = 'x'\nscore = 0\ndescription = \"d\"\n";
        let p = compile(&format!(
            "{helper}[[rule]]\nname = \"M\"\ntype = \"meta\"\nexpr = \"!__H\"\nscore = 1\ndescription = \"d\"\n"
        ))
        .unwrap();
        let i = p.symbol_index("__H").unwrap();
        assert!(p.symbols[i].is_helper());
        assert!(!p.symbols[p.symbol_index("M").unwrap()].is_helper());
        let e = compile(&helper.replace("score = 0", "score = 1")).unwrap_err();
        assert!(e.message.contains("helper"), "{e}");
        assert_eq!((e.file.as_str(), e.line), ("rules.toml", 1), "{e}");
        for bad in ["__", "___H", "__h", "_H"] {
            let e = compile(&helper.replace("__H", bad)).unwrap_err();
            assert!(e.message.contains("rule names"), "{bad}: {e}");
        }
    }

    #[test]
    fn word_boundaries_become_ascii_outside_classes() {
        assert_eq!(ascii_word_boundaries(r"\bpass\B"), r"(?-u:\b)pass(?-u:\B)");
        assert_eq!(ascii_word_boundaries(r"[\b]\\b"), r"[\b]\\b");
        assert_eq!(ascii_word_boundaries(r"[a\]]\b"), r"[a\]](?-u:\b)");
    }

    #[test]
    fn thresholds_must_rise() {
        let t = ActionThresholds {
            add_header: 5.0,
            quarantine: 3.0,
            reject: 9.0,
        };
        assert!(t.validate().is_err());
        assert_eq!(
            ActionThresholds {
                add_header: 5.0,
                quarantine: 8.0,
                reject: 12.0
            }
            .action_for(8.0),
            Action::Quarantine
        );
    }
}
