//! The default rule pack's data: scores, thresholds, rule text and models.
//!
//! The files under `rules/pack/` are compiled and validated when this crate
//! builds (see `build.rs`); the wasm rule pack and native tools embed the
//! very same text through [`SOURCES`].

include!(concat!(env!("OUT_DIR"), "/sources.rs"));

/// Compiles the default pack into a filter with default settings.
///
/// The build already validated the pack, so an error here means the
/// embedded text and the core disagree (a bug, reported as an error).
pub fn default_filter() -> Result<mailward_core::Filter, mailward_core::PackError> {
    mailward_core::Filter::from_sources(SOURCES)
}

#[cfg(test)]
mod tests {
    use mailward_core::checks::classifier::feature_hashes;
    use mailward_core::message::Message;

    const SEED: &[u8] = include_bytes!("../../tests/data/seed/seed-phish.eml");

    #[test]
    fn classifier_model_loads_deterministically() {
        let a = super::default_filter().unwrap();
        let b = super::default_filter().unwrap();
        let (ma, mb) = (a.pack().model.as_ref().unwrap(), b.pack().model.as_ref().unwrap());
        assert_eq!(ma, mb, "two loads of the pack give the same model table");
        assert!(ma.len() > 1000, "the model has {} features", ma.len());
        assert_eq!(a.pack().bands, b.pack().bands);
        let msg = Message::parse(SEED);
        let h1 = feature_hashes(&msg);
        let h2 = feature_hashes(&Message::parse(SEED));
        assert_eq!(h1, h2, "the tokenizer is deterministic");
        let (s1, s2) = (ma.score(&h1, 3), mb.score(&h2, 3));
        assert_eq!(s1, s2);
        assert!(s1.probability > 0.9, "the seed's lure scores as spam: {s1:?}");
        assert!(s1.known >= a.pack().model_min_features);
    }

    #[test]
    fn default_pack_compiles_and_has_a_version() {
        let f = super::default_filter().unwrap();
        assert_eq!(f.info().name, "mailward-default");
        assert!(!super::SOURCES.is_empty());
        assert_eq!(
            f.pack().lazy_rules(),
            Vec::<&str>::new(),
            "every rule fits a full DFA"
        );
    }

    /// Regression (two header rules written with `\w` cost 1.8 MiB of every
    /// instance's memory, and about 2 µs of every fresh instance): no rule
    /// of the default pack holds more than
    /// [`mailward_core::pack::LARGE_RULE_BYTES`] of automata.
    #[test]
    fn no_rule_of_the_default_pack_has_a_large_automaton() {
        let f = super::default_filter().unwrap();
        let all = f.pack().large_rules(0);
        assert!(all.len() > 50, "sizes of {} rules", all.len());
        eprintln!("largest automata: {:?}", &all[..8]);
        assert_eq!(
            f.pack().large_rules(mailward_core::pack::LARGE_RULE_BYTES),
            Vec::<(&str, usize)>::new()
        );
    }
}
