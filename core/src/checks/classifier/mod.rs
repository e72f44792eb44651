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
    cx.env.log(
        crate::Level::Debug,
        &format!(
            "classifier: {} features, {} known, logit {:.4}, p {:.6}",
            hashes.len(),
            score.known,
            score.logit,
            score.probability
        ),
    );
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

#[cfg(test)]
mod tests {
    use crate::dns::Offline;
    use crate::{Envelope, Filter, ResolverEnv};

    fn filter(min_features: usize) -> Filter {
        let mut pack = String::from(
            "[pack]\nname = \"t\"\nversion = \"1.0.0\"\n[actions]\nadd-header = 5\nquarantine = 8\nreject = 12\n\
             [lists]\nfreemail = []\nurl-shorteners = []\nfreemail-relays = []\n\
             executable-extensions = []\nmacro-extensions = []\ndecoy-extensions = []\n",
        );
        for s in crate::checks::code_symbols() {
            pack.push_str(&format!("[symbols.{s}]\nscore = 0\ndescription = \"d\"\n"));
        }
        pack.push_str(&format!(
            "[model]\nfile = \"m.model\"\nmin-features = {min_features}\n\
             [[rule]]\nname = \"LOW\"\ntype = \"model\"\nrange = [0.0, 0.5]\nscore = -1\ndescription = \"d\"\n\
             [[rule]]\nname = \"HIGH\"\ntype = \"model\"\nrange = [0.5, 1.0]\nscore = 6\ndescription = \"d\"\n"
        ));
        let model = format!(
            "mailward-model 1\ntokenizer {}\nnorm none\nbias -1\n3\tviagra\n2\ts:cheap\n-4\tpatch\n",
            super::TOKENIZER_VERSION
        );
        Filter::from_sources(&[("t.toml", &pack), ("m.model", &model)]).unwrap()
    }

    fn run(f: &Filter, raw: &str) -> crate::Verdict {
        f.check(
            &ResolverEnv::new(&Offline, 0, 10),
            &Envelope::default(),
            raw.as_bytes(),
        )
    }

    #[test]
    fn bands_fire_by_probability_with_the_strongest_features() {
        let f = filter(1);
        let v = run(&f, "Subject: cheap pills\r\n\r\nBuy viagra now\r\n");
        let high = v.symbols.iter().find(|s| s.name == "HIGH").expect("HIGH fires");
        assert!(high.options[0].starts_with("p=0.98"), "{high:?}");
        assert_eq!(&high.options[1..], ["viagra", "s:cheap"]);
        let v = run(&f, "Subject: review\r\n\r\nHere is the patch for viagra\r\n");
        assert!(v.has("LOW") && !v.has("HIGH"), "{:?}", v.symbols);
    }

    #[test]
    fn too_few_known_features_fire_nothing() {
        let v = run(&filter(2), "Subject: hello\r\n\r\nviagra\r\n");
        assert!(!v.has("LOW") && !v.has("HIGH"), "{:?}", v.symbols);
    }
}
