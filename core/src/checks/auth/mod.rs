//! Sender authentication: the results every protocol check produces, in
//! each RFC's own vocabulary, handed from check to check as values.
//!
//! The protocol modules (`spf`, `senderid`, `dkim`, `arc`, `dmarc`,
//! `compauth`) each fill one part of [`AuthResults`]; later checks read the
//! earlier ones' values (DMARC reads SPF and DKIM, the composite verdict
//! reads everything) instead of matching each other's symbol names.
//! Verdicts such as `TempError` are values, never `Err` or panics.
//!
//! [`run`] evaluates them for one message in that order, fires their
//! symbols and returns the values; [`ar`] writes them as an
//! Authentication-Results header field (RFC 8601).

pub mod ar;
mod run;

pub use run::{not_applicable, run};

use std::fmt;

/// Most bytes of a reply text a check proposes.
const MAX_REPLY_TEXT: usize = 200;

/// A reply text safe for an SMTP response line: printable ASCII only, at
/// most 200 bytes.
pub fn reply_text(text: &str) -> String {
    text.chars()
        .map(|c| if c == ' ' || c.is_ascii_graphic() { c } else { '?' })
        .take(MAX_REPLY_TEXT)
        .collect()
}

/// An SPF result (RFC 7208 §2.6); Sender ID uses the same set (RFC 4406).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpfResult {
    /// No record, or no valid domain to check.
    None,
    /// The record makes no assertion.
    Neutral,
    /// The client is authorised.
    Pass,
    /// The client is explicitly not authorised.
    Fail,
    /// Probably not authorised (`~all`).
    SoftFail,
    /// A transient (DNS) error.
    TempError,
    /// The record is broken or limits were exceeded.
    PermError,
}

impl SpfResult {
    /// The RFC 8601 / RFC 7208 name (`pass`, `softfail`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SpfResult::None => "none",
            SpfResult::Neutral => "neutral",
            SpfResult::Pass => "pass",
            SpfResult::Fail => "fail",
            SpfResult::SoftFail => "softfail",
            SpfResult::TempError => "temperror",
            SpfResult::PermError => "permerror",
        }
    }
}

impl fmt::Display for SpfResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which identity an SPF evaluation authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpfIdentity {
    /// The MAIL FROM reverse path (`smtp.mailfrom`).
    MailFrom,
    /// The HELO/EHLO name (`smtp.helo`).
    Helo,
}

/// The outcome of one SPF evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfOutcome {
    /// The result.
    pub result: SpfResult,
    /// Which identity was checked.
    pub identity: SpfIdentity,
    /// The identity as checked (`postmaster@helo` when MAIL FROM is null).
    pub sender: String,
    /// The domain whose policy was evaluated (empty when there was none).
    pub domain: String,
    /// The explanation string of a `fail` (`exp=`), when there is one.
    pub explanation: Option<String>,
    /// A short human-readable reason: matched mechanism or error.
    pub reason: String,
}

/// Which record a Sender ID check used (RFC 4406 §3.4, RFC 4408).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SenderIdRecord {
    /// An `spf2.0/pra` (or `spf2.0/mfrom,pra`) record.
    Spf2Pra,
    /// No `spf2.0` record: the `v=spf1` record, as RFC 4406 §3.4 allows.
    Spf1Fallback,
    /// Neither.
    NoRecord,
}

/// The outcome of a Sender ID (PRA) check (RFC 4406, RFC 4407).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderIdOutcome {
    /// The result (SPF vocabulary).
    pub result: SpfResult,
    /// The Purported Responsible Address, when the algorithm found one.
    pub pra: Option<String>,
    /// The header field the PRA came from (`Resent-Sender`, `From`, …).
    pub pra_field: Option<String>,
    /// Which record was used.
    pub record: SenderIdRecord,
    /// A short reason.
    pub reason: String,
}

/// A DKIM signature's result (RFC 6376 §3.9, RFC 8601 §2.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DkimResult {
    /// No signature.
    None,
    /// The signature verified.
    Pass,
    /// The signature did not verify.
    Fail,
    /// Verified, but unacceptable by local policy (e.g. `l=` covering
    /// only part of the body, expired).
    Policy,
    /// Syntactically broken signature.
    Neutral,
    /// The key could not be fetched for now.
    TempError,
    /// The key or signature is unusable.
    PermError,
}

impl DkimResult {
    /// The RFC 8601 name.
    pub fn as_str(self) -> &'static str {
        match self {
            DkimResult::None => "none",
            DkimResult::Pass => "pass",
            DkimResult::Fail => "fail",
            DkimResult::Policy => "policy",
            DkimResult::Neutral => "neutral",
            DkimResult::TempError => "temperror",
            DkimResult::PermError => "permerror",
        }
    }
}

impl fmt::Display for DkimResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one DKIM-Signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimOutcome {
    /// The result.
    pub result: DkimResult,
    /// The signing domain (`d=`), lower-case; empty if unreadable.
    pub domain: String,
    /// The selector (`s=`).
    pub selector: String,
    /// The algorithm (`a=`), e.g. `rsa-sha256`, `ed25519-sha256`.
    pub algorithm: String,
    /// The start of `b=` (for `header.b=` in Authentication-Results).
    pub header_b: String,
    /// True for signatures that verify but are weak: `rsa-sha1`, RSA keys
    /// shorter than 1024 bits.
    pub weak: bool,
    /// The key record says the domain is testing DKIM (`t=y`).
    pub testing: bool,
    /// A short reason for anything but `pass`.
    pub reason: String,
}

/// ARC chain validation status (RFC 8617 §4.4, the `cv=` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArcChain {
    /// No ARC sets.
    None,
    /// Every set present and valid.
    Pass,
    /// The chain is broken.
    Fail,
}

impl ArcChain {
    /// The `cv=` / RFC 8601 name.
    pub fn as_str(self) -> &'static str {
        match self {
            ArcChain::None => "none",
            ArcChain::Pass => "pass",
            ArcChain::Fail => "fail",
        }
    }
}

/// One ARC set, as validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArcHop {
    /// The instance number (`i=`).
    pub instance: u32,
    /// The sealer's domain (`d=` of ARC-Seal), lower-case.
    pub sealer: String,
    /// The ARC-Authentication-Results payload (after `i=N;`).
    pub results: String,
}

/// The outcome of ARC validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArcOutcome {
    /// The chain's validation status.
    pub chain: ArcChain,
    /// The sets, oldest first (empty for `None`).
    pub hops: Vec<ArcHop>,
    /// A short reason for `Fail`.
    pub reason: String,
}

/// A DMARC result (RFC 7489 §11.2, RFC 8601).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DmarcResult {
    /// No policy published.
    None,
    /// An aligned SPF or DKIM pass.
    Pass,
    /// Neither aligned.
    Fail,
    /// The policy could not be fetched for now.
    TempError,
    /// The policy record is broken.
    PermError,
}

impl DmarcResult {
    /// The RFC 8601 name.
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcResult::None => "none",
            DmarcResult::Pass => "pass",
            DmarcResult::Fail => "fail",
            DmarcResult::TempError => "temperror",
            DmarcResult::PermError => "permerror",
        }
    }
}

/// A DMARC policy (`p=` / `sp=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DmarcPolicy {
    /// Monitor only.
    None,
    /// Treat failures as suspicious.
    Quarantine,
    /// Refuse failures.
    Reject,
}

impl DmarcPolicy {
    /// The policy's name.
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcPolicy::None => "none",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::Reject => "reject",
        }
    }
}

/// The outcome of DMARC evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcOutcome {
    /// The result.
    pub result: DmarcResult,
    /// The RFC5322.From domain, lower-case (empty when there is none).
    pub from_domain: String,
    /// Its organizational domain (Public Suffix List).
    pub org_domain: String,
    /// The published policy that applies to the From domain (`p=`, or
    /// `sp=` for a subdomain), when a record was found.
    pub published: Option<DmarcPolicy>,
    /// The policy applied to this message after `pct=` sampling; `None`
    /// policy when the message passed.
    pub applied: DmarcPolicy,
    /// An aligned SPF pass was found.
    pub spf_aligned: bool,
    /// An aligned DKIM pass was found.
    pub dkim_aligned: bool,
    /// A short reason: what aligned, or why there is no policy.
    pub reason: String,
}

/// The composite authentication verdict, after Microsoft's `compauth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompAuthResult {
    /// Authenticated.
    Pass,
    /// Not authenticated, but nothing says it is forged (weak records).
    SoftPass,
    /// Not authenticated: treat as spoofed.
    Fail,
    /// Nothing to judge (no From domain, outbound mail).
    None,
}

impl CompAuthResult {
    /// The `compauth=` name.
    pub fn as_str(self) -> &'static str {
        match self {
            CompAuthResult::Pass => "pass",
            CompAuthResult::SoftPass => "softpass",
            CompAuthResult::Fail => "fail",
            CompAuthResult::None => "none",
        }
    }
}

/// Why the composite verdict is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompAuthReason {
    /// DMARC failed and the domain publishes quarantine or reject.
    ExplicitFail,
    /// No or weak records and no alignment: cannot be authenticated.
    ImplicitFail,
    /// The header From is a protected/local domain but the mail came from
    /// outside and failed authentication (the seed's attack).
    IntraOrgSpoof,
    /// Authentication failed, but a trusted ARC sealer vouched for it
    /// (forwarding), or a local rule allowed it.
    Bypass,
    /// An aligned SPF or DKIM pass (DMARC pass or equivalent).
    Aligned,
    /// Passed only on unaligned or partial evidence.
    Unaligned,
    /// Outbound or no From: not judged.
    NotApplicable,
    /// A DNS lookup the verdict depends on failed temporarily.
    TempError,
}

impl CompAuthReason {
    /// The `reason=` token for Authentication-Results.
    pub fn as_str(self) -> &'static str {
        match self {
            CompAuthReason::ExplicitFail => "explicit-fail",
            CompAuthReason::ImplicitFail => "implicit-fail",
            CompAuthReason::IntraOrgSpoof => "intra-org-spoof",
            CompAuthReason::Bypass => "bypass",
            CompAuthReason::Aligned => "aligned",
            CompAuthReason::Unaligned => "unaligned",
            CompAuthReason::NotApplicable => "not-applicable",
            CompAuthReason::TempError => "temperror",
        }
    }
}

/// The composite verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompAuthOutcome {
    /// The result.
    pub result: CompAuthResult,
    /// Why.
    pub reason: CompAuthReason,
}

/// Everything sender authentication found for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    /// SPF for MAIL FROM (or `postmaster@HELO` for the null sender).
    pub spf_mailfrom: SpfOutcome,
    /// SPF for the HELO name, when there was one.
    pub spf_helo: Option<SpfOutcome>,
    /// Sender ID (PRA).
    pub sender_id: SenderIdOutcome,
    /// One outcome per DKIM-Signature (empty: no signature).
    pub dkim: Vec<DkimOutcome>,
    /// ARC.
    pub arc: ArcOutcome,
    /// DMARC.
    pub dmarc: DmarcOutcome,
    /// The composite verdict.
    pub compauth: CompAuthOutcome,
}
