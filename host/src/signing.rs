//! Signed rule packs: ed25519 signatures in a file beside the pack.
//!
//! A pack `pack.wasm` is signed by `pack.wasm.sig`, a short text file:
//!
//! ```text
//! mailward-pack-signature-v1
//! key-id: 3f9c0a1b2c3d4e5f
//! sha256: 9b1e…(64 hex digits: SHA-256 of pack.wasm)
//! signature: (base64 of the 64-byte ed25519 signature)
//! ```
//!
//! The signature covers `mailward-pack-signature-v1\n` followed by the 32
//! bytes of the pack's SHA-256, so it cannot be replayed on another file
//! or taken for a signature of anything else. Keys are text files too:
//! a public key is `ed25519:BASE64` (32 bytes), a secret key
//! `mailward-secret-key-v1 ed25519:BASE64` (the 32-byte seed, file mode
//! 0600). The key id is the first 8 bytes of the public key's SHA-256, in
//! hex.
//!
//! When a deployment configures public keys ([`TrustedKeys`]), every pack
//! from outside must carry a valid signature by one of them; this is
//! checked before the pack is parsed or compiled. The pack built into the
//! binary is trusted as it is.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

const SIG_MAGIC: &str = "mailward-pack-signature-v1";
const SECRET_MAGIC: &str = "mailward-secret-key-v1";
const KEY_PREFIX: &str = "ed25519:";

/// Why a signature check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// Keys are configured but the pack has no signature file.
    #[error("the pack is not signed (no {0}) and this deployment requires a signature")]
    Missing(String),
    /// The signature file is not in the expected format.
    #[error("the signature file is malformed: {0}")]
    Malformed(String),
    /// The signature is for other bytes than the pack's.
    #[error("the signature is for a different file (signed SHA-256 {signed}, pack SHA-256 {actual})")]
    WrongFile {
        /// SHA-256 named in the signature.
        signed: String,
        /// SHA-256 of the pack.
        actual: String,
    },
    /// The signing key is not among the trusted keys.
    #[error("signed by key {0}, which is not a trusted key")]
    UntrustedKey(String),
    /// The signature does not verify with the named key.
    #[error("the signature does not verify with key {0} (tampered pack or signature)")]
    BadSignature(String),
}

/// A key file or key text could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not a key of the expected kind.
    #[error("{0}")]
    Format(String),
    /// No randomness for a new key.
    #[error("no randomness for a new key: {0}")]
    Random(String),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn signed_message(sha256: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIG_MAGIC.len() + 33);
    m.extend_from_slice(SIG_MAGIC.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(sha256);
    m
}

/// A public key that may sign packs.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The key id: hex of the first 8 bytes of the key's SHA-256.
    pub fn id(&self) -> String {
        hex(&Sha256::digest(self.0.as_bytes())[..8])
    }

    /// Reads a public key file (`ed25519:BASE64`; `#` comment lines and
    /// blank lines are ignored).
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        text.parse()
            .map_err(|e: KeyError| KeyError::Format(format!("{}: {e}", path.display())))
    }

    /// Writes the key in its text form.
    pub fn write(&self, path: &Path) -> Result<(), KeyError> {
        std::fs::write(path, format!("{self}\n")).map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{KEY_PREFIX}{}", B64.encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id())
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(text: &str) -> Result<Self, KeyError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| KeyError::Format("no key in the text".into()))?;
        if line.starts_with(SECRET_MAGIC) {
            return Err(KeyError::Format(
                "this is a secret key; give the public key (.pub)".into(),
            ));
        }
        let b64 = line
            .strip_prefix(KEY_PREFIX)
            .ok_or_else(|| KeyError::Format(format!("a public key starts with {KEY_PREFIX:?}")))?;
        let bytes: [u8; 32] = B64
            .decode(b64)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| KeyError::Format("a public key is 32 bytes of base64".into()))?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|e| KeyError::Format(format!("not an ed25519 public key: {e}")))
    }
}

/// A secret key that signs packs.
pub struct SecretKey(SigningKey);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.public().id())
    }
}

impl SecretKey {
    /// A new random key (from the operating system's generator).
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(SecretKey(key))
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs a pack.
    pub fn sign(&self, pack: &[u8]) -> PackSignature {
        let sha256: [u8; 32] = Sha256::digest(pack).into();
        let signature = self.0.sign(&signed_message(&sha256));
        PackSignature {
            key_id: self.public().id(),
            sha256,
            signature: signature.to_bytes(),
        }
    }

    /// Reads a secret key file.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let b64 = text
            .trim()
            .strip_prefix(SECRET_MAGIC)
            .map(str::trim)
            .and_then(|t| t.strip_prefix(KEY_PREFIX))
            .ok_or_else(|| {
                KeyError::Format(format!(
                    "{}: not a mailward secret key ({SECRET_MAGIC} {KEY_PREFIX}…)",
                    path.display()
                ))
            })?;
        let seed: [u8; 32] = B64
            .decode(b64)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                KeyError::Format(format!("{}: a secret key is 32 bytes of base64", path.display()))
            })?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// Writes the key, readable by the owner only (created with mode 0600
    /// on Unix; an existing file is not overwritten).
    pub fn write(&self, path: &Path) -> Result<(), KeyError> {
        use std::io::Write;
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(path).map_err(io)?;
        writeln!(f, "{SECRET_MAGIC} {KEY_PREFIX}{}", B64.encode(self.0.to_bytes())).map_err(io)
    }
}

/// A signature of one pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSignature {
    /// Id of the signing key.
    pub key_id: String,
    /// SHA-256 of the signed pack.
    pub sha256: [u8; 32],
    /// The ed25519 signature.
    pub signature: [u8; 64],
}

impl fmt::Display for PackSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{SIG_MAGIC}")?;
        writeln!(f, "key-id: {}", self.key_id)?;
        writeln!(f, "sha256: {}", hex(&self.sha256))?;
        writeln!(f, "signature: {}", B64.encode(self.signature))
    }
}

impl FromStr for PackSignature {
    type Err = SignatureError;
    fn from_str(text: &str) -> Result<Self, SignatureError> {
        let bad = |s: &str| SignatureError::Malformed(s.to_string());
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if lines.next() != Some(SIG_MAGIC) {
            return Err(bad(&format!("the first line must be {SIG_MAGIC}")));
        }
        let (mut key_id, mut sha, mut sig) = (None, None, None);
        for line in lines {
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| bad(&format!("not a `name: value` line: {line:.40}")))?;
            let v = v.trim();
            match k.trim() {
                "key-id" => key_id = Some(v.to_string()),
                "sha256" => {
                    let bytes: Option<[u8; 32]> = (v.len() == 64)
                        .then(|| {
                            (0..32)
                                .map(|i| u8::from_str_radix(&v[2 * i..2 * i + 2], 16).ok())
                                .collect::<Option<Vec<u8>>>()
                        })
                        .flatten()
                        .and_then(|b| b.try_into().ok());
                    sha = Some(bytes.ok_or_else(|| bad("sha256 must be 64 hex digits"))?);
                }
                "signature" => {
                    let bytes: Option<[u8; 64]> = B64.decode(v).ok().and_then(|b| b.try_into().ok());
                    sig = Some(bytes.ok_or_else(|| bad("signature must be 64 bytes of base64"))?);
                }
                other => return Err(bad(&format!("unknown field {other:.20}"))),
            }
        }
        Ok(PackSignature {
            key_id: key_id.ok_or_else(|| bad("no key-id"))?,
            sha256: sha.ok_or_else(|| bad("no sha256"))?,
            signature: sig.ok_or_else(|| bad("no signature"))?,
        })
    }
}

/// The signature file of a pack file: `pack.wasm` → `pack.wasm.sig`.
pub fn signature_path(pack: &Path) -> PathBuf {
    let mut name = pack.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// How a pack passed the signature check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Signed by the trusted key with this id.
    Signed(String),
    /// The pack built into the binary.
    BuiltIn,
    /// No keys are configured: signatures are not required.
    Unchecked,
}

impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::Signed(id) => write!(f, "signed by {id}"),
            Trust::BuiltIn => f.write_str("built in"),
            Trust::Unchecked => f.write_str("unsigned (no keys configured)"),
        }
    }
}

/// The public keys a deployment trusts to sign packs. Empty: signatures
/// are not required.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<PublicKey>,
}

impl TrustedKeys {
    /// Trusts `keys`.
    pub fn new(keys: Vec<PublicKey>) -> Self {
        TrustedKeys { keys }
    }

    /// Reads keys given as files or inline (`ed25519:BASE64`).
    pub fn from_specs<S: AsRef<str>>(specs: &[S], base: &Path) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for spec in specs {
            let spec = spec.as_ref();
            keys.push(if spec.starts_with(KEY_PREFIX) {
                spec.parse()?
            } else {
                PublicKey::read(&base.join(spec))?
            });
        }
        Ok(TrustedKeys { keys })
    }

    /// True when no keys are configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Checks `signature` (the text of the `.sig` file, if there is one)
    /// for `pack`. With no keys configured every pack passes unchecked.
    pub fn verify(
        &self,
        pack: &[u8],
        signature: Option<&str>,
        sig_name: &str,
    ) -> Result<Trust, SignatureError> {
        if self.keys.is_empty() {
            return Ok(Trust::Unchecked);
        }
        let sig: PackSignature = signature
            .ok_or_else(|| SignatureError::Missing(sig_name.to_string()))?
            .parse()?;
        let actual: [u8; 32] = Sha256::digest(pack).into();
        if actual != sig.sha256 {
            return Err(SignatureError::WrongFile {
                signed: hex(&sig.sha256),
                actual: hex(&actual),
            });
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.id() == sig.key_id)
            .ok_or_else(|| SignatureError::UntrustedKey(sig.key_id.clone()))?;
        let signature = ed25519_dalek::Signature::from_bytes(&sig.signature);
        key.0
            .verify_strict(&signed_message(&actual), &signature)
            .map_err(|_| SignatureError::BadSignature(sig.key_id.clone()))?;
        Ok(Trust::Signed(sig.key_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_every_way_to_fail() {
        let key = SecretKey::generate().unwrap();
        let other = SecretKey::generate().unwrap();
        let trusted = TrustedKeys::new(vec![key.public()]);
        let pack = b"\0asm pretend pack".to_vec();
        let sig = key.sign(&pack).to_string();
        assert_eq!(
            trusted.verify(&pack, Some(&sig), "p.sig"),
            Ok(Trust::Signed(key.public().id()))
        );
        // No keys: anything passes, unchecked.
        assert_eq!(
            TrustedKeys::default().verify(&pack, None, "p.sig"),
            Ok(Trust::Unchecked)
        );
        assert!(matches!(
            trusted.verify(&pack, None, "p.sig"),
            Err(SignatureError::Missing(_))
        ));
        let mut changed = pack.clone();
        changed[5] ^= 1;
        assert!(matches!(
            trusted.verify(&changed, Some(&sig), "p.sig"),
            Err(SignatureError::WrongFile { .. })
        ));
        let by_other = other.sign(&pack).to_string();
        assert!(matches!(
            trusted.verify(&pack, Some(&by_other), "p.sig"),
            Err(SignatureError::UntrustedKey(_))
        ));
        // A signature made by another key but claiming the trusted key's id.
        let mut forged = other.sign(&pack);
        forged.key_id = key.public().id();
        assert!(matches!(
            trusted.verify(&pack, Some(&forged.to_string()), "p.sig"),
            Err(SignatureError::BadSignature(_))
        ));
        assert!(matches!(
            trusted.verify(&pack, Some("hello"), "p.sig"),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn keys_round_trip_through_files() {
        let dir = std::env::temp_dir().join(format!("mailward-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = SecretKey::generate().unwrap();
        key.write(&dir.join("k")).unwrap();
        key.public().write(&dir.join("k.pub")).unwrap();
        assert!(
            key.write(&dir.join("k")).is_err(),
            "an existing key is not overwritten"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("k")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let back = SecretKey::read(&dir.join("k")).unwrap();
        assert_eq!(back.public(), key.public());
        let trusted =
            TrustedKeys::from_specs(&["k.pub".to_string(), key.public().to_string()], &dir).unwrap();
        assert_eq!(trusted.keys().len(), 2);
        assert!(
            PublicKey::read(&dir.join("k")).is_err(),
            "a secret key is not a public key"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
