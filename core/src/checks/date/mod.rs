//! The Date field against the time the message arrived.
//!
//! A mail client stamps the Date when the message is sent, so a Date far
//! ahead of the arrival is a clock the sender set on purpose: bulk-mailing
//! software post-dates its mail to stay at the top of date-sorted inboxes.
//! The arrival is the date of the topmost Received field (the last server
//! to handle the message, usually the receiving one), else the filter's
//! clock. How far ahead is reported in tiers, as SpamAssassin's
//! `DATE_IN_FUTURE_*` rules do; what each tier is worth is pack data.
//!
//! A Date in the past says little (mail is queued, resent, digested), so
//! it is not a symbol. An unparsable Date is left to the pack's header
//! rules.

use super::{Context, Findings};
use mail_parser::DateTime;

/// Symbols this check emits: the Date is this many hours after arrival.
pub const SYMBOLS: &[&str] = &[
    "DATE_IN_FUTURE_03_06",
    "DATE_IN_FUTURE_06_24",
    "DATE_IN_FUTURE_24_XX",
];

/// Lower bounds of the tiers, in hours, in [`SYMBOLS`] order.
const TIERS: [i64; 3] = [3, 6, 24];

/// Parses an RFC 5322 date to seconds since the Unix epoch.
fn timestamp(text: &str) -> Option<i64> {
    DateTime::parse_rfc822(text)
        .filter(DateTime::is_valid)
        .map(|d| d.to_timestamp())
}

/// When the message arrived: the topmost Received field's date (after its
/// last `;`, RFC 5321 section 4.4), else the clock; `None` when neither is
/// known.
fn arrival(cx: &Context<'_>) -> Option<(i64, &'static str)> {
    let received = cx
        .message
        .headers_named("Received")
        .next()
        .map(|h| h.unfolded())
        .and_then(|r| r.rsplit_once(';').and_then(|(_, d)| timestamp(d.trim())));
    match received {
        Some(t) => Some((t, "Received")),
        None => {
            let now = cx.env.now();
            (now > 0).then(|| (i64::try_from(now).unwrap_or(i64::MAX), "clock"))
        }
    }
}

/// Emits the tier of a Date more than 3 hours after the arrival.
pub fn check(cx: &Context<'_>, findings: &mut Findings) {
    let Some(date) = cx.message.header_text("Date").and_then(|d| timestamp(d.trim())) else {
        return;
    };
    let Some((arrived, source)) = arrival(cx) else {
        return;
    };
    let hours = date.saturating_sub(arrived) / 3600;
    if let Some(tier) = TIERS.iter().rposition(|&lo| hours >= lo) {
        let option = format!("Date {hours} h after arrival ({source})");
        findings.fire(cx.pack, SYMBOLS[tier], &[&option]);
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::run_with_rules;

    fn fired_at(now: u64, raw: &str) -> Vec<String> {
        run_with_rules("", &[], raw, now)
            .symbols
            .into_iter()
            .filter(|s| s.name.starts_with("DATE_IN_FUTURE"))
            .map(|s| format!("{} {}", s.name, s.options.join(",")))
            .collect()
    }

    fn fired(raw: &str) -> Vec<String> {
        fired_at(0, raw)
    }

    const RECEIVED: &str = "Received: from mx.example.org (mx.example.org [192.0.2.1])\r\n\
        \tby mail.example.net with ESMTP id 1234; Sat, 14 Sep 2002 13:00:00 +0000\r\n";

    #[test]
    fn tiers_against_the_topmost_received() {
        let cases = [
            ("Sat, 14 Sep 2002 13:05:00 +0000", None),
            ("Sat, 14 Sep 2002 15:59:00 +0000", None),
            (
                "Sat, 14 Sep 2002 16:00:00 +0000",
                Some("DATE_IN_FUTURE_03_06 Date 3 h after arrival (Received)"),
            ),
            // The zone counts: 23:30 at +0200 is 21:30 UTC, 8 hours on.
            (
                "Sat, 14 Sep 2002 23:30:00 +0200",
                Some("DATE_IN_FUTURE_06_24 Date 8 h after arrival (Received)"),
            ),
            (
                "Tue, 17 Sep 02 13:00:00 GMT",
                Some("DATE_IN_FUTURE_24_XX Date 72 h after arrival (Received)"),
            ),
            ("Fri, 13 Sep 2002 13:00:00 +0000", None),
            ("not a date", None),
        ];
        for (date, want) in cases {
            let raw = format!("{RECEIVED}Date: {date}\r\nSubject: s\r\n\r\nbody\r\n");
            let got = fired(&raw);
            assert_eq!(
                got,
                want.map(str::to_string).into_iter().collect::<Vec<_>>(),
                "{date}"
            );
        }
    }

    #[test]
    fn only_the_topmost_received_counts() {
        // A lower (earlier) hop with an odd clock changes nothing.
        let raw = format!(
            "{RECEIVED}Received: from client by mx.example.org; Sat, 14 Sep 2002 03:00:00 +0000\r\n\
             Date: Sat, 14 Sep 2002 13:30:00 +0000\r\n\r\nbody\r\n"
        );
        assert!(fired(&raw).is_empty(), "{:?}", fired(&raw));
    }

    #[test]
    fn without_received_the_clock_decides() {
        // The test environment's clock is 0 (unknown): no judgement.
        let raw = "Date: Tue, 17 Sep 2030 13:00:00 +0000\r\n\r\nbody\r\n";
        assert!(fired(raw).is_empty());
        // A Received field without a date falls back to the clock too.
        let raw = "Received: from a by b\r\nDate: Tue, 17 Sep 2030 13:00:00 +0000\r\n\r\nbody\r\n";
        assert!(fired(raw).is_empty());
        // With a clock: 2030-09-17 13:00 UTC is 1915880400; an hour before
        // it is nothing, two days before it is the last tier.
        assert!(fired_at(1_915_880_400 - 3600, raw).is_empty());
        assert_eq!(
            fired_at(1_915_880_400 - 48 * 3600, raw),
            ["DATE_IN_FUTURE_24_XX Date 48 h after arrival (clock)"]
        );
    }
}
