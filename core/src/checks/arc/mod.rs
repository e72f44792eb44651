//! ARC chain validation (RFC 8617 §5.2).
//!
//! [`validate`] collects the ARC sets (ARC-Authentication-Results,
//! ARC-Message-Signature, ARC-Seal) by instance, checks their structure
//! (instances 1..N without gaps or duplicates, N ≤ 50, the `cv=` rules),
//! verifies the newest ARC-Message-Signature like a DKIM signature (the
//! code of [`super::dkim`]) and every ARC-Seal from the newest down. The
//! result is the chain's `cv` and the hops (sealer `d=` and AAR payload),
//! which the composite verdict uses to honour trusted sealers.
//!
//! ARC has no "weak" result: `rsa-sha1` and RSA keys under 1024 bits fail
//! the chain (RFC 8301). Transient DNS errors also give `fail` (RFC 8617
//! knows only none/pass/fail), with the reason saying so.

use super::Findings;
use super::auth::{ArcChain, ArcHop, ArcOutcome, DkimResult};
use super::dkim::parse::{self, Algorithm, Kind, Signature};
use super::dkim::verify::{self, KeyError};
use super::dkim::{Verifier, algorithm_name};
use crate::env::Env;
use crate::message::{Message, RawHeader, unfold};
use crate::pack::RulePack;

/// Symbols this check emits.
pub const SYMBOLS: &[&str] = &["ARC_PASS", "ARC_FAIL", "ARC_NONE", "ARC_INVALID"];

/// Most ARC sets a chain may have (RFC 8617 §4.2.1).
pub const MAX_SETS: u32 = 50;

/// One ARC set being assembled.
#[derive(Debug, Default)]
struct Set<'m> {
    aar: Option<(&'m RawHeader<'m>, String)>,
    ams: Option<(&'m RawHeader<'m>, Signature)>,
    seal: Option<(&'m RawHeader<'m>, Signature)>,
}

fn outcome(chain: ArcChain, hops: Vec<ArcHop>, reason: impl Into<String>) -> ArcOutcome {
    ArcOutcome {
        chain,
        hops,
        reason: reason.into(),
    }
}

/// A chain whose sets could not even be assembled: `fail` without hops.
fn invalid(reason: impl Into<String>) -> ArcOutcome {
    outcome(ArcChain::Fail, Vec::new(), reason)
}

/// Parses an ARC-Authentication-Results value: `i=N;` then the payload.
fn aar(value: &[u8]) -> Result<(u32, String), String> {
    let text = String::from_utf8_lossy(value);
    let text = text.trim_start_matches([' ', '\t', '\r', '\n']);
    let rest = text
        .strip_prefix("i=")
        .ok_or_else(|| "ARC-Authentication-Results does not start with i=".to_string())?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let n: u32 = rest[..digits]
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| "ARC-Authentication-Results has an invalid i=".to_string())?;
    let after = rest[digits..].trim_start_matches([' ', '\t', '\r', '\n']);
    let payload = after
        .strip_prefix(';')
        .ok_or_else(|| "ARC-Authentication-Results i= is not followed by ';'".to_string())?;
    Ok((n, unfold(payload.as_bytes())))
}

/// Validates the ARC chain of `message` at time `now`.
pub fn validate(env: &dyn Env, message: &Message<'_>, now: u64) -> ArcOutcome {
    let mut sets: Vec<Set<'_>> = Vec::new();
    let mut any = false;
    for field in message.headers() {
        let kind = if field.name.eq_ignore_ascii_case("ARC-Seal") {
            Some(Kind::Seal)
        } else if field.name.eq_ignore_ascii_case("ARC-Message-Signature") {
            Some(Kind::Ams)
        } else if field.name.eq_ignore_ascii_case("ARC-Authentication-Results") {
            None
        } else {
            continue;
        };
        any = true;
        let (instance, name) = match kind {
            None => match aar(field.value) {
                Ok((i, payload)) => {
                    let slot = slot(&mut sets, i);
                    if let Some(s) = slot {
                        if s.aar.is_some() {
                            return invalid(format!("two ARC-Authentication-Results with i={i}"));
                        }
                        s.aar = Some((field, payload));
                    }
                    (i, "ARC-Authentication-Results")
                }
                Err(e) => return invalid(e),
            },
            Some(kind) => match parse::signature(kind, field.value) {
                Ok(sig) => {
                    let i = sig.instance;
                    let label = if kind == Kind::Seal {
                        "ARC-Seal"
                    } else {
                        "ARC-Message-Signature"
                    };
                    if let Some(s) = slot(&mut sets, i) {
                        let place = if kind == Kind::Seal {
                            &mut s.seal
                        } else {
                            &mut s.ams
                        };
                        if place.is_some() {
                            return invalid(format!("two {label} fields with i={i}"));
                        }
                        *place = Some((field, sig));
                    }
                    (i, label)
                }
                Err(e) => {
                    let label = if kind == Kind::Seal {
                        "ARC-Seal"
                    } else {
                        "ARC-Message-Signature"
                    };
                    return invalid(format!("{label}: {}", e.reason));
                }
            },
        };
        if instance > MAX_SETS {
            return invalid(format!("{name} i={instance} exceeds {MAX_SETS} sets"));
        }
    }
    if !any {
        return outcome(ArcChain::None, Vec::new(), "");
    }
    let mut hops = Vec::with_capacity(sets.len());
    for (n, s) in sets.iter().enumerate() {
        let i = n + 1;
        match (&s.aar, &s.ams, &s.seal) {
            (Some((_, payload)), Some(_), Some((_, seal))) => hops.push(ArcHop {
                instance: seal.instance,
                sealer: seal.domain.clone(),
                results: payload.clone(),
            }),
            (None, _, _) => return invalid(format!("ARC set {i} has no ARC-Authentication-Results")),
            (_, None, _) => return invalid(format!("ARC set {i} has no ARC-Message-Signature")),
            (_, _, None) => return invalid(format!("ARC set {i} has no ARC-Seal")),
        }
    }
    let newest = sets.len();
    let seal_of = |s: &Set<'_>| s.seal.as_ref().map(|(_, sig)| sig.cv);
    if seal_of(&sets[newest - 1]) == Some(ArcChain::Fail) {
        return outcome(
            ArcChain::Fail,
            hops,
            format!("ARC-Seal i={newest} already says cv=fail"),
        );
    }
    for (n, s) in sets.iter().enumerate() {
        let want = if n == 0 { ArcChain::None } else { ArcChain::Pass };
        let have = seal_of(s).unwrap_or(ArcChain::Fail);
        if have != want {
            return outcome(
                ArcChain::Fail,
                hops,
                format!(
                    "ARC-Seal i={} has cv={}, expected cv={}",
                    n + 1,
                    have.as_str(),
                    want.as_str()
                ),
            );
        }
    }

    let mut v = Verifier::new(env, message, now);
    // The newest ARC-Message-Signature, verified like a DKIM signature.
    if let Some((field, ams)) = &sets[newest - 1].ams {
        if let Some(reason) = weak_algorithm(ams) {
            return outcome(
                ArcChain::Fail,
                hops,
                format!("ARC-Message-Signature i={newest}: {reason}"),
            );
        }
        let checked = v.check_signature(ams, field.raw);
        if checked.result != DkimResult::Pass || checked.weak {
            let reason = if checked.reason.is_empty() {
                checked.result.as_str().to_string()
            } else {
                checked.reason
            };
            return outcome(
                ArcChain::Fail,
                hops,
                format!("ARC-Message-Signature i={newest}: {reason}"),
            );
        }
    }
    // Every seal, newest first.
    let raws: Vec<(&[u8], &[u8], &[u8])> = sets
        .iter()
        .filter_map(|s| {
            Some((
                s.aar.as_ref()?.0.raw,
                s.ams.as_ref()?.0.raw,
                s.seal.as_ref()?.0.raw,
            ))
        })
        .collect();
    for i in (1..=newest).rev() {
        let Some((_, seal)) = &sets[i - 1].seal else {
            continue;
        };
        if let Err(reason) = check_seal(&mut v, seal, &raws[..i]) {
            return outcome(ArcChain::Fail, hops, format!("ARC-Seal i={i}: {reason}"));
        }
    }
    outcome(ArcChain::Pass, hops, "")
}

/// The set for instance `i`, growing the list; `None` past [`MAX_SETS`].
fn slot<'a, 'm>(sets: &'a mut Vec<Set<'m>>, i: u32) -> Option<&'a mut Set<'m>> {
    if i == 0 || i > MAX_SETS {
        return None;
    }
    let i = i as usize;
    if sets.len() < i {
        sets.resize_with(i, Set::default);
    }
    sets.get_mut(i - 1)
}

fn weak_algorithm(sig: &Signature) -> Option<String> {
    (sig.algorithm == Algorithm::RsaSha1).then(|| "rsa-sha1 is not acceptable (RFC 8301)".to_string())
}

fn check_seal(
    v: &mut Verifier<'_, '_>,
    seal: &Signature,
    sets: &[(&[u8], &[u8], &[u8])],
) -> Result<(), String> {
    if let Some(reason) = weak_algorithm(seal) {
        return Err(reason);
    }
    let key = match v.keys.get(v.env, &seal.selector, &seal.domain) {
        Ok(k) => k,
        Err(KeyError::Temp(e)) => return Err(format!("temporary error: {e}")),
        Err(KeyError::Perm(e)) => return Err(e),
    };
    if key.record.key_type != seal.algorithm.key_type() {
        return Err(format!(
            "key type does not fit a={}",
            algorithm_name(seal.algorithm)
        ));
    }
    if !key.record.allows(seal.algorithm.hash()) {
        return Err(parse::hash_not_allowed(seal.algorithm.hash()));
    }
    if let Some(bits) = key.key.rsa_bits()
        && bits < verify::RSA_WEAK_BITS
    {
        return Err(format!("{bits}-bit RSA key is too short (RFC 8301)"));
    }
    let digest = verify::seal_hash(seal, sets);
    verify::check(seal.algorithm, &key.key, &digest, &seal.b)
}

/// Fires the ARC symbol for `outcome`: `ARC_NONE`, `ARC_PASS` (option:
/// the newest sealer), `ARC_FAIL` for a chain that was assembled but does
/// not validate, `ARC_INVALID` for ARC fields that do not even form a
/// chain (option: the reason).
pub fn emit(pack: &RulePack, outcome: &ArcOutcome, findings: &mut Findings) {
    match outcome.chain {
        ArcChain::None => findings.fire(pack, "ARC_NONE", &[]),
        ArcChain::Pass => {
            let sealer = outcome.hops.last().map_or("", |h| h.sealer.as_str());
            findings.fire(pack, "ARC_PASS", &[sealer]);
        }
        ArcChain::Fail if outcome.hops.is_empty() => findings.fire(pack, "ARC_INVALID", &[&outcome.reason]),
        ArcChain::Fail => findings.fire(pack, "ARC_FAIL", &[&outcome.reason]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aar_prefix() {
        assert_eq!(
            aar(b" i=2; mx.example; spf=pass\r\n\tsmtp.mailfrom=a@b").unwrap(),
            (2, "mx.example; spf=pass\tsmtp.mailfrom=a@b".to_string())
        );
        assert!(aar(b" i=1 mx.example; spf=pass").is_err());
        assert!(aar(b" mx.example; i=1; spf=pass").is_err());
        assert!(aar(b" i=0; mx.example").is_err());
        assert!(aar(b" i=; mx.example").is_err());
    }
}
