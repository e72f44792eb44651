//! A small, forgiving URL reader for links found in mail: scheme,
//! userinfo, host, port and the rest. It never fails on odd input (it
//! returns `None` for what is not a web URL) and never allocates more than
//! the URL's length.

use crate::domain;

/// A parsed link target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `http`, `https` or `ftp` (a bare `www.` link counts as `http`).
    pub scheme: String,
    /// The part before `@` in the authority, percent-decoded.
    pub userinfo: Option<String>,
    /// The host: lower-case, percent-decoded, without brackets or a
    /// trailing dot. Numeric forms (`3232235777`, `0x7f.1`) are rewritten
    /// to dotted IPv4 when they decode.
    pub host: String,
    /// True when the host was written as a number in a form other than
    /// dotted decimal (an obfuscation).
    pub numeric_host: bool,
    /// The port, when one is written.
    pub port: Option<String>,
    /// Path, query and fragment, as written.
    pub path: String,
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one IPv4 part in C `inet_aton` style (decimal, `0x` hex, `0` octal).
fn ip_part(p: &str) -> Option<u64> {
    if p.is_empty() {
        return None;
    }
    if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        return if h.is_empty() {
            Some(0)
        } else {
            u64::from_str_radix(h, 16).ok()
        };
    }
    if p.len() > 1 && p.starts_with('0') {
        return u64::from_str_radix(&p[1..], 8).ok();
    }
    p.parse().ok()
}

/// Decodes the numeric IPv4 forms browsers accept (`3232235777`,
/// `0xC0.0xA8.1.1`, `0300.0250.01.01`, `192.168.257`).
fn numeric_ipv4(host: &str) -> Option<[u8; 4]> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let vals: Vec<u64> = parts.iter().map(|p| ip_part(p)).collect::<Option<_>>()?;
    let (last, head) = vals.split_last()?;
    if head.iter().any(|&v| v > 255) {
        return None;
    }
    let room = 8 * (4 - head.len() as u32);
    if *last >= 1u64 << room {
        return None;
    }
    let mut n: u64 = 0;
    for &v in head {
        n = (n << 8) | v;
    }
    n = (n << room) | last;
    Some([(n >> 24) as u8, (n >> 16) as u8, (n >> 8) as u8, n as u8])
}

impl Url {
    /// Parses `href`; `None` for anything that is not an http(s)/ftp URL
    /// or a bare `www.` link.
    pub fn parse(href: &str) -> Option<Url> {
        let href = href.trim();
        let lower_head: String = href.chars().take(8).collect::<String>().to_ascii_lowercase();
        let (scheme, rest) = if let Some(i) = href.find("://") {
            let scheme = href[..i].to_ascii_lowercase();
            if !matches!(scheme.as_str(), "http" | "https" | "ftp") {
                return None;
            }
            (scheme, &href[i + 3..])
        } else if lower_head.starts_with("www.") {
            ("http".to_string(), href)
        } else {
            return None;
        };
        let rest = rest.trim_start_matches(['/', '\\']);
        let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(percent_decode(&authority[..i])), &authority[i + 1..]),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let close = v6.find(']')?;
            let port = v6[close + 1..].strip_prefix(':').map(str::to_string);
            (v6[..close].to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => {
                    (h.to_string(), (!p.is_empty()).then(|| p.to_string()))
                }
                _ => (hostport.to_string(), None),
            }
        };
        let mut host = domain::normalise(&percent_decode(&host));
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        let mut numeric_host = false;
        if !domain::is_ip_literal(&host)
            && host
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == '.' || c == 'x')
            && host.starts_with(|c: char| c.is_ascii_digit())
            && let Some(ip) = numeric_ipv4(&host)
        {
            host = format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]);
            numeric_host = true;
        }
        Some(Url {
            scheme,
            userinfo,
            host,
            numeric_host,
            port,
            path: path.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_urls() {
        let u = Url::parse("HTTPS://Www.Example.COM./a/b?c=d").unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(u.host, "www.example.com");
        assert_eq!(u.path, "/a/b?c=d");
        assert_eq!(u.userinfo, None);
        let u = Url::parse("www.example.org").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.path.as_str()),
            ("http", "www.example.org", "")
        );
        assert_eq!(Url::parse("mailto:a@b.example"), None);
        assert_eq!(Url::parse("javascript:alert(1)"), None);
        assert_eq!(Url::parse("http://"), None);
    }

    #[test]
    fn userinfo_ports_and_ipv6() {
        let u = Url::parse("http://www.bank.example@evil.example:8080/login").unwrap();
        assert_eq!(u.userinfo.as_deref(), Some("www.bank.example"));
        assert_eq!(u.host, "evil.example");
        assert_eq!(u.port.as_deref(), Some("8080"));
        let u = Url::parse("http://[2001:db8::1]:80/").unwrap();
        assert_eq!(u.host, "2001:db8::1");
        assert!(domain::is_ip_literal(&u.host));
    }

    #[test]
    fn obfuscated_hosts() {
        let u = Url::parse("http://3232235777/x").unwrap();
        assert_eq!(u.host, "192.168.1.1");
        assert!(u.numeric_host);
        let u = Url::parse("http://0xC0.0xA8.01.01/").unwrap();
        assert_eq!(u.host, "192.168.1.1");
        let u = Url::parse("http://192.0.2.1/").unwrap();
        assert!(!u.numeric_host);
        assert!(domain::is_ip_literal(&u.host));
        let u = Url::parse("http://%65vil.example/").unwrap();
        assert_eq!(u.host, "evil.example");
        assert!(!Url::parse("http://deadbeef.example/").unwrap().numeric_host);
        assert_eq!(numeric_ipv4("1.2.3.4.5"), None);
        assert_eq!(numeric_ipv4("256.1.1.1"), None);
    }
}
