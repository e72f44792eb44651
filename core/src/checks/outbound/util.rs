//! Small helpers of the outbound check: state keys, hashing, client
//! networks, dates.

use std::net::IpAddr;

/// Longest user name used verbatim in a state key; longer names are hashed
/// so keys stay within the host's bounds.
const MAX_KEY_PART: usize = 160;

/// FNV-1a, 64 bits: a stable hash that is the same natively and in wasm.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `s` as a state-key part: verbatim when short, else a hash.
pub fn key_part(s: &str) -> String {
    if s.len() <= MAX_KEY_PART && !s.contains(char::is_control) {
        s.to_string()
    } else {
        format!("#{:016x}", fnv1a(s.as_bytes()))
    }
}

/// A normalised address: trimmed, angle brackets removed, lower-case.
pub fn normalise_address(a: &str) -> String {
    a.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_ascii_lowercase()
}

/// The network of `ip` at the given prefix lengths, e.g. `198.51.0.0/16`.
pub fn client_network(ip: IpAddr, v4_prefix: u8, v6_prefix: u8) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let p = u32::from(v4_prefix.min(32));
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            format!("{}/{}", std::net::Ipv4Addr::from(bits & mask), p)
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => client_network(IpAddr::V4(v4), v4_prefix, v6_prefix),
            None => {
                let bits = u128::from(v6);
                let p = u32::from(v6_prefix.min(128));
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                format!("{}/{}", std::net::Ipv6Addr::from(bits & mask), p)
            }
        },
    }
}

/// A fingerprint of a message's visible text for "same body" counting:
/// lower-case letters only (digits, punctuation and spacing dropped, so
/// per-recipient numbers and reflowed lines do not make a new body).
/// `None` when there is too little text to tell bodies apart.
pub fn body_fingerprint(subject: Option<&str>, text: &str) -> Option<String> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut letters = 0usize;
    for c in subject.unwrap_or("").chars().chain(text.chars()) {
        if c.is_alphabetic() {
            for lc in c.to_lowercase() {
                let mut buf = [0u8; 4];
                for &b in lc.encode_utf8(&mut buf).as_bytes() {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(0x0000_0100_0000_01b3);
                }
            }
            letters += 1;
        }
    }
    (letters >= 20).then(|| format!("{h:016x}"))
}

/// The next midnight (UTC) after `now`.
pub fn next_midnight(now: u64) -> u64 {
    (now / 86_400 + 1) * 86_400
}

/// The UTC calendar date of Unix seconds (proleptic Gregorian): year,
/// month, day, and the seconds into that day.
pub fn civil_utc(t: u64) -> (i64, i64, i64, u64) {
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs)
}

/// `YYYY-MM-DD HH:MM UTC` for Unix seconds (proleptic Gregorian).
pub fn format_utc(t: u64) -> String {
    let (y, m, d, secs) = civil_utc(t);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// The Message-IDs in an `In-Reply-To` or `References` value, normalised
/// (angle brackets removed, lower-case), at most `max`.
pub fn message_ids(value: &str, max: usize, out: &mut Vec<String>) {
    let mut rest = value;
    while out.len() < max {
        let Some(start) = rest.find('<') else { break };
        let Some(len) = rest[start + 1..].find('>') else {
            break;
        };
        let id = rest[start + 1..start + 1 + len].trim().to_ascii_lowercase();
        rest = &rest[start + 1 + len + 1..];
        if !id.is_empty() && !id.contains(char::is_whitespace) && !out.contains(&id) {
            out.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_midnight() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(1_795_651_200), "2026-11-26 00:00 UTC");
        assert_eq!(format_utc(951_836_520), "2000-02-29 15:02 UTC");
        assert_eq!(next_midnight(1_795_651_200), 1_795_651_200 + 86_400);
        assert_eq!(next_midnight(1_795_651_199), 1_795_651_200);
    }

    #[test]
    fn networks() {
        let ip: IpAddr = "198.51.100.77".parse().unwrap();
        assert_eq!(client_network(ip, 16, 48), "198.51.0.0/16");
        assert_eq!(client_network(ip, 24, 48), "198.51.100.0/24");
        let v6: IpAddr = "2001:db8:1234:5678::1".parse().unwrap();
        assert_eq!(client_network(v6, 16, 48), "2001:db8:1234::/48");
        let mapped: IpAddr = "::ffff:192.0.2.9".parse().unwrap();
        assert_eq!(client_network(mapped, 24, 48), "192.0.2.0/24");
    }

    #[test]
    fn fingerprints_ignore_numbers_and_spacing() {
        let a = body_fingerprint(
            Some("Offer"),
            "Dear customer 1234,\n buy   now at the best price!",
        );
        let b = body_fingerprint(Some("offer"), "Dear customer 98, buy now at the best price");
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_ne!(
            a,
            body_fingerprint(Some("Offer"), "Dear customer, sell now at the best price")
        );
        assert_eq!(body_fingerprint(None, "hi"), None);
    }

    #[test]
    fn message_id_lists() {
        let mut ids = Vec::new();
        message_ids("<A@x.example> <b@y.example>\t<A@x.example> <broken", 8, &mut ids);
        assert_eq!(ids, ["a@x.example", "b@y.example"]);
        let mut few = Vec::new();
        message_ids("<1@a> <2@a> <3@a>", 2, &mut few);
        assert_eq!(few.len(), 2);
    }
}
