//! On-disk cache of compiled (and pre-initialised) packs.
//!
//! An entry is keyed by the SHA-256 of the pack bytes, the settings it was
//! configured with, the host version and the engine's compatibility hash,
//! so a different pack, configuration, wasmtime or CPU never reuses an
//! entry. Entries carry a SHA-256 of their own bytes, checked before the
//! compiled code is deserialized: a truncated or corrupted file is
//! recompiled, not loaded.

use sha2::{Digest, Sha256};
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache directory: `$MAILWARD_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/mailward`, else `~/.cache/mailward`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("MAILWARD_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("mailward"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("mailward"))
}

/// A directory of compiled packs.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

struct StdHasher(Sha256);

impl Hasher for StdHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl CompileCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CompileCache { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key for a pack compiled by `engine` with `settings_json`.
    pub fn key(engine: &wasmtime::Engine, pack_sha256: &str, settings_json: &str) -> String {
        let mut h = StdHasher(Sha256::new());
        "mailward-compile-cache-v1".hash(&mut h);
        env!("CARGO_PKG_VERSION").hash(&mut h);
        pack_sha256.hash(&mut h);
        settings_json.hash(&mut h);
        engine.precompile_compatibility_hash().hash(&mut h);
        hex(&h.0.finalize())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    /// The compiled bytes for `key`, if present and intact.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let path = self.path(key);
        let file = fs::read(&path).ok()?;
        let intact = file
            .strip_prefix(MAGIC)
            .filter(|rest| rest.len() > 65 && rest[64] == b'\n')
            .and_then(|rest| {
                let (sum, body) = rest.split_at(65);
                (sha256_hex(body).as_bytes() == &sum[..64]).then(|| body.to_vec())
            });
        if intact.is_none() {
            tracing::warn!(path = %path.display(), "compile cache entry is corrupt; recompiling");
            let _ = fs::remove_file(&path);
        }
        intact
    }

    /// Stores compiled bytes under `key`: written to a temporary file, then
    /// renamed into place, so readers never see half an entry.
    pub fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{key}.{}.tmp", std::process::id()));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(MAGIC)?;
        f.write_all(sha256_hex(bytes).as_bytes())?;
        f.write_all(b"\n")?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, self.path(key))
    }
}

const MAGIC: &[u8] = b"mailward-cwasm-v1\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = std::env::temp_dir().join(format!("mailward-cache-test-{}", std::process::id()));
        let cache = CompileCache::new(&dir);
        assert!(cache.get("k").is_none());
        cache.put("k", b"compiled code").unwrap();
        assert_eq!(cache.get("k").as_deref(), Some(&b"compiled code"[..]));
        // Flip one byte of the body: the entry is refused and removed.
        let path = dir.join("k.cwasm");
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, bytes).unwrap();
        assert!(cache.get("k").is_none());
        assert!(!path.exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
