//! `mailward pack`: keys, signatures and self-test suites of pack files,
//! and the built-in pack as a file.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use mailward_host::selftest::{self, Suite};
use mailward_host::signing::signature_path;
use mailward_host::{SecretKey, TrustedKeys};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PackCmd {
    /// Make a new ed25519 signing key: KEY (secret, mode 0600) and KEY.pub.
    Keygen {
        /// Where to write the secret key (the public key goes to KEY.pub).
        #[arg(long, value_name = "KEY")]
        out: PathBuf,
    },
    /// Sign a pack: writes PACK.wasm.sig beside it.
    Sign {
        /// The secret key.
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// The pack.
        pack: PathBuf,
    },
    /// Check a pack's signature (PACK.wasm.sig) against public keys.
    Verify {
        /// A trusted public key (file or `ed25519:BASE64`; repeatable).
        #[arg(long = "pub", value_name = "PUB", required = true)]
        public: Vec<String>,
        /// The pack.
        pack: PathBuf,
    },
    /// Write the built-in pack (the one this binary was built with, from
    /// `rules/pack`) to a file, to sign and ship it to gateways.
    Export {
        /// Where to write the component.
        #[arg(short, long, value_name = "OUT.wasm")]
        out: PathBuf,
    },
    /// Embed a self-test suite in a pack (its `mailward-selftest` section,
    /// replacing any it had); sign the result afterwards.
    EmbedSelftest {
        /// The suite (TOML; `message-file` paths are inlined).
        #[arg(long, value_name = "CASES.toml")]
        cases: PathBuf,
        /// The pack.
        pack: PathBuf,
        /// Where to write the result (default: replace PACK).
        #[arg(short, long, value_name = "OUT.wasm")]
        out: Option<PathBuf>,
    },
}

pub fn run(cmd: PackCmd) -> Result<ExitCode> {
    match cmd {
        PackCmd::Keygen { out } => {
            let key = SecretKey::generate()?;
            key.write(&out)?;
            let mut pub_path = out.clone().into_os_string();
            pub_path.push(".pub");
            let pub_path = PathBuf::from(pub_path);
            key.public().write(&pub_path)?;
            println!(
                "key {}: secret {}, public {}",
                key.public().id(),
                out.display(),
                pub_path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        PackCmd::Sign { key, pack } => {
            let key = SecretKey::read(&key)?;
            let bytes = std::fs::read(&pack).with_context(|| format!("reading {}", pack.display()))?;
            let sig = key.sign(&bytes);
            let sig_path = signature_path(&pack);
            std::fs::write(&sig_path, sig.to_string())
                .with_context(|| format!("writing {}", sig_path.display()))?;
            println!("{}: signed by {}", sig_path.display(), sig.key_id);
            Ok(ExitCode::SUCCESS)
        }
        PackCmd::Verify { public, pack } => {
            let keys = TrustedKeys::from_specs(&public, std::path::Path::new("."))?;
            let bytes = std::fs::read(&pack).with_context(|| format!("reading {}", pack.display()))?;
            let sig_path = signature_path(&pack);
            let sig = match std::fs::read_to_string(&sig_path) {
                Ok(s) => Some(s),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => bail!("reading {}: {e}", sig_path.display()),
            };
            match keys.verify(&bytes, sig.as_deref(), &sig_path.display().to_string()) {
                Ok(trust) => {
                    println!("{}: good signature ({trust})", pack.display());
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("mailward: {}: {e}", pack.display());
                    Ok(ExitCode::from(1))
                }
            }
        }
        PackCmd::Export { out } => {
            let pack = mailward_pack::DEFAULT_PACK;
            std::fs::write(&out, pack).with_context(|| format!("writing {}", out.display()))?;
            println!("{}: the built-in pack, {} bytes", out.display(), pack.len());
            Ok(ExitCode::SUCCESS)
        }
        PackCmd::EmbedSelftest { cases, pack, out } => {
            let suite = Suite::read(&cases)?;
            if suite.is_empty() {
                bail!("{} has no [[case]]", cases.display());
            }
            let bytes = std::fs::read(&pack).with_context(|| format!("reading {}", pack.display()))?;
            let with = selftest::embed(&bytes, &suite).map_err(anyhow::Error::msg)?;
            let out = out.unwrap_or(pack);
            std::fs::write(&out, with).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{}: {} self-test cases embedded (sign it again: its bytes changed)",
                out.display(),
                suite.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
