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
}
