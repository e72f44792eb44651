//! Fuzzes the filter core's entry point, `Filter::check`, with the
//! default rule pack: message bytes plus an envelope, and DNS answers that
//! depend on the question (so the DNS-driven paths run too). The input
//! format, settings, DNS answers and verdict invariants are in
//! `common.rs`, shared with the regression tests.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use mailward_core::Filter;
use std::sync::LazyLock;

static FILTER: LazyLock<Filter> = LazyLock::new(|| {
    let mut f = mailward_rules::default_filter().expect("the default pack compiles");
    f.configure(&common::settings()).expect("fuzz settings are valid");
    f
});

fuzz_target!(
    // Compile the pack before the first input: building its automata with
    // debug assertions on takes longer than libFuzzer's per-input timeout.
    init: {
        LazyLock::force(&FILTER);
    },
    |data: &[u8]| {
        let (envelope, message) = common::split(data);
        let v = FILTER.check(&common::HashDns, &envelope, message);
        common::assert_valid(&FILTER, &v);
    }
);
