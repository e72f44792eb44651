//! The production DNS resolver: hickory with timeouts and its answer cache.

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::proto::rr::{RData, RecordType as HRecordType};
use mailward_core::dns::{Answer, DnsError, Query, Record, RecordType, Resolver};
use std::net::IpAddr;
use std::time::Duration;

/// How the resolver is set up.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Name servers; empty means the system's (`/etc/resolv.conf`).
    pub servers: Vec<IpAddr>,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Attempts per question.
    pub attempts: usize,
    /// Answers kept in the cache.
    pub cache_size: u64,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            servers: Vec::new(),
            timeout: Duration::from_secs(2),
            attempts: 2,
            cache_size: 10_000,
        }
    }
}

/// A [`Resolver`] backed by hickory-resolver on its own tokio runtime, so
/// synchronous callers (the sandbox's imports) can use it from any thread
/// that is not itself running async tasks.
pub struct HickoryResolver {
    runtime: tokio::runtime::Runtime,
    resolver: TokioResolver,
}

impl std::fmt::Debug for HickoryResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HickoryResolver")
    }
}

impl HickoryResolver {
    /// Builds a resolver.
    pub fn new(config: &DnsConfig) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mailward-dns")
            .enable_time()
            .enable_io()
            .build()
            .map_err(|e| format!("DNS runtime: {e}"))?;
        let _guard = runtime.enter();
        let provider = hickory_resolver::net::runtime::TokioRuntimeProvider::default();
        let mut builder = if config.servers.is_empty() {
            TokioResolver::builder_tokio()
                .map_err(|e| format!("reading the system DNS configuration: {e}"))?
        } else {
            let servers = config
                .servers
                .iter()
                .map(|ip| NameServerConfig::udp_and_tcp(*ip))
                .collect();
            TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
        };
        let opts = builder.options_mut();
        opts.timeout = config.timeout;
        opts.attempts = config.attempts;
        opts.cache_size = config.cache_size;
        opts.ndots = 0;
        opts.edns0 = true;
        let resolver = builder
            .build()
            .map_err(|e| format!("building the DNS resolver: {e}"))?;
        Ok(HickoryResolver { runtime, resolver })
    }

    async fn ask(resolver: &TokioResolver, query: &Query) -> Answer {
        let rtype = match query.rtype {
            RecordType::A => HRecordType::A,
            RecordType::Aaaa => HRecordType::AAAA,
            RecordType::Txt => HRecordType::TXT,
            RecordType::Mx => HRecordType::MX,
            RecordType::Ptr => HRecordType::PTR,
        };
        // A trailing dot makes the name absolute: no search-list guesses.
        let name = format!("{}.", query.name.trim_end_matches('.'));
        match resolver.lookup(name.as_str(), rtype).await {
            Ok(lookup) => {
                let records: Vec<Record> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| convert(&r.data))
                    .filter(|r| r.rtype() == query.rtype)
                    .collect();
                if records.is_empty() {
                    Err(DnsError::NoData)
                } else {
                    Ok(records)
                }
            }
            Err(e) if e.is_nx_domain() => Err(DnsError::NxDomain),
            Err(e) if e.is_no_records_found() => Err(DnsError::NoData),
            Err(hickory_resolver::net::NetError::Timeout) => Err(DnsError::Timeout),
            Err(e) => {
                tracing::debug!(target: "mailward::dns", name = %query.name, "lookup failed: {e}");
                Err(DnsError::ServFail)
            }
        }
    }
}

fn convert(data: &RData) -> Option<Record> {
    Some(match data {
        RData::A(a) => Record::A(a.0),
        RData::AAAA(a) => Record::Aaaa(a.0),
        RData::TXT(t) => Record::Txt(t.txt_data.iter().flat_map(|s| s.iter().copied()).collect()),
        RData::MX(mx) => Record::Mx {
            preference: mx.preference,
            exchange: mx.exchange.to_ascii().trim_end_matches('.').to_string(),
        },
        RData::PTR(p) => Record::Ptr(p.0.to_ascii().trim_end_matches('.').to_string()),
        _ => return None,
    })
}

impl Resolver for HickoryResolver {
    fn lookup(&self, query: &Query) -> Answer {
        self.runtime.block_on(Self::ask(&self.resolver, query))
    }

    fn lookup_batch(&self, queries: &[Query]) -> Vec<Answer> {
        let resolver = &self.resolver;
        self.runtime.block_on(futures::future::join_all(
            queries.iter().map(|q| Self::ask(resolver, q)),
        ))
    }
}
