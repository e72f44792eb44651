//! The statistical classifier: a logistic-regression model over the
//! message's features, shipped in the rule pack (`[model]`), firing the
//! pack's `type = "model"` rules by spam-probability band (`BAYES_00` …
//! `BAYES_99`).
//!
//! Features come from [`tokenize::features`], the same function the
//! training tool (`tools/train`) uses, so training and checking see the
//! same tokens. The model's table is built when the pack compiles (in
//! `configure`); a check hashes the message's features and looks them up.

pub mod tokenize;

pub use tokenize::{TOKENIZER_VERSION, features};

use super::{Context, Findings};
use crate::message::Message;
use crate::pack::model::feature_hash;

/// How many of the strongest spam features a band symbol lists.
const TOP_FEATURES: usize = 3;

/// The distinct feature hashes of `msg`, sorted.
pub fn feature_hashes(msg: &Message<'_>) -> Vec<u64> {
    let mut hashes = Vec::with_capacity(1024);
    features(msg, &mut |f| hashes.push(feature_hash(f)));
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// The spam probability of `msg` under the pack's model, if it has one.
pub fn probability(cx: &Context<'_>) -> Option<f64> {
    let model = cx.pack.model.as_ref()?;
    Some(model.score(&feature_hashes(cx.message), 0).probability)
}

/// Runs the classifier and fires the band the probability falls in, when
/// the model knows enough of the message's features to judge it.
pub fn check(cx: &Context<'_>, findings: &mut Findings) {
    let Some(model) = &cx.pack.model else { return };
    let hashes = feature_hashes(cx.message);
    let score = model.score(&hashes, TOP_FEATURES);
    if score.known < cx.pack.model_min_features {
        return;
    }
    let p = score.probability;
    if let Some(band) = cx.pack.bands.iter().find(|b| b.contains(p)) {
        findings.fire_index(band.symbol, &format!("p={p:.4}"));
        for f in &score.top {
            findings.fire_index(band.symbol, f);
        }
    }
}
