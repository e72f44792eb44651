//! On-disk cache of compiled (and pre-initialised) packs.
//!
//! An entry is keyed by the SHA-256 of the pack bytes, the settings it was
//! configured with, the host version and the engine's compatibility hash,
//! so a different pack, configuration, wasmtime or CPU never reuses an
//! entry. Entries carry a SHA-256 of their own bytes, checked before the
//! compiled code is deserialized: a truncated or corrupted file is
//! recompiled, not loaded.
//!
//! Compiled code is only ever taken from this cache, never from a pack's
//! source: the cache is the host's own. On Unix an entry is used only when
//! it and the cache directory belong to the user running the host and
//! cannot be written by anyone else, so a directory another account can
//! write to is never a way to run code the host did not compile.

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

    /// The compiled bytes for `key`, if present, intact and owned by us.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let path = self.path(key);
        if !path.exists() {
            return None;
        }
        if let Err(why) = private(&self.dir).and_then(|()| private(&path)) {
            tracing::warn!(path = %path.display(), "compile cache entry not used: {why}");
            return None;
        }
        let mut file = fs::read(&path).ok()?;
        let intact = file
            .strip_prefix(MAGIC)
            .filter(|rest| rest.len() > 65 && rest[64] == b'\n')
            .is_some_and(|rest| {
                let (sum, body) = rest.split_at(65);
                sha256_hex(body).as_bytes() == &sum[..64]
            });
        if !intact {
            tracing::warn!(path = %path.display(), "compile cache entry is corrupt; recompiling");
            let _ = fs::remove_file(&path);
            return None;
        }
        // The body in place: an entry is tens of MiB (code and the
        // pre-initialised memory), so no second buffer.
        file.drain(..MAGIC.len() + 65);
        Some(file)
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

/// Ok when `path` belongs to this user and is not group/world-writable.
#[cfg(unix)]
fn private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path).map_err(|e| e.to_string())?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if m.uid() != me {
        return Err(format!("{} belongs to uid {}, not {me}", path.display(), m.uid()));
    }
    if m.mode() & 0o022 != 0 {
        return Err(format!(
            "{} is writable by others (mode {:o})",
            path.display(),
            m.mode() & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn private(_: &Path) -> Result<(), String> {
    Ok(())
}

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
        // An entry others may write is not used (and not deleted).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            cache.put("k", b"compiled code").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
            assert!(cache.get("k").is_none());
            assert!(path.exists());
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(cache.get("k").is_some());
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
