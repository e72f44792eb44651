//! `mailward-train`: trains the rule pack's statistical classifier.
//!
//! Reads ham and spam messages, turns each into features with
//! `mailward_core::checks::classifier::features` (the very function the
//! check runs), fits an L2-regularised logistic regression and writes the
//! model file the pack embeds:
//!
//! ```sh
//! C=$(scripts/fetch-corpus.sh)
//! cargo run --release -p mailward-train -- \
//!     --ham $C/easy-ham-1 --spam $C/spam-1 --out rules/pack/classifier.model
//! ```
//!
//! `--cv K` also reports K-fold cross-validation on the training data
//! (out-of-fold false positives and recall per probability threshold),
//! which is what thresholds and hyperparameters are chosen on. The same
//! inputs and settings always give the same file.

mod groups;
mod lr;
mod renditions;

use anyhow::{Context, Result, bail};
use clap::Parser;
use groups::SpamFolds;
use lr::{Example, Fit, Params};
use mailward_core::checks::classifier::{TOKENIZER_VERSION, features};
use mailward_core::message::Message;
use mailward_core::pack::model::FORMAT_VERSION;
use renditions::Rendition;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "mailward-train", about = "Train mailward's classifier model")]
struct Args {
    /// Ham messages: files or directories (one message per file).
    #[arg(long, required = true, num_args = 1..)]
    ham: Vec<PathBuf>,
    /// Spam messages: files or directories.
    #[arg(long, required = true, num_args = 1..)]
    spam: Vec<PathBuf>,
    /// Where to write the model (omit to only cross-validate).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Report K-fold cross-validation on the training data.
    #[arg(long, value_name = "K")]
    cv: Option<usize>,
    /// Also report grouped cross-validation: each ham source (mailing
    /// list, else From domain) scored by a model trained without any of
    /// it; spam in 5 folds. Sources with fewer messages than this are
    /// held out together as one group.
    #[arg(long, value_name = "MIN_SOURCE")]
    group_cv: Option<usize>,
    /// Feature families the model leaves out (w = visible-text words; b s
    /// f h x m t u r i o = the tokenizer's prefixes), or features by a
    /// longer prefix (`f!tld:`).
    #[arg(long, value_delimiter = ',')]
    drop: Vec<String>,
    /// L2 penalty.
    #[arg(long, default_value_t = 1e-3)]
    l2: f64,
    /// Weight of a ham message relative to a spam message in the loss.
    #[arg(long, default_value_t = 1.0)]
    ham_weight: f64,
    /// Keep features seen in at least this many training messages.
    #[arg(long, default_value_t = 3)]
    min_df: usize,
    /// Drop weights smaller than this in magnitude from the model file.
    #[arg(long, default_value_t = 0.02)]
    prune: f64,
    /// Most L-BFGS iterations.
    #[arg(long, default_value_t = 400)]
    max_iter: usize,
    /// Fit the bias too (default: keep it at the classes' log-odds).
    #[arg(long)]
    fit_bias: bool,
    /// Probability thresholds to report in cross-validation.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.5,0.8,0.9,0.95,0.97,0.98,0.99,0.995,0.999"
    )]
    thresholds: Vec<f64>,
    /// Probability at which grouped cross-validation lists each source's
    /// flagged ham.
    #[arg(long, default_value_t = 0.9)]
    source_threshold: f64,
    /// Write grouped cross-validation's out-of-fold probabilities here
    /// (file, source, label, probability, features the model knows;
    /// tab-separated), to tune what the
    /// rest of the pipeline does with them.
    #[arg(long, requires = "group_cv")]
    oof: Option<PathBuf>,
    /// Also train on renditions of the plain-text ham in other formats
    /// (quoted-printable Latin-1, multipart/alternative with HTML, base64
    /// HTML), a message and its renditions weighing one message together;
    /// see [`renditions`].
    #[arg(long)]
    renditions: bool,
    /// Train on the same renditions of the plain-text spam too, so that
    /// neither class owns a format.
    #[arg(long, requires = "renditions")]
    spam_renditions: bool,
    /// Write grouped cross-validation's rendered ham (the windows-1252 HTML
    /// rendition of each plain-text ham, never trained on) here, one file
    /// per message, named as its original; `--oof` then names them by
    /// these paths, so a scan of the directory gives the rest of the
    /// pipeline's scores for them (`scripts/simulate-bands.py`).
    #[arg(long, requires = "oof")]
    rendered_out: Option<PathBuf>,
    /// Weigh each ham source (see `--group-cv`) by its size to the power
    /// -ALPHA, scaled so the ham weighs what it did: 0 (the default)
    /// weighs every message the same, 1 every source.
    #[arg(long, value_name = "ALPHA", default_value_t = 0.0)]
    source_balance: f64,
    /// How grouped cross-validation splits the spam into its folds; see
    /// [`SpamFolds`].
    #[arg(long, value_enum, default_value_t = SpamFolds::Interleaved)]
    spam_folds: SpamFolds,
    /// Write every training document's features here, one line each
    /// (name, label, source, message number, rendition, weight, distinct
    /// features, then the features; tab-separated), to study other models
    /// on the very features the check sees.
    #[arg(long, value_name = "FILE")]
    dump_features: Option<PathBuf>,
}

/// The SpamAssassin corpus's groups (`scripts/fetch-corpus.sh`), which the
/// model file's retrain line names relative to the corpus, `$C/GROUP`.
const CORPUS_GROUPS: [&str; 5] = ["easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"];

/// One tokenized message.
struct Doc {
    name: String,
    /// Distinct features that can be stored in a model file.
    features: Vec<String>,
    /// Distinct features in all (the norm's n).
    distinct: usize,
    spam: bool,
    /// Where the message came from (see [`groups::source`]).
    source: String,
    /// Weight in the loss: 1, shared with its renditions.
    weight: f64,
    /// The message's number within its class (its renditions share it).
    message: usize,
    /// `None` for the message as written.
    rendition: Option<Rendition>,
}

impl Doc {
    fn new(name: String, msg: &Message<'_>, spam: bool, drop: &[String]) -> Doc {
        let mut set = BTreeSet::new();
        features(msg, &mut |t| {
            if !set.contains(t) {
                set.insert(t.to_string());
            }
        });
        let distinct = set.len();
        let features = set
            .into_iter()
            .filter(|t| !t.contains(['\t', '\n', '\r']))
            .filter(|t| {
                !drop
                    .iter()
                    .any(|d| d == family(t) || d.len() > 1 && t.starts_with(d.as_str()))
            })
            .collect();
        Doc {
            name,
            features,
            distinct,
            spam,
            source: groups::source(msg),
            weight: 1.0,
            message: 0,
            rendition: None,
        }
    }
}

/// The family of a feature: its tokenizer prefix, or `w` for a word.
fn family(f: &str) -> &str {
    match f.find([':', '!']) {
        Some(1) if f.is_char_boundary(1) => &f[..1],
        _ => "w",
    }
}

/// The messages of `paths`; with `renditions`, each plain-text one also in
/// the trained renditions' formats. The second list is the probes: every
/// plain-text ham rendered as [`Rendition::HtmlQp1252`], never trained on
/// (none for spam).
fn load(
    paths: &[PathBuf],
    spam: bool,
    drop: &[String],
    renditions: bool,
    rendered_out: Option<&Path>,
) -> Result<(Vec<Doc>, Vec<Doc>)> {
    if let Some(dir) = rendered_out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let (mut docs, mut probes) = (Vec::new(), Vec::new());
    let mut written = BTreeSet::new();
    // Files, directories (a Maildir too) and mbox files, one message at a
    // time; `message` counts the class's messages.
    let mut message = 0;
    for f in mailward_corpus::files(paths)? {
        for item in mailward_corpus::read_file(&f)? {
            let raw = item.bytes;
            let msg = Message::parse(&raw);
            let name = item.label;
            let rendered = |r: Rendition| {
                let raw = renditions::render(&msg, r)?;
                let mut d = Doc::new(format!("{name}#{r:?}"), &Message::parse(&raw), spam, drop);
                d.message = message;
                d.rendition = Some(r);
                Some((d, raw))
            };
            let probe = if spam {
                None
            } else {
                rendered(Rendition::HtmlQp1252)
            };
            if let Some((mut d, raw)) = probe {
                // `box#3` for an mbox's third message: one file each.
                if let (Some(dir), Some(file)) = (rendered_out, Path::new(&name).file_name()) {
                    let path = dir.join(file);
                    if !written.insert(path.clone()) {
                        bail!(
                            "two ham messages would be rendered as {} (the second is {name}): \
                             give --rendered-out inputs with distinct file names",
                            path.display()
                        );
                    }
                    std::fs::write(&path, raw).with_context(|| format!("writing {}", path.display()))?;
                    d.name = path.display().to_string();
                }
                probes.push(d);
            }
            let extra: Vec<Doc> = if renditions {
                renditions::TRAINED
                    .iter()
                    .filter_map(|r| rendered(*r).map(|(d, _)| d))
                    .collect()
            } else {
                Vec::new()
            };
            let mut d = Doc::new(name, &msg, spam, drop);
            d.message = message;
            let share = 1.0 / (1 + extra.len()) as f64;
            d.weight = share;
            docs.push(d);
            docs.extend(extra.into_iter().map(|mut e| {
                e.weight = share;
                e
            }));
            message += 1;
        }
    }
    Ok((docs, probes))
}

/// Multiplies each ham message's weight (with its renditions') by its
/// source's size to the power `-alpha`, scaled so the ham's total weight
/// is unchanged.
fn balance_sources(docs: &mut [Doc], alpha: f64) {
    let mut size: BTreeMap<String, usize> = BTreeMap::new();
    for d in docs.iter().filter(|d| !d.spam && d.rendition.is_none()) {
        *size.entry(d.source.clone()).or_default() += 1;
    }
    let n: usize = size.values().sum();
    let total: f64 = size.values().map(|&k| (k as f64).powf(1.0 - alpha)).sum();
    let scale = n as f64 / total;
    // A rendition counts with its message's source.
    let factor: BTreeMap<usize, f64> = docs
        .iter()
        .filter(|d| !d.spam && d.rendition.is_none())
        .map(|d| (d.message, scale * (size[&d.source] as f64).powf(-alpha)))
        .collect();
    for d in docs.iter_mut().filter(|d| !d.spam) {
        d.weight *= factor[&d.message];
    }
}

/// Features with enough document frequency in `docs`, sorted.
fn vocabulary<'d>(docs: impl Iterator<Item = &'d Doc>, min_df: usize) -> Vec<String> {
    let mut df: BTreeMap<&str, usize> = BTreeMap::new();
    for d in docs {
        for f in &d.features {
            *df.entry(f.as_str()).or_default() += 1;
        }
    }
    df.into_iter()
        .filter(|(_, n)| *n >= min_df)
        .map(|(f, _)| f.to_string())
        .collect()
}

fn examples<'d>(docs: impl Iterator<Item = &'d Doc>, vocab: &[String]) -> Vec<Example> {
    docs.map(|d| Example {
        features: d
            .features
            .iter()
            .filter_map(|f| vocab.binary_search(f).ok().map(|i| i as u32))
            .collect(),
        value: 1.0 / (d.distinct.max(1) as f64).sqrt(),
        spam: d.spam,
        weight: d.weight,
    })
    .collect()
}

/// Fits on `docs` and prunes small weights, as the written model will be.
fn train<'d>(docs: impl Iterator<Item = &'d Doc> + Clone, a: &Args) -> (Vec<String>, Fit) {
    let vocab = vocabulary(docs.clone(), a.min_df);
    let data = examples(docs, &vocab);
    let params = Params {
        l2: a.l2,
        ham_weight: a.ham_weight,
        max_iter: a.max_iter,
        fixed_bias: !a.fit_bias,
    };
    let mut fit = lr::fit(&data, vocab.len(), &params);
    for w in &mut fit.weights {
        // The file keeps 4 decimals; prune what it would not keep.
        *w = if w.abs() < a.prune {
            0.0
        } else {
            (*w * 1e4).round() / 1e4
        };
    }
    fit.bias = (fit.bias * 1e6).round() / 1e6;
    (vocab, fit)
}

/// How many of `d`'s features the fitted model has a weight for.
fn known(vocab: &[String], fit: &Fit, d: &Doc) -> usize {
    d.features
        .iter()
        .filter(|f| vocab.binary_search(f).is_ok_and(|i| fit.weights[i] != 0.0))
        .count()
}

fn probability(vocab: &[String], fit: &Fit, d: &Doc) -> f64 {
    let e = &examples(std::iter::once(d), vocab)[0];
    1.0 / (1.0 + (-fit.logit(e)).exp())
}

/// The (probability, is spam) pairs of the messages as written: what
/// cross-validation judges (renditions only help the fit).
fn written_scores(probabilities: &[f64], docs: &[Doc]) -> Vec<(f64, bool)> {
    probabilities
        .iter()
        .zip(docs)
        .filter(|(_, d)| d.rendition.is_none())
        .map(|(p, d)| (*p, d.spam))
        .collect()
}

/// How many of `scored` are ham, and how many spam.
fn class_sizes(scored: &[(f64, bool)]) -> (usize, usize) {
    let spam = scored.iter().filter(|(_, s)| *s).count();
    (scored.len() - spam, spam)
}

/// Area under the ROC curve of (probability, is spam) pairs.
fn auc(scored: &[(f64, bool)]) -> f64 {
    let mut v = scored.to_vec();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut rank_sum, mut pos) = (0.0, 0.0);
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j < v.len() && v[j].0 == v[i].0 {
            j += 1;
        }
        let avg_rank = (i + j + 1) as f64 / 2.0;
        for x in &v[i..j] {
            if x.1 {
                rank_sum += avg_rank;
                pos += 1.0;
            }
        }
        i = j;
    }
    let neg = v.len() as f64 - pos;
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg).max(1.0)
}

fn cross_validate(docs: &[Doc], k: usize, a: &Args) -> String {
    let mut report = String::new();
    // Fold = the message's position within its class, modulo k (files
    // are sorted); renditions go with their message.
    let fold: Vec<usize> = docs.iter().map(|d| d.message % k).collect();
    let mut oof = vec![0.0; docs.len()];
    for f in 0..k {
        let train_docs = docs
            .iter()
            .enumerate()
            .filter(|(i, _)| fold[*i] != f)
            .map(|(_, d)| d);
        let (vocab, fit) = train(train_docs, a);
        for (i, d) in docs.iter().enumerate() {
            if fold[i] == f {
                oof[i] = probability(&vocab, &fit, d);
            }
        }
    }
    let scored = written_scores(&oof, docs);
    let (nh, ns) = class_sizes(&scored);
    let _ = writeln!(
        report,
        "# {k}-fold cross-validation on the training data (out-of-fold):"
    );
    let _ = writeln!(report, "#   AUC {:.5}", auc(&scored));
    for t in &a.thresholds {
        let fp = scored.iter().filter(|(p, s)| !s && *p >= *t).count();
        let tp = scored.iter().filter(|(p, s)| *s && *p >= *t).count();
        let _ = writeln!(
            report,
            "#   p >= {t:<6} ham flagged {fp:>4}/{nh} ({:.2} %), spam caught {tp:>4}/{ns} ({:.2} %)",
            100.0 * fp as f64 / nh.max(1) as f64,
            100.0 * tp as f64 / ns.max(1) as f64
        );
    }
    let mut worst: Vec<(f64, &str)> = docs
        .iter()
        .zip(&oof)
        .filter(|(d, _)| !d.spam && d.rendition.is_none())
        .map(|(d, p)| (*p, d.name.as_str()))
        .collect();
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (p, n) in worst.iter().take(5) {
        let short = n.rsplit('/').next().unwrap_or(n);
        let _ = writeln!(report, "#   most spam-like ham: p={p:.4} {short}");
    }
    let mut missed: Vec<(f64, &str)> = docs
        .iter()
        .zip(&oof)
        .filter(|(d, _)| d.spam && d.rendition.is_none())
        .map(|(d, p)| (*p, d.name.as_str()))
        .collect();
    missed.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (p, n) in missed.iter().take(5) {
        let short = n.rsplit('/').next().unwrap_or(n);
        let _ = writeln!(report, "#   most ham-like spam: p={p:.4} {short}");
    }
    report
}

/// Leave-one-source-out for the ham, 5 folds for the spam; see
/// [`groups`].
fn group_cross_validate(docs: &[Doc], probes: &[Doc], min_source: usize, a: &Args) -> String {
    // Sources are sized by their messages as written.
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for d in docs.iter().filter(|d| !d.spam && d.rendition.is_none()) {
        *sizes.entry(d.source.as_str()).or_default() += 1;
    }
    // Each ham group's documents, by index.
    let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, d) in docs.iter().enumerate().filter(|(_, d)| !d.spam) {
        let group = if sizes[d.source.as_str()] >= min_source {
            d.source.as_str()
        } else {
            "(small sources)"
        };
        members.entry(group).or_default().push(i);
    }
    // Each group's probes: a source with no group of its own (small, or
    // without training ham) is one of the small sources.
    let mut probes_of: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, d) in probes.iter().enumerate() {
        let group = match sizes.get(d.source.as_str()) {
            Some(n) if *n >= min_source => d.source.as_str(),
            _ => "(small sources)",
        };
        probes_of.entry(group).or_default().push(i);
    }
    let mut oof = vec![0.0; docs.len()];
    let mut known_oof = vec![0usize; docs.len()];
    let mut probe_oof = vec![0.0; probes.len()];
    let mut probe_known = vec![0usize; probes.len()];
    // Trains without the documents `held` (sorted indices) and scores them
    // and the probes `probing`.
    let mut hold_out = |held: &[usize], probing: &[usize]| {
        let train_docs = docs
            .iter()
            .enumerate()
            .filter(|(i, _)| held.binary_search(i).is_err())
            .map(|(_, d)| d);
        let (vocab, fit) = train(train_docs, a);
        for &i in held {
            oof[i] = probability(&vocab, &fit, &docs[i]);
            known_oof[i] = known(&vocab, &fit, &docs[i]);
        }
        for &i in probing {
            probe_oof[i] = probability(&vocab, &fit, &probes[i]);
            probe_known[i] = known(&vocab, &fit, &probes[i]);
        }
    };
    for (group, held) in &members {
        hold_out(held, probes_of.get(group).map_or(&[], Vec::as_slice));
    }
    const SPAM_FOLDS: usize = 5;
    let spam_idx: Vec<usize> = (0..docs.len()).filter(|i| docs[*i].spam).collect();
    let n_spam = spam_idx.iter().map(|i| docs[*i].message + 1).max().unwrap_or(0);
    let fold = |message: usize| a.spam_folds.fold(message, n_spam, SPAM_FOLDS);
    for f in 0..SPAM_FOLDS {
        let held: Vec<usize> = spam_idx
            .iter()
            .copied()
            .filter(|i| fold(docs[*i].message) == f)
            .collect();
        hold_out(&held, &[]);
    }
    // Judged on the messages as written.
    let written = |i: &&usize| docs[**i].rendition.is_none();
    let flagged_in = |held: &[usize], t: f64| held.iter().filter(written).filter(|i| oof[**i] >= t).count();
    let mut report = String::new();
    let _ = writeln!(
        report,
        "# Grouped cross-validation: each of {} ham sources (>= {min_source} messages; smaller ones together) scored by a model trained without it; spam in {SPAM_FOLDS} folds{}:",
        members.len(),
        if a.spam_folds == SpamFolds::Blocks {
            " of consecutive files"
        } else {
            ""
        }
    );
    let scored = written_scores(&oof, docs);
    let (nh, ns) = class_sizes(&scored);
    let _ = writeln!(report, "#   AUC {:.5}", auc(&scored));
    for t in &a.thresholds {
        let fp = scored.iter().filter(|(p, s)| !s && *p >= *t).count();
        let tp = scored.iter().filter(|(p, s)| *s && *p >= *t).count();
        let mut worst = (0.0, "");
        for (g, held) in &members {
            let rate = flagged_in(held, *t) as f64 / held.iter().filter(written).count().max(1) as f64;
            if rate > worst.0 {
                worst = (rate, g);
            }
        }
        let _ = writeln!(
            report,
            "#   p >= {t:<6} ham flagged {fp:>4}/{nh} ({:.2} %), spam caught {tp:>4}/{ns} ({:.2} %), worst source {:.1} % {}",
            100.0 * fp as f64 / nh.max(1) as f64,
            100.0 * tp as f64 / ns.max(1) as f64,
            100.0 * worst.0,
            worst.1
        );
    }
    if !probes.is_empty() {
        let n = probes.len();
        let _ = writeln!(
            report,
            "# The same ham rendered as windows-1252 quoted-printable HTML ({n} plain-text messages; a format never trained on), each scored by the model without its source:"
        );
        for t in &a.thresholds {
            let fp = probe_oof.iter().filter(|p| **p >= *t).count();
            let _ = writeln!(
                report,
                "#   p >= {t:<6} rendered ham flagged {fp:>4}/{n} ({:.2} %)",
                100.0 * fp as f64 / n as f64
            );
        }
    }
    let t = a.source_threshold;
    let mut line = format!("#   ham flagged at p >= {t} by source:");
    for (g, held) in &members {
        let n = held.iter().filter(written).count();
        let _ = write!(line, " {g} {}/{n};", flagged_in(held, t));
    }
    let _ = writeln!(report, "{}", line.trim_end_matches(';'));
    if let Some(path) = &a.oof {
        let mut out = String::new();
        for ((d, p), k) in docs.iter().zip(&oof).zip(&known_oof) {
            if d.rendition.is_some() {
                continue;
            }
            let label = if d.spam { "spam" } else { "ham" };
            let _ = writeln!(out, "{}\t{}\t{label}\t{p:.6}\t{k}", d.name, d.source);
        }
        for ((d, p), k) in probes.iter().zip(&probe_oof).zip(&probe_known) {
            let _ = writeln!(out, "{}\t{}\trendered-ham\t{p:.6}\t{k}", d.name, d.source);
        }
        if let Err(e) = std::fs::write(path, out) {
            eprintln!("mailward-train: writing {}: {e}", path.display());
        }
    }
    report
}

/// Writes `docs` for [`Args::dump_features`].
fn dump_features(docs: &[Doc], path: &Path) -> Result<()> {
    let mut out = String::new();
    for d in docs {
        if d.name.contains(['\t', '\n', '\r']) {
            bail!("cannot dump {:?}: the file name has a tab or line break", d.name);
        }
        let label = if d.spam { "spam" } else { "ham" };
        let rendition = d.rendition.map_or("-".to_string(), |r| format!("{r:?}"));
        let _ = write!(
            out,
            "{}\t{label}\t{}\t{}\t{rendition}\t{}\t{}",
            d.name, d.source, d.message, d.weight, d.distinct
        );
        for f in &d.features {
            let _ = write!(out, "\t{f}");
        }
        out.push('\n');
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

fn main() -> Result<()> {
    let a = Args::parse();
    let rendered_out = a.rendered_out.as_deref();
    let (mut docs, probes) = load(&a.ham, false, &a.drop, a.renditions, rendered_out)?;
    docs.extend(load(&a.spam, true, &a.drop, a.spam_renditions, None)?.0);
    let n_ham = docs.iter().filter(|d| !d.spam && d.rendition.is_none()).count();
    let n_rendered = docs.iter().filter(|d| !d.spam && d.rendition.is_some()).count();
    let n_spam = docs.iter().filter(|d| d.spam && d.rendition.is_none()).count();
    let n_spam_rendered = docs.iter().filter(|d| d.spam && d.rendition.is_some()).count();
    if n_ham == 0 || n_spam == 0 {
        bail!("need both ham ({n_ham}) and spam ({n_spam}) messages");
    }
    eprintln!("{n_ham} ham ({n_rendered} renditions), {n_spam} spam ({n_spam_rendered} renditions) messages");
    if a.source_balance != 0.0 {
        balance_sources(&mut docs, a.source_balance);
    }
    if let Some(path) = &a.dump_features {
        dump_features(&docs, path)?;
    }
    let cv = match a.cv {
        Some(k) if k >= 2 => {
            let r = cross_validate(&docs, k, &a);
            eprint!("{r}");
            r
        }
        Some(_) => bail!("--cv needs at least 2 folds"),
        None => String::new(),
    };
    let cv = match a.group_cv {
        Some(min) => {
            let r = group_cross_validate(&docs, &probes, min.max(1), &a);
            eprint!("{r}");
            cv + &r
        }
        None => cv,
    };
    let Some(out) = &a.out else { return Ok(()) };
    let (vocab, fit) = train(docs.iter(), &a);
    let kept: Vec<(&String, f64)> = vocab
        .iter()
        .zip(&fit.weights)
        .filter(|(_, w)| **w != 0.0)
        .map(|(f, w)| (f, *w))
        .collect();
    // The corpus's groups as `$C/GROUP` (wherever the cache is), anything
    // else (a site's own mail) as given.
    let name_of = |p: &PathBuf| match p.file_name().and_then(|n| n.to_str()) {
        Some(group) if CORPUS_GROUPS.contains(&group) => format!("$C/{group}"),
        _ => p.display().to_string(),
    };
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# mailward classifier: logistic regression over the tokenizer's features."
    );
    let _ = writeln!(
        text,
        "# Written by mailward-train; do not edit by hand. Retrain with:"
    );
    let _ = writeln!(
        text,
        "#   cargo run --release -p mailward-train -- --ham {} --spam {} --l2 {} --ham-weight {} --min-df {} --prune {} --max-iter {}{}{}{}{}{}{} --out {}",
        a.ham.iter().map(name_of).collect::<Vec<_>>().join(" "),
        a.spam.iter().map(name_of).collect::<Vec<_>>().join(" "),
        a.l2,
        a.ham_weight,
        a.min_df,
        a.prune,
        a.max_iter,
        if a.fit_bias { " --fit-bias" } else { "" },
        match (a.renditions, a.spam_renditions) {
            (true, true) => " --renditions --spam-renditions",
            (true, false) => " --renditions",
            _ => "",
        },
        if a.source_balance == 0.0 {
            String::new()
        } else {
            format!(" --source-balance {}", a.source_balance)
        },
        a.cv.map_or(String::new(), |k| format!(" --cv {k}")),
        a.group_cv.map_or(String::new(), |k| format!(
            " --group-cv {k}{}",
            if a.spam_folds == SpamFolds::Blocks {
                " --spam-folds blocks"
            } else {
                ""
            }
        )),
        if a.drop.is_empty() {
            String::new()
        } else {
            format!(" --drop '{}'", a.drop.join(","))
        } + &format!(
            " --thresholds {}",
            a.thresholds
                .iter()
                .map(f64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
        out.display()
    );
    let _ = writeln!(text, "#   (C=$(scripts/fetch-corpus.sh))");
    let _ = writeln!(
        text,
        "# Trained on {n_ham} ham{} and {n_spam} spam{}; vocabulary {} features (df >= {}), {} kept (|w| >= {}), {} L-BFGS iterations.",
        if n_rendered > 0 {
            format!(" (and {n_rendered} renditions of it; a message and its renditions weigh one message)")
        } else {
            String::new()
        },
        if n_spam_rendered > 0 {
            format!(" (and {n_spam_rendered} renditions of it)")
        } else {
            String::new()
        },
        vocab.len(),
        a.min_df,
        kept.len(),
        a.prune,
        fit.iterations
    );
    text.push_str(&cv);
    let _ = writeln!(text, "mailward-model {FORMAT_VERSION}");
    let _ = writeln!(text, "tokenizer {TOKENIZER_VERSION}");
    let _ = writeln!(text, "norm l2");
    let _ = writeln!(text, "bias {}", fit.bias);
    for (f, w) in kept {
        let _ = writeln!(text, "{w}\t{f}");
    }
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Doc, balance_sources, dump_features, load};
    use mailward_core::message::Message;
    use std::path::PathBuf;

    #[test]
    fn source_balance_keeps_the_ham_weight_and_evens_the_sources() {
        let msg = Message::parse(b"Subject: x\n\nhello there\n");
        let doc = |source: &str, message: usize, spam: bool, weight: f64, rendition: bool| {
            let mut d = Doc::new(format!("{source}{message}"), &msg, spam, &[]);
            d.source = source.to_string();
            d.message = message;
            d.weight = weight;
            d.rendition = rendition.then_some(super::Rendition::HtmlBase64);
            d
        };
        // Source a: four messages, the first with a rendition (half weight
        // each); source b: one message; one spam.
        let docs = || {
            let mut docs = vec![doc("a", 0, false, 0.5, false), doc("a", 0, false, 0.5, true)];
            docs.extend((1..4).map(|m| doc("a", m, false, 1.0, false)));
            docs.push(doc("b", 4, false, 1.0, false));
            docs.push(doc("s", 0, true, 1.0, false));
            docs
        };
        let weight_of = |docs: &[Doc], source: &str| -> f64 {
            docs.iter()
                .filter(|d| d.source == source && !d.spam)
                .map(|d| d.weight)
                .sum()
        };
        let mut even = docs();
        balance_sources(&mut even, 1.0);
        let (a, b) = (weight_of(&even, "a"), weight_of(&even, "b"));
        assert!((a - 2.5).abs() < 1e-9 && (b - 2.5).abs() < 1e-9, "a {a}, b {b}");
        assert!(
            (even[0].weight - even[1].weight).abs() < 1e-12,
            "a rendition shares its message's factor"
        );
        assert_eq!(even.last().unwrap().weight, 1.0, "spam is not reweighed");
        let mut sqrt = docs();
        balance_sources(&mut sqrt, 0.5);
        let (a, b) = (weight_of(&sqrt, "a"), weight_of(&sqrt, "b"));
        assert!(
            (a + b - 5.0).abs() < 1e-9 && (a / b - 2.0).abs() < 1e-9,
            "a {a}, b {b}"
        );
    }

    /// An empty directory of this test process's own, named by `tag`.
    fn scratch_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mailward-train-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The dump holds every document, renditions too, with what the model
    /// is fitted on: label, source, message, weight, the norm's count and
    /// the features, so `scripts/model-variants.py` refits the same model.
    #[test]
    fn dumped_features_are_what_the_model_is_fitted_on() {
        let dir = scratch_dir("dump");
        let ham = dir.join("ham.eml");
        std::fs::write(
            &ham,
            "From: alice@example.org\nSubject: minutes\n\nThe minutes are attached.\n",
        )
        .unwrap();
        let (mut docs, _) = load(&[ham], false, &["s".to_string()], true, None).unwrap();
        docs[0].source = "list:example".to_string();
        let path = dir.join("dump.tsv");
        dump_features(&docs, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(lines.len(), docs.len(), "{text}");
        assert!(docs.len() > 1, "the message has renditions");
        for (cols, d) in lines.iter().zip(&docs) {
            assert_eq!(cols[0], d.name);
            assert_eq!(cols[1], "ham");
            assert_eq!(cols[2], d.source);
            assert_eq!(cols[3].parse::<usize>().unwrap(), d.message);
            assert_eq!(cols[4] == "-", d.rendition.is_none());
            assert!((cols[5].parse::<f64>().unwrap() - d.weight).abs() < 1e-12);
            assert_eq!(cols[6].parse::<usize>().unwrap(), d.distinct);
            assert_eq!(
                cols[7..],
                d.features.iter().map(String::as_str).collect::<Vec<_>>()[..]
            );
        }
        let first = &lines[0];
        assert_eq!(first[2], "list:example");
        assert!(first[7..].contains(&"minutes"), "{first:?}");
        assert!(
            !first[7..].iter().any(|f| f.starts_with("s:")),
            "dropped families stay out: {first:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `--spam-renditions`: plain-text spam gets the trained renditions,
    /// which share its weight and its message number (so its fold), and
    /// no probe.
    #[test]
    fn spam_renditions_share_the_message() {
        let dir = scratch_dir("spam-r");
        let spam = dir.join("spam.eml");
        std::fs::write(
            &spam,
            "From: x@example.biz\nSubject: offer\n\nCheap offer, click now.\n",
        )
        .unwrap();
        let (docs, probes) = load(&[spam], true, &[], true, None).unwrap();
        assert!(probes.is_empty());
        assert_eq!(docs.len(), 1 + super::renditions::TRAINED.len());
        assert!(docs.iter().all(|d| d.spam && d.message == 0));
        let weight: f64 = docs.iter().map(|d| d.weight).sum();
        assert!((weight - 1.0).abs() < 1e-9, "{weight}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A site trains on its own exports: an mbox gives one training message
    /// per mail, each with its renditions, and its probes get a file each.
    #[test]
    fn an_mbox_gives_one_message_per_mail() {
        let dir = scratch_dir("mbox");
        std::fs::create_dir_all(dir.join("maildir/cur")).unwrap();
        let mbox = dir.join("ham.mbox");
        std::fs::write(
            &mbox,
            "From alice@example.org Thu Aug 22 12:36:23 2002\nFrom: alice@example.org\nSubject: minutes\n\n\
             The minutes of the meeting are attached.\n\
             From bob@example.net Fri Aug 23 01:02:03 2002\nFrom: bob@example.net\nSubject: patch\n\n\
             Here is the patch for the build.\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("maildir/cur/1.eml"),
            "From: carol@example.com\nSubject: lunch\n\nLunch on Friday?\n",
        )
        .unwrap();
        let rendered = dir.join("rendered");
        let paths: Vec<PathBuf> = vec![mbox, dir.join("maildir")];
        let (docs, probes) = load(&paths, false, &[], true, Some(&rendered)).unwrap();

        let originals: Vec<_> = docs.iter().filter(|d| d.rendition.is_none()).collect();
        let names: Vec<_> = originals
            .iter()
            .map(|d| d.name.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names, ["ham.mbox#1", "ham.mbox#2", "1.eml"]);
        assert_eq!(originals.iter().map(|d| d.message).collect::<Vec<_>>(), [0, 1, 2]);
        for m in 0..3 {
            let weight: f64 = docs.iter().filter(|d| d.message == m).map(|d| d.weight).sum();
            assert!(
                (weight - 1.0).abs() < 1e-9,
                "message {m} with its renditions weighs {weight}"
            );
        }
        assert!(
            originals[1].features.iter().any(|f| f == "patch"),
            "{:?}",
            originals[1].features
        );
        assert_eq!(probes.len(), 3);
        for file in ["ham.mbox#1", "ham.mbox#2", "1.eml"] {
            assert!(rendered.join(file).is_file(), "no rendered {file}");
        }
        // Two inputs of the same file name would overwrite each other's
        // rendition: refused, naming both.
        std::fs::create_dir_all(dir.join("other")).unwrap();
        std::fs::copy(dir.join("maildir/cur/1.eml"), dir.join("other/1.eml")).unwrap();
        let twice = vec![dir.join("maildir"), dir.join("other")];
        let Err(e) = load(&twice, false, &[], false, Some(&rendered)) else {
            panic!("two inputs named 1.eml were both rendered");
        };
        let e = e.to_string();
        assert!(e.contains("rendered as") && e.contains("other/1.eml"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
