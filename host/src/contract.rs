//! The contract versions this host speaks, and the one place where code
//! depends on which version a pack was built for.
//!
//! A pack's version is read from the component's own export names
//! (`mailward:filter/filter@X.Y.Z`) before anything is compiled, so a pack
//! built for a contract this host does not speak is refused with the
//! version it declares. Everything else in the host talks to a pack through
//! [`PackPre`] and [`PackInstance`], which dispatch to the version's
//! generated bindings and convert to mailward-core's types. Supporting one
//! more contract version means: one more `bindgen!` module, one more
//! [`ContractVersion`] variant, and one more arm in each `match` below (the
//! linker holds the imports of every version at once: their names carry
//! the version).

use crate::bindings;
use crate::error::LoadError;
use crate::state::MessageState;
use mailward_core::types::{Envelope, PackInfo, Settings, Verdict};
use wasmtime::Store;
use wasmtime::component::{Component, InstancePre, Linker};

/// The WIT package every rule pack implements.
pub const PACKAGE: &str = "mailward:filter";

/// A version of the `mailward:filter` contract this host can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContractVersion {
    /// `mailward:filter@0.2.0`: 0.1 plus the `state` import and alerts in
    /// verdicts (outbound filtering).
    V0_2,
    /// `mailward:filter@0.1.0`: `dns`, `clock`, `log` imports; `filter` export.
    V0_1,
}

impl ContractVersion {
    /// Every version this host speaks, newest first.
    pub const SUPPORTED: &'static [ContractVersion] = &[ContractVersion::V0_2, ContractVersion::V0_1];

    /// The newest version: what `mailward pack` tools and new packs target.
    pub const CURRENT: ContractVersion = ContractVersion::V0_2;

    /// The WIT package with its version, e.g. `mailward:filter@0.1.0`.
    pub fn package(self) -> &'static str {
        match self {
            ContractVersion::V0_2 => "mailward:filter@0.2.0",
            ContractVersion::V0_1 => "mailward:filter@0.1.0",
        }
    }

    /// (major, minor) of the version.
    fn major_minor(self) -> (u64, u64) {
        match self {
            ContractVersion::V0_2 => (0, 2),
            ContractVersion::V0_1 => (0, 1),
        }
    }

    /// The supported version a declared `X.Y.Z` is compatible with (same
    /// major; for 0.x, same minor — the semver rule for pre-1.0 versions).
    pub fn for_version(version: &str) -> Option<ContractVersion> {
        let mut it = version.split(['.', '-', '+']);
        let major: u64 = it.next()?.parse().ok()?;
        let minor: u64 = it.next()?.parse().ok()?;
        Self::SUPPORTED.iter().copied().find(|v| {
            let (maj, min) = v.major_minor();
            maj == major && (major != 0 || min == minor)
        })
    }

    /// The supported version a declared `mailward:filter@X.Y.Z` matches.
    pub fn for_package(declared: &str) -> Option<ContractVersion> {
        let (pkg, version) = declared.split_once('@')?;
        (pkg == PACKAGE).then(|| Self::for_version(version)).flatten()
    }

    /// Reads which contract version a component implements from its
    /// top-level export names, without compiling it.
    pub fn detect(component: &[u8]) -> Result<ContractVersion, LoadError> {
        let prefix = format!("{PACKAGE}/filter@");
        let mut exports = Vec::new();
        let mut depth = 0usize;
        for payload in wasmparser::Parser::new(0).parse_all(component) {
            let payload = payload.map_err(|e| LoadError::Invalid(e.to_string()))?;
            match payload {
                wasmparser::Payload::Version { .. } => depth += 1,
                wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
                wasmparser::Payload::ComponentExportSection(reader) if depth == 1 => {
                    for export in reader {
                        let export = export.map_err(|e| LoadError::Invalid(e.to_string()))?;
                        exports.push(export.name.name.to_string());
                    }
                }
                _ => {}
            }
        }
        let declared = exports.iter().find_map(|name| name.strip_prefix(&prefix));
        match declared {
            Some(version) => Self::for_version(version).ok_or_else(|| LoadError::Contract {
                expected: supported_list(),
                detail: format!("the pack implements {PACKAGE}@{version}"),
            }),
            None => Err(LoadError::Contract {
                expected: supported_list(),
                detail: format!(
                    "the component exports no `{PACKAGE}/filter` interface (it exports: {})",
                    if exports.is_empty() {
                        "nothing".to_string()
                    } else {
                        exports.join(", ")
                    }
                ),
            }),
        }
    }
}

impl std::fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.package())
    }
}

/// The supported versions for error messages, e.g. `mailward:filter@0.1.x`.
pub fn supported_list() -> String {
    ContractVersion::SUPPORTED
        .iter()
        .map(|v| {
            let (maj, min) = v.major_minor();
            if maj == 0 {
                format!("{PACKAGE}@0.{min}.x")
            } else {
                format!("{PACKAGE}@{maj}.x")
            }
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Adds the host side of every supported version's imports to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<MessageState>) -> wasmtime::Result<()> {
    use wasmtime::component::HasSelf;
    bindings::v0_2::Pack::add_to_linker::<_, HasSelf<MessageState>>(linker, |s| s)?;
    bindings::v0_1::Pack::add_to_linker::<_, HasSelf<MessageState>>(linker, |s| s)?;
    Ok(())
}

/// A pack linked against the host's imports, ready to instantiate.
pub(crate) enum PackPre {
    V0_2(bindings::v0_2::PackPre<MessageState>),
    V0_1(bindings::v0_1::PackPre<MessageState>),
}

/// One instance of a pack in one store.
pub(crate) enum PackInstance {
    V0_2(bindings::v0_2::Pack),
    V0_1(bindings::v0_1::Pack),
}

impl PackPre {
    /// Links `component` (built for `version`) against the host's imports.
    pub fn new(
        version: ContractVersion,
        linker: &Linker<MessageState>,
        component: &Component,
    ) -> Result<Self, LoadError> {
        let contract = |e: wasmtime::Error| LoadError::Contract {
            expected: supported_list(),
            detail: format!("{e:#}"),
        };
        let pre = linker.instantiate_pre(component).map_err(contract)?;
        match version {
            ContractVersion::V0_2 => Ok(PackPre::V0_2(
                bindings::v0_2::PackPre::new(pre).map_err(contract)?,
            )),
            ContractVersion::V0_1 => Ok(PackPre::V0_1(
                bindings::v0_1::PackPre::new(pre).map_err(contract)?,
            )),
        }
    }

    /// The version's untyped `InstancePre` (for pre-initialisation).
    pub fn instance_pre(&self) -> &InstancePre<MessageState> {
        match self {
            PackPre::V0_2(p) => p.instance_pre(),
            PackPre::V0_1(p) => p.instance_pre(),
        }
    }

    /// Instantiates the pack in `store`.
    pub fn instantiate(&self, store: &mut Store<MessageState>) -> wasmtime::Result<PackInstance> {
        match self {
            PackPre::V0_2(p) => Ok(PackInstance::V0_2(p.instantiate(store)?)),
            PackPre::V0_1(p) => Ok(PackInstance::V0_1(p.instantiate(store)?)),
        }
    }

    /// Wraps an instance created from [`PackPre::instance_pre`].
    pub fn wrap(
        &self,
        store: &mut Store<MessageState>,
        instance: &wasmtime::component::Instance,
    ) -> wasmtime::Result<PackInstance> {
        match self {
            PackPre::V0_2(_) => Ok(PackInstance::V0_2(bindings::v0_2::Pack::new(store, instance)?)),
            PackPre::V0_1(_) => Ok(PackInstance::V0_1(bindings::v0_1::Pack::new(store, instance)?)),
        }
    }
}

impl PackInstance {
    /// `filter.info`.
    pub fn info(&self, store: &mut Store<MessageState>) -> wasmtime::Result<PackInfo> {
        match self {
            PackInstance::V0_2(p) => Ok(bindings::v0_2::info(p.mailward_filter_filter().call_info(store)?)),
            PackInstance::V0_1(p) => Ok(bindings::v0_1::info(p.mailward_filter_filter().call_info(store)?)),
        }
    }

    /// `filter.configure`.
    pub fn configure(
        &self,
        store: &mut Store<MessageState>,
        settings: &Settings,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            PackInstance::V0_2(p) => p
                .mailward_filter_filter()
                .call_configure(store, &bindings::v0_2::settings(settings)),
            PackInstance::V0_1(p) => p
                .mailward_filter_filter()
                .call_configure(store, &bindings::v0_1::settings(settings)),
        }
    }

    /// `filter.check`, with the verdict converted to mailward-core's type.
    pub fn check(
        &self,
        store: &mut Store<MessageState>,
        envelope: &Envelope,
        message: &[u8],
    ) -> wasmtime::Result<Verdict> {
        match self {
            PackInstance::V0_2(p) => Ok(bindings::v0_2::verdict(p.mailward_filter_filter().call_check(
                store,
                &bindings::v0_2::envelope(envelope),
                message,
            )?)),
            PackInstance::V0_1(p) => Ok(bindings::v0_1::verdict(p.mailward_filter_filter().call_check(
                store,
                &bindings::v0_1::envelope(envelope),
                message,
            )?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_versions() {
        let v = ContractVersion::for_package;
        assert_eq!(v("mailward:filter@0.1.0"), Some(ContractVersion::V0_1));
        assert_eq!(v("mailward:filter@0.1.7"), Some(ContractVersion::V0_1));
        assert_eq!(v("mailward:filter@0.2.0"), Some(ContractVersion::V0_2));
        assert_eq!(v("mailward:filter@0.2.3"), Some(ContractVersion::V0_2));
        assert_eq!(v("mailward:filter@0.3.0"), None);
        assert_eq!(v("mailward:filter@0.0.9"), None);
        assert_eq!(v("mailward:filter@1.1.0"), None);
        assert_eq!(v("other:filter@0.1.0"), None);
        assert_eq!(v("garbage"), None);
        assert_eq!(supported_list(), "mailward:filter@0.2.x or mailward:filter@0.1.x");
    }
}
