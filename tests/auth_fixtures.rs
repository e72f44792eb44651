//! DKIM signing, ARC sealing and the reference verifier (stalwartlabs'
//! `mail-auth`) for tests: build messages signed or sealed by a given
//! domain with a fresh test key, publish the key in a [`ZoneResolver`],
//! and ask `mail-auth` what it thinks of a message with DNS answered from
//! the same zone (never from the network).
//!
//! ```no_run
//! use mailward_tests::auth_fixtures::{TestKey, arc_seal};
//! use mailward_host::ZoneResolver;
//! let mut zone = ZoneResolver::new();
//! let sealer = TestKey::rsa("forwarder.example", "arc", 2048, &mut zone);
//! let sealed = arc_seal(b"From: a@b.example\r\n\r\nhi\r\n", &sealer, "mx.forwarder.example", &zone);
//! ```

use mail_auth::arc::ArcSealer;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256, SigningKey};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dkim::{Canonicalization, DkimSigner};
use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, MessageAuthenticator, Parameters, ResolverCache, Txt,
};
use mailward_core::checks::dkim::parse::{self, Kind};
use mailward_core::dns::zone::ZoneResolver;
use mailward_core::dns::{DnsError, Query, Record, RecordType, Resolver};
use mailward_core::message::Message;
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A signing key of one domain and selector, published in a zone.
pub struct TestKey {
    /// The signing domain (`d=`).
    pub domain: String,
    /// The selector (`s=`).
    pub selector: String,
    key: Key,
    /// The base64 `p=` value published.
    pub public: String,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestKey({})", self.record_name())
    }
}

enum Key {
    Rsa(Vec<u8>),
    Ed25519(Vec<u8>),
}

fn b64(bytes: &[u8]) -> String {
    use base64_lite::encode;
    encode(bytes)
}

/// Minimal standard base64 (the tests crate has no base64 dependency).
mod base64_lite {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    pub fn encode(data: &[u8]) -> String {
        let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
        for c in data.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

impl TestKey {
    /// A fresh RSA key of `bits` bits, published as
    /// `selector._domainkey.domain` (`v=DKIM1; k=rsa; p=…`).
    pub fn rsa(domain: &str, selector: &str, bits: usize, zone: &mut ZoneResolver) -> Self {
        let pair = mail_auth::dkim::generate::DkimKeyPair::generate_rsa(bits).expect("RSA key generation");
        let key = TestKey {
            domain: domain.into(),
            selector: selector.into(),
            key: Key::Rsa(pair.private_key().to_vec()),
            public: b64(pair.public_key()),
        };
        key.publish(zone, &format!("v=DKIM1; k=rsa; p={}", key.public));
        key
    }

    /// A fresh Ed25519 key (RFC 8463), published with `k=ed25519`.
    pub fn ed25519(domain: &str, selector: &str, zone: &mut ZoneResolver) -> Self {
        let pair =
            mail_auth::dkim::generate::DkimKeyPair::generate_ed25519().expect("Ed25519 key generation");
        let key = TestKey {
            domain: domain.into(),
            selector: selector.into(),
            key: Key::Ed25519(pair.private_key().to_vec()),
            public: b64(pair.public_key()),
        };
        key.publish(zone, &format!("v=DKIM1; k=ed25519; p={}", key.public));
        key
    }

    /// The key record's name.
    pub fn record_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }

    /// Publishes `text` as the key record (a test may publish variants).
    pub fn publish(&self, zone: &mut ZoneResolver, text: &str) {
        zone.add(&self.record_name(), Record::Txt(text.as_bytes().to_vec()));
    }

    /// Signs `message` (DKIM) over `headers`; `options` adjusts the signer.
    /// Returns the DKIM-Signature field (with CRLF) to prepend.
    pub fn dkim_sign(&self, message: &[u8], headers: &[&str], options: &SignOptions) -> String {
        match &self.key {
            Key::Rsa(der) => sign_with(rsa_key(der), self, message, headers, options),
            Key::Ed25519(der) => sign_with(
                Ed25519Key::from_pkcs8_der(der).expect("Ed25519 key"),
                self,
                message,
                headers,
                options,
            ),
        }
    }
}

fn rsa_key(der: &[u8]) -> RsaKey<Sha256> {
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer};
    RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der.to_vec())))
        .expect("RSA key")
}

/// Signer settings.
#[derive(Debug, Clone, Copy)]
pub struct SignOptions {
    /// Relaxed header canonicalization.
    pub relaxed_header: bool,
    /// Relaxed body canonicalization.
    pub relaxed_body: bool,
    /// Add `l=` (the body length).
    pub body_length: bool,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            relaxed_header: true,
            relaxed_body: true,
            body_length: false,
        }
    }
}

fn canon(relaxed: bool) -> Canonicalization {
    if relaxed {
        Canonicalization::Relaxed
    } else {
        Canonicalization::Simple
    }
}

fn sign_with<K: SigningKey>(
    key: K,
    k: &TestKey,
    message: &[u8],
    headers: &[&str],
    o: &SignOptions,
) -> String {
    DkimSigner::from_key(key)
        .domain(k.domain.as_str())
        .selector(k.selector.as_str())
        .headers(headers.iter().copied())
        .header_canonicalization(canon(o.relaxed_header))
        .body_canonicalization(canon(o.relaxed_body))
        .body_length(o.body_length)
        .sign(message)
        .expect("mail-auth signs")
        .to_header()
}

/// ARC-seals `message` as `sealer` (an RSA [`TestKey`]; RFC 8617 §4.1.3
/// seals are rsa-sha256) at the hop `authserv_id`, after validating any
/// chain already present with DNS from `zone`. The AAR records the DKIM
/// results the sealer saw. Returns the sealed message (the new ARC set
/// prepended).
pub fn arc_seal(message: &[u8], sealer: &TestKey, authserv_id: &str, zone: &ZoneResolver) -> Vec<u8> {
    let Key::Rsa(der) = &sealer.key else {
        panic!("ARC seals here use RSA keys")
    };
    let reference = Reference::new(zone, message);
    let parsed = AuthenticatedMessage::parse(message).expect("mail-auth parses the message");
    let (arc, dkim) = reference.block_on(async {
        let arc = reference
            .authenticator
            .verify_arc(Parameters::new(&parsed).with_txt_cache(&reference.cache))
            .await;
        let dkim = reference
            .authenticator
            .verify_dkim(Parameters::new(&parsed).with_txt_cache(&reference.cache))
            .await;
        (arc, dkim)
    });
    let from = Message::parse(message)
        .from()
        .map(|m| m.address.clone())
        .unwrap_or_default();
    let results = AuthenticationResults::new(authserv_id).with_dkim_results(&dkim, &from);
    let set = ArcSealer::from_key(rsa_key(der))
        .domain(sealer.domain.as_str())
        .selector(sealer.selector.as_str())
        .headers(["From", "To", "Subject", "Date", "Message-ID", "DKIM-Signature"])
        .seal(&parsed, &results, &arc)
        .expect("mail-auth seals");
    let mut out = set.to_header().into_bytes();
    out.extend_from_slice(message);
    out
}

/// mail-auth's TXT cache, pre-filled from a zone so that every key name
/// the verifier asks for is a cache hit and nothing reaches the network.
pub struct ZoneCache(HashMap<Box<str>, Txt>);

impl std::fmt::Debug for ZoneCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ZoneCache({} names)", self.0.len())
    }
}

impl ResolverCache<Box<str>, Txt> for ZoneCache {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.get(name).cloned()
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.get(name).cloned()
    }

    fn insert(&self, _: Box<str>, _: Txt, _: Instant) {}
}

/// The key-record names the DKIM, ARC-Message-Signature and ARC-Seal
/// fields of `message` refer to.
pub fn key_names(message: &[u8]) -> Vec<String> {
    let m = Message::parse(message);
    let mut names = Vec::new();
    for h in m.headers() {
        let kind = if h.name.eq_ignore_ascii_case("DKIM-Signature") {
            Kind::Dkim
        } else if h.name.eq_ignore_ascii_case("ARC-Message-Signature") {
            Kind::Ams
        } else if h.name.eq_ignore_ascii_case("ARC-Seal") {
            Kind::Seal
        } else {
            continue;
        };
        let (d, s) = match parse::signature(kind, h.value) {
            Ok(sig) => (sig.domain, sig.selector),
            Err(e) => (e.domain, e.selector),
        };
        if !d.is_empty() && !s.is_empty() {
            names.push(format!("{s}._domainkey.{d}").to_ascii_lowercase());
        }
    }
    names
}

impl ZoneCache {
    /// A cache answering `names` (DKIM key names) from `zone`, the way
    /// mail-auth's resolver would: DKIM key records parsed, NXDOMAIN and
    /// no-data as "not found", timeouts and SERVFAIL as resolver errors.
    pub fn new(zone: &ZoneResolver, names: &[String]) -> Self {
        let mut txt = HashMap::new();
        for name in names {
            let answer = zone.lookup(&Query::new(name, RecordType::Txt));
            let record: Txt = match answer {
                Ok(records) => {
                    let mut parsed = Err(mail_auth::Error::Dns(mail_auth::DnsError::InvalidRecordType));
                    for r in records {
                        if let Record::Txt(t) = r {
                            parsed = DomainKey::parse(&t);
                            if parsed.is_ok() {
                                break;
                            }
                        }
                    }
                    match parsed {
                        Ok(k) => Txt::DomainKey(Arc::new(k)),
                        Err(e) => Txt::Error(e),
                    }
                }
                Err(DnsError::NxDomain) => Txt::Error(mail_auth::Error::Dns(
                    mail_auth::DnsError::RecordNotFound(ResponseCode::NXDomain),
                )),
                Err(DnsError::NoData) => Txt::Error(mail_auth::Error::Dns(
                    mail_auth::DnsError::RecordNotFound(ResponseCode::NoError),
                )),
                Err(e) => Txt::Error(mail_auth::Error::Dns(mail_auth::DnsError::Resolver(
                    e.to_string(),
                ))),
            };
            txt.insert(format!("{name}.").into_boxed_str(), record);
        }
        ZoneCache(txt)
    }
}

/// mail-auth set up for one message: an authenticator whose only name
/// server is on loopback (never asked: the cache answers every key the
/// message names) and a single-threaded runtime.
pub struct Reference {
    /// The verifier.
    pub authenticator: MessageAuthenticator,
    /// The DNS answers.
    pub cache: ZoneCache,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reference({:?})", self.cache)
    }
}

impl Reference {
    /// A reference verifier for `message` with DNS from `zone`.
    pub fn new(zone: &ZoneResolver, message: &[u8]) -> Self {
        let config =
            ResolverConfig::from_name_servers(vec![NameServerConfig::udp(std::net::IpAddr::from([
                127, 0, 0, 1,
            ]))]);
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_millis(50);
        opts.attempts = 1;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let authenticator = {
            let _guard = runtime.enter();
            MessageAuthenticator::new(config, opts).expect("authenticator")
        };
        Reference {
            authenticator,
            cache: ZoneCache::new(zone, &key_names(message)),
            runtime,
        }
    }

    /// Runs a future to completion.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// mail-auth's DKIM results for `message`, as RFC 8601 names, sorted
    /// (mail-auth lists rejected fields before the parsed ones).
    pub fn dkim(&self, message: &[u8]) -> Vec<String> {
        let Some(parsed) = AuthenticatedMessage::parse(message) else {
            return Vec::new();
        };
        let out = self.block_on(
            self.authenticator
                .verify_dkim(Parameters::new(&parsed).with_txt_cache(&self.cache)),
        );
        let mut r: Vec<String> = out.iter().map(|o| dkim_name(o.result()).to_string()).collect();
        r.sort();
        r
    }

    /// mail-auth's ARC result for `message`.
    pub fn arc(&self, message: &[u8]) -> String {
        let Some(parsed) = AuthenticatedMessage::parse(message) else {
            return "none".into();
        };
        let out = self.block_on(
            self.authenticator
                .verify_arc(Parameters::new(&parsed).with_txt_cache(&self.cache)),
        );
        dkim_name(out.result()).to_string()
    }
}

fn dkim_name(r: &mail_auth::DkimResult) -> &'static str {
    use mail_auth::DkimResult as R;
    match r {
        R::Pass => "pass",
        R::Neutral(_) => "neutral",
        R::Fail(_) => "fail",
        R::PermError(_) => "permerror",
        R::TempError(_) => "temperror",
        R::None => "none",
    }
}
