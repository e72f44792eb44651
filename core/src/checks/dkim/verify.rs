//! Verification: key lookup (`selector._domainkey.domain` TXT through
//! [`Env::lookup`]), public-key parsing, the header hash of RFC 6376 §3.7
//! and the signature check (RSASSA-PKCS1-v1_5, RFC 8017; Ed25519 over the
//! SHA-256 hash, RFC 8463). Crypto is RustCrypto's.

use super::canonicalize::{self, Hasher};
use super::parse::{self, Algorithm, Canon, KeyRecord, KeyRecordError, KeyType, Signature};
use crate::dns::{DnsError, Query, Record, RecordType};
use crate::env::Env;
use crate::message::RawHeader;
use std::rc::Rc;

/// RSA moduli shorter than this are weak (RFC 8301 §3.2: verifiers "MUST
/// NOT consider signatures using RSA keys of less than 1024 bits as valid").
pub const RSA_WEAK_BITS: usize = 1024;
/// RSA moduli shorter than this are refused outright (permerror).
pub const RSA_MIN_BITS: usize = 512;
/// Largest RSA modulus accepted (RFC 8301 asks for up to 4096).
pub const RSA_MAX_BITS: usize = 8192;

/// A usable public key.
#[derive(Debug)]
pub(crate) enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// The RSA modulus size, if RSA.
    pub fn rsa_bits(&self) -> Option<usize> {
        match self {
            PublicKey::Rsa(k) => Some(rsa::traits::PublicKeyParts::n(k).bits()),
            PublicKey::Ed25519(_) => None,
        }
    }
}

/// A key record with its parsed key.
#[derive(Debug)]
pub(crate) struct Key {
    pub record: KeyRecord,
    pub key: PublicKey,
}

/// Why no key could be had, in RFC 8601 terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// Transient (DNS timeout, SERVFAIL, budget spent): temperror.
    Temp(String),
    /// Permanent (no record, revoked, unparsable): permerror.
    Perm(String),
}

/// Key records fetched for one message, so each key is looked up and
/// parsed once however many signatures use it.
#[derive(Debug, Default)]
pub struct KeyCache {
    entries: Vec<(String, Result<Rc<Key>, KeyError>)>,
}

impl KeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The key for `selector` at `domain`.
    pub(crate) fn get(&mut self, env: &dyn Env, selector: &str, domain: &str) -> Result<Rc<Key>, KeyError> {
        let name = format!("{selector}._domainkey.{domain}").to_ascii_lowercase();
        if let Some((_, r)) = self.entries.iter().find(|(n, _)| *n == name) {
            return r.clone();
        }
        let result = fetch(env, &name).map(Rc::new);
        self.entries.push((name, result.clone()));
        result
    }
}

fn fetch(env: &dyn Env, name: &str) -> Result<Key, KeyError> {
    let records = match env.lookup(&Query::new(name, RecordType::Txt)) {
        Ok(r) => r,
        Err(e @ (DnsError::NxDomain | DnsError::NoData)) => {
            return Err(KeyError::Perm(format!("no key record at {name} ({e})")));
        }
        Err(e) => return Err(KeyError::Temp(format!("key lookup for {name}: {e}"))),
    };
    let mut first_error = None;
    for r in &records {
        let Record::Txt(text) = r else { continue };
        let parsed = match parse::key_record(text) {
            Ok(rec) => public_key(&rec).map(|key| Key { record: rec, key }),
            Err(KeyRecordError::Revoked) => Err(format!("key {name} is revoked (empty p=)")),
            Err(KeyRecordError::Invalid(e)) => Err(format!("key {name}: {e}")),
        };
        match parsed {
            Ok(k) => return Ok(k),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(KeyError::Perm(
        first_error.unwrap_or_else(|| format!("no key record at {name}")),
    ))
}

fn public_key(rec: &KeyRecord) -> Result<PublicKey, String> {
    match rec.key_type {
        KeyType::Ed25519 => {
            // RFC 8463 §4: p= is the raw 32-byte key, not a DER structure.
            let bytes: [u8; 32] = rec
                .public_key
                .as_slice()
                .try_into()
                .map_err(|_| format!("Ed25519 key has {} bytes, not 32", rec.public_key.len()))?;
            ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map(PublicKey::Ed25519)
                .map_err(|_| "Ed25519 key is not a valid point".to_string())
        }
        KeyType::Rsa => {
            use rsa::pkcs1::der::Decode;
            // SubjectPublicKeyInfo (what everyone publishes), or a bare
            // RSAPublicKey (what RFC 6376 §3.6.1's text literally says).
            let pkcs1 = match rsa::pkcs8::SubjectPublicKeyInfoRef::from_der(&rec.public_key) {
                Ok(spki) => spki
                    .subject_public_key
                    .as_bytes()
                    .ok_or_else(|| "RSA key bit string is not octet-aligned".to_string())
                    .and_then(|b| rsa::pkcs1::RsaPublicKey::from_der(b).map_err(|e| format!("RSA key: {e}"))),
                Err(_) => {
                    rsa::pkcs1::RsaPublicKey::from_der(&rec.public_key).map_err(|e| format!("RSA key: {e}"))
                }
            }?;
            let n = rsa::BigUint::from_bytes_be(pkcs1.modulus.as_bytes());
            let e = rsa::BigUint::from_bytes_be(pkcs1.public_exponent.as_bytes());
            if n.bits() < RSA_MIN_BITS {
                return Err(format!("RSA key of {} bits is too short", n.bits()));
            }
            rsa::RsaPublicKey::new_with_max_size(n, e, RSA_MAX_BITS)
                .map(PublicKey::Rsa)
                .map_err(|e| format!("RSA key: {e}"))
        }
    }
}

/// Hashes the header part of a signature (RFC 6376 §3.7): the fields named
/// in `h=`, each taken bottom-up (a name listed more often than present
/// contributes nothing), then the signature field itself with `b=` empty
/// and no final CRLF.
pub(crate) fn header_hash(sig: &Signature, headers: &[RawHeader<'_>], sig_raw: &[u8]) -> Vec<u8> {
    let mut h = Hasher::new(sig.algorithm.hash());
    // Per name: how many instances (from the bottom) are used up.
    let mut used: Vec<(&str, usize)> = Vec::new();
    for name in &sig.headers {
        let slot = match used.iter().position(|(n, _)| *n == name.as_str()) {
            Some(s) => s,
            None => {
                used.push((name, 0));
                used.len() - 1
            }
        };
        let skip = used[slot].1;
        if let Some(field) = headers
            .iter()
            .rev()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .nth(skip)
        {
            canonicalize::header(sig.header_canon, field.raw, true, &mut h);
        }
        used[slot].1 += 1;
    }
    let stripped = canonicalize::strip_b_value(sig_raw);
    canonicalize::header(sig.header_canon, &stripped, false, &mut h);
    h.finish()
}

/// Hashes an ARC-Seal's input (RFC 8617 §5.1.1): every ARC set up to the
/// seal's own, each as AAR, AMS, AS in relaxed form, the seal last with
/// `b=` empty and no final CRLF. `sets` holds (AAR, AMS, AS) raw fields
/// by instance, oldest first, ending with the seal's own set.
pub(crate) fn seal_hash(sig: &Signature, sets: &[(&[u8], &[u8], &[u8])]) -> Vec<u8> {
    let mut h = Hasher::new(sig.algorithm.hash());
    let last = sets.len().saturating_sub(1);
    for (n, (aar, ams, seal)) in sets.iter().enumerate() {
        canonicalize::header(Canon::Relaxed, aar, true, &mut h);
        canonicalize::header(Canon::Relaxed, ams, true, &mut h);
        if n == last {
            let stripped = canonicalize::strip_b_value(seal);
            canonicalize::header(Canon::Relaxed, &stripped, false, &mut h);
        } else {
            canonicalize::header(Canon::Relaxed, seal, true, &mut h);
        }
    }
    h.finish()
}

/// Checks `signature` over the pre-computed `digest` with `key`.
pub(crate) fn check(alg: Algorithm, key: &PublicKey, digest: &[u8], signature: &[u8]) -> Result<(), String> {
    match (alg, key) {
        (Algorithm::RsaSha256, PublicKey::Rsa(k)) => k
            .verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), digest, signature)
            .map_err(|_| "RSA signature does not verify".to_string()),
        (Algorithm::RsaSha1, PublicKey::Rsa(k)) => k
            .verify(rsa::Pkcs1v15Sign::new::<sha1::Sha1>(), digest, signature)
            .map_err(|_| "RSA signature does not verify".to_string()),
        (Algorithm::Ed25519Sha256, PublicKey::Ed25519(k)) => {
            use ed25519_dalek::Verifier;
            let sig = ed25519_dalek::Signature::from_slice(signature)
                .map_err(|_| "Ed25519 signature has the wrong length".to_string())?;
            k.verify(digest, &sig)
                .map_err(|_| "Ed25519 signature does not verify".to_string())
        }
        _ => Err("key type does not match the algorithm".to_string()),
    }
}
