//! DKIM signature verification (RFC 6376, with RFC 8301's key and
//! algorithm rules and RFC 8463's Ed25519).
//!
//! [`verify`] returns one [`DkimOutcome`] per `DKIM-Signature` field in
//! header order (at most [`MAX_SIGNATURES`] are verified; the rest are
//! reported `neutral`), computed from the message's raw bytes. Keys are
//! looked up through [`Env::lookup`] once per message and name. [`emit`]
//! turns the outcomes into symbols; their scores are in
//! `rules/pack/dkim.toml`.
//!
//! Result mapping (RFC 8601 §2.7.1):
//!
//! | condition | result |
//! |---|---|
//! | signature field unparsable, required tag missing, `v=` other than `1` (or the drafts' absent `v=` / `0.5`), unknown `a=`/`c=`, no `dns/txt` in `q=`, `i=` outside `d=`, `h=` without From | `neutral` |
//! | `x=` in the past, `t=` in the future, `l=` shorter than the body | `policy` (the signature itself verifies, or would be checked) |
//! | body hash or signature does not verify | `fail` |
//! | no key record (NXDOMAIN / no TXT), revoked or unparsable key, `k=`/`h=`/`s=` of the key not fitting, `t=s` with a subdomain `i=`, RSA key < 512 bits | `permerror` |
//! | DNS timeout, SERVFAIL, DNS budget spent | `temperror` |
//! | verified | `pass`, with `weak` set for `rsa-sha1` or RSA keys < 1024 bits (RFC 8301) |

pub mod canonicalize;
pub mod parse;
pub mod verify;

use super::Findings;
use super::auth::{DkimOutcome, DkimResult};
use crate::env::Env;
use crate::message::{Message, RawHeader};
use crate::pack::RulePack;
use parse::{Algorithm, Canon, HashAlg, Kind, Signature};
pub use verify::KeyCache;
use verify::KeyError;

/// Symbols this check emits.
pub const SYMBOLS: &[&str] = &[
    "DKIM_PASS",
    "DKIM_FAIL",
    "DKIM_WEAK",
    "DKIM_NONE",
    "DKIM_POLICY",
    "DKIM_NEUTRAL",
    "DKIM_TEMPERROR",
    "DKIM_PERMERROR",
    "DKIM_TESTING",
];

/// Most signatures verified per message; the rest are reported `neutral`.
pub const MAX_SIGNATURES: usize = 10;

/// How far in the future a `t=` may be (clock skew) before the signature
/// is refused by policy.
pub const MAX_CLOCK_SKEW: u64 = 15 * 60;

/// Characters of `b=` kept for `header.b` (RFC 6008 §4 asks for at least 8).
const HEADER_B_LEN: usize = 8;

/// Body hashes computed for one message, by canonicalization, hash and
/// length limit, with the whole canonical body's length.
#[derive(Debug, Default)]
pub struct BodyHashes {
    entries: Vec<(BodyKey, (Vec<u8>, u64))>,
}

/// Canonicalization, hash and `l=` of one body hash.
type BodyKey = (Canon, HashAlg, Option<u64>);

impl BodyHashes {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&mut self, canon: Canon, hash: HashAlg, limit: Option<u64>, body: &[u8]) -> (Vec<u8>, u64) {
        let k = (canon, hash, limit);
        if let Some((_, v)) = self.entries.iter().find(|(key, _)| *key == k) {
            return v.clone();
        }
        let v = canonicalize::body_hash(canon, hash, body, limit);
        self.entries.push((k, v.clone()));
        v
    }
}

/// What checking one parsed signature found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    pub result: DkimResult,
    pub reason: String,
    pub weak: bool,
    pub testing: bool,
}

impl Checked {
    fn new(result: DkimResult, reason: impl Into<String>) -> Self {
        Checked {
            result,
            reason: reason.into(),
            weak: false,
            testing: false,
        }
    }
}

/// The per-message state a verification shares between signatures.
#[derive(Debug)]
pub(crate) struct Verifier<'m, 'e> {
    pub env: &'e dyn Env,
    pub headers: &'m [RawHeader<'m>],
    pub body: &'m [u8],
    pub now: u64,
    pub keys: KeyCache,
    pub bodies: BodyHashes,
}

impl<'m, 'e> Verifier<'m, 'e> {
    pub fn new(env: &'e dyn Env, message: &'m Message<'m>, now: u64) -> Self {
        Verifier {
            env,
            headers: message.headers(),
            body: message.raw_body(),
            now,
            keys: KeyCache::new(),
            bodies: BodyHashes::new(),
        }
    }

    /// Checks a DKIM-Signature or ARC-Message-Signature (`field_raw` is the
    /// whole field) against the message (RFC 6376 §6.1).
    pub fn check_signature(&mut self, sig: &Signature, field_raw: &[u8]) -> Checked {
        if let Some(x) = sig.expiration
            && x < self.now
        {
            return Checked::new(DkimResult::Policy, format!("signature expired (x={x})"));
        }
        if let Some(t) = sig.timestamp
            && t > self.now.saturating_add(MAX_CLOCK_SKEW)
        {
            return Checked::new(
                DkimResult::Policy,
                format!("signature timestamp t={t} is in the future"),
            );
        }
        // RFC 6376 §6.1 order: the key (§6.1.2), then the body hash and
        // the signature (§6.1.3).
        let key = match self.keys.get(self.env, &sig.selector, &sig.domain) {
            Ok(k) => k,
            Err(KeyError::Temp(e)) => return Checked::new(DkimResult::TempError, e),
            Err(KeyError::Perm(e)) => return Checked::new(DkimResult::PermError, e),
        };
        let testing = key.record.testing;
        let perm = |reason: String| Checked {
            testing,
            ..Checked::new(DkimResult::PermError, reason)
        };
        if key.record.key_type != sig.algorithm.key_type() {
            return perm(format!(
                "key type does not fit a={}",
                algorithm_name(sig.algorithm)
            ));
        }
        if !key.record.allows(sig.algorithm.hash()) {
            return perm(parse::hash_not_allowed(sig.algorithm.hash()));
        }
        if sig.kind == Kind::Dkim && key.record.strict {
            let auid_domain = sig.auid.rsplit_once('@').map_or("", |(_, d)| d);
            if !auid_domain.eq_ignore_ascii_case(&sig.domain) {
                return perm(format!(
                    "key has t=s but i= domain {auid_domain} is not d={}",
                    sig.domain
                ));
            }
        }
        let (bh, body_len) = self
            .bodies
            .get(sig.body_canon, sig.algorithm.hash(), sig.length, self.body);
        if bh != sig.bh {
            return Checked {
                testing,
                ..Checked::new(DkimResult::Fail, "body hash did not verify")
            };
        }
        let digest = verify::header_hash(sig, self.headers, field_raw);
        if let Err(e) = verify::check(sig.algorithm, &key.key, &digest, &sig.b) {
            return Checked {
                testing,
                ..Checked::new(DkimResult::Fail, e)
            };
        }
        let bits = key.key.rsa_bits();
        let weak_key = bits.is_some_and(|b| b < verify::RSA_WEAK_BITS);
        let mut reasons = Vec::new();
        if sig.algorithm == Algorithm::RsaSha1 {
            reasons.push("rsa-sha1 (RFC 8301)".to_string());
        }
        if let Some(b) = bits.filter(|_| weak_key) {
            reasons.push(format!("{b}-bit RSA key (RFC 8301)"));
        }
        let weak = !reasons.is_empty();
        if let Some(l) = sig.length
            && l < body_len
        {
            reasons.insert(
                0,
                format!("l={l} leaves {} of {body_len} body bytes unsigned", body_len - l),
            );
            return Checked {
                result: DkimResult::Policy,
                reason: reasons.join("; "),
                weak,
                testing,
            };
        }
        Checked {
            result: DkimResult::Pass,
            reason: reasons.join("; "),
            weak,
            testing,
        }
    }
}

/// The `a=` name of an algorithm.
pub fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RsaSha1 => "rsa-sha1",
        Algorithm::RsaSha256 => "rsa-sha256",
        Algorithm::Ed25519Sha256 => "ed25519-sha256",
    }
}

fn header_b(b: &str) -> String {
    b.chars().take(HEADER_B_LEN).collect()
}

/// Verifies every DKIM-Signature of `message` at time `now` (seconds since
/// the epoch); one outcome per signature, in header order.
pub fn verify(env: &dyn Env, message: &Message<'_>, now: u64) -> Vec<DkimOutcome> {
    let mut v = Verifier::new(env, message, now);
    let fields: Vec<RawHeader<'_>> = message.headers_named("DKIM-Signature").copied().collect();
    let mut out = Vec::with_capacity(fields.len());
    for (n, field) in fields.iter().enumerate() {
        let sig = parse::signature(Kind::Dkim, field.value);
        let outcome = match sig {
            Err(e) => DkimOutcome {
                result: DkimResult::Neutral,
                domain: e.domain,
                selector: e.selector,
                algorithm: e.algorithm,
                header_b: header_b(&e.b_text),
                weak: false,
                testing: false,
                reason: e.reason,
            },
            Ok(sig) => {
                let checked = if n < MAX_SIGNATURES {
                    v.check_signature(&sig, field.raw)
                } else {
                    Checked::new(
                        DkimResult::Neutral,
                        format!("not verified: more than {MAX_SIGNATURES} signatures"),
                    )
                };
                DkimOutcome {
                    result: checked.result,
                    domain: sig.domain.clone(),
                    selector: sig.selector.clone(),
                    algorithm: algorithm_name(sig.algorithm).to_string(),
                    header_b: header_b(&sig.b_text),
                    weak: checked.weak,
                    testing: checked.testing,
                    reason: checked.reason,
                }
            }
        };
        out.push(outcome);
    }
    out
}

/// Fires the DKIM symbols for `outcomes` (`DKIM_NONE` when empty). A
/// verified but weak signature fires `DKIM_WEAK` instead of `DKIM_PASS`;
/// the option of each symbol is the signing domain.
pub fn emit(pack: &RulePack, outcomes: &[DkimOutcome], findings: &mut Findings) {
    if outcomes.is_empty() {
        findings.fire(pack, "DKIM_NONE", &[]);
        return;
    }
    for o in outcomes {
        let symbol = match o.result {
            DkimResult::Pass if o.weak => "DKIM_WEAK",
            DkimResult::Pass => "DKIM_PASS",
            DkimResult::Fail => "DKIM_FAIL",
            DkimResult::Policy => "DKIM_POLICY",
            DkimResult::Neutral => "DKIM_NEUTRAL",
            DkimResult::TempError => "DKIM_TEMPERROR",
            DkimResult::PermError => "DKIM_PERMERROR",
            DkimResult::None => "DKIM_NONE",
        };
        findings.fire(pack, symbol, &[&o.domain]);
        if o.testing {
            findings.fire(pack, "DKIM_TESTING", &[&o.domain]);
        }
    }
}
