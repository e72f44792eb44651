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
//!
//! The Date is also held against the Message-ID. Many mail servers and
//! some clients write the ID as a timestamp (`<200209031901.VAA16038@host>`
//! from Sendmail, `<20020903190112.ABCD@host>` from Postfix), taken when
//! the message was written or first handed to a server: the same day as
//! its Date, give or take the zones and a queue. Bulk-mailing software
//! that stamps a fresh Date on a stored template keeps the template's ID,
//! weeks or months apart (`MSGID_DATE_FAR`: more than 3 days either way).
//! Outlook and Outlook Express write the send time into their IDs too
//! (`<001c01c25b9a$5e4a3d20$6400a8c0@host>`: a counter, then the Windows
//! FILETIME's high and low 32 bits, 100 ns ticks since 1601), and software
//! that imitates the form without the clock writes random digits there,
//! thousands of years off (SpamAssassin's `MSGID_OUTLOOK_INVALID` test).

use super::{Context, Findings};
use mail_parser::DateTime;

/// Symbols this check emits: the Date is this many hours after arrival,
/// and [`MSGID_DATE_FAR`].
pub const SYMBOLS: &[&str] = &[
    "DATE_IN_FUTURE_03_06",
    "DATE_IN_FUTURE_06_24",
    "DATE_IN_FUTURE_24_XX",
    MSGID_DATE_FAR,
];

/// Lower bounds of the tiers, in hours, in [`SYMBOLS`] order.
const TIERS: [i64; 3] = [3, 6, 24];

/// Emitted when the Message-ID's timestamp and the Date are more than
/// [`MSGID_DATE_DAYS`] days apart.
pub const MSGID_DATE_FAR: &str = "MSGID_DATE_FAR";

/// How many days apart a Message-ID's timestamp and the Date may be.
const MSGID_DATE_DAYS: i64 = 3;

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

/// The date a Message-ID starts with (`<YYYYMMDD` and at least four more
/// digits, the time), as (year, month, day) and days since the epoch; `None`
/// for any other ID or an impossible date.
fn msgid_day(id: &str) -> Option<((i64, i64, i64), i64)> {
    let digits = id.trim().strip_prefix('<')?;
    let run = digits.bytes().take_while(u8::is_ascii_digit).count();
    if run < 12 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits[r].parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let days_in_month = match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if !(1980..=2199).contains(&y) || !(1..=days_in_month).contains(&d) {
        return None;
    }
    // Midnight UTC of that day, by mail-parser's calendar (as `timestamp`).
    let midnight = DateTime {
        year: u16::try_from(y).ok()?,
        month: u8::try_from(m).ok()?,
        day: u8::try_from(d).ok()?,
        ..DateTime::default()
    };
    Some(((y, m, d), midnight.to_timestamp().div_euclid(86_400)))
}

/// Seconds since the Unix epoch of 1601-01-01, the FILETIME epoch.
const FILETIME_EPOCH: i64 = -11_644_473_600;

/// The send time an Outlook-form Message-ID carries
/// (`<CCCCHHHHHHHH$LLLLLLLL$XXXXXXXX@…>`: four hex digits of a counter,
/// then the FILETIME's high and low 32 bits), in seconds since the Unix
/// epoch; `None` for any other ID.
fn outlook_time(id: &str) -> Option<i64> {
    let body = id.trim().strip_prefix('<')?.split('@').next()?;
    let hex = |g: &str, len: usize| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit());
    let groups: Vec<&str> = body.split('$').collect();
    let [first, low, third] = groups[..] else {
        return None;
    };
    if !(hex(first, 12) && hex(low, 8) && hex(third, 8)) {
        return None;
    }
    let high = u64::from_str_radix(&first[4..], 16).ok()?;
    let low = u64::from_str_radix(low, 16).ok()?;
    let ticks = (high << 32) | low;
    i64::try_from(ticks / 10_000_000).ok().map(|s| s + FILETIME_EPOCH)
}

/// Emits the tier of a Date more than 3 hours after the arrival, and
/// [`MSGID_DATE_FAR`].
pub fn check(cx: &Context<'_>, findings: &mut Findings) {
    let Some(date) = cx.message.header_text("Date").and_then(|d| timestamp(d.trim())) else {
        return;
    };
    let date_day = date.div_euclid(86_400);
    let later = |later: bool| if later { "later" } else { "earlier" };
    if let Some(id) = cx.message.header_text("Message-ID") {
        if let Some(((y, m, d), id_day)) = msgid_day(&id) {
            if (date_day - id_day).abs() > MSGID_DATE_DAYS {
                let option = format!(
                    "Message-ID {y:04}-{m:02}-{d:02}, Date {} days {}",
                    (date_day - id_day).abs(),
                    later(date_day > id_day)
                );
                findings.fire(cx.pack, MSGID_DATE_FAR, &[&option]);
            }
        } else if let Some(sent) = outlook_time(&id) {
            let days = (date - sent).abs() / 86_400;
            if days > MSGID_DATE_DAYS {
                let option = format!("Outlook Message-ID time, Date {days} days {}", later(date > sent));
                findings.fire(cx.pack, MSGID_DATE_FAR, &[&option]);
            }
        }
    }
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

    fn msgid_fired(date: &str, id: &str) -> Vec<String> {
        let raw = format!("{RECEIVED}Date: {date}\r\nMessage-ID: {id}\r\n\r\nbody\r\n");
        run_with_rules("", &[], &raw, 0)
            .symbols
            .into_iter()
            .filter(|s| s.name == super::MSGID_DATE_FAR)
            .map(|s| s.options.join(","))
            .collect()
    }

    #[test]
    fn msgid_timestamp_against_the_date() {
        const DATE: &str = "Sat, 14 Sep 2002 13:00:00 +0000";
        let cases = [
            // Sendmail (12 digits), Postfix (14), a bulk mailer's 15.
            ("<200209141301.VAA16038@mx.example.org>", None),
            ("<20020911130112.3F9E1@mx.example.org>", None),
            (
                "<20020910235959.3F9E1@mx.example.org>",
                Some("Message-ID 2002-09-10, Date 4 days later"),
            ),
            (
                "<200206291357927.SM00174@mail1.example>",
                Some("Message-ID 2002-06-29, Date 77 days later"),
            ),
            (
                "<200210011200.AA01@mx.example.org>",
                Some("Message-ID 2002-10-01, Date 17 days earlier"),
            ),
            // Not a timestamp: too few digits, no such date, other forms.
            ("<20020629.1357@mx.example.org>", None),
            ("<200213291357.AA01@mx.example.org>", None),
            ("<200202301357.AA01@mx.example.org>", None),
            ("<123456789012345@mx.example.org>", None),
            ("200206291357.AA01@mx.example.org", None),
            // Outlook's form: its FILETIME says 14 Sep 2002 02:56 UTC.
            ("<001c01c25b9a$5e4a3d20$6400a8c0@example>", None),
            // 9 Sep 2002 13:00 and 10 Sep 2002 14:00 UTC.
            (
                "<000001c25800$ce0d0800$0100a8c0@pc>",
                Some("Outlook Message-ID time, Date 5 days later"),
            ),
            ("<000001c258d2$5a3b3000$0100a8c0@pc>", None),
            // Imitations with random digits, thousands of years off.
            (
                "<006a5b3c2d1e$8f7e6d5c$4b3a2918@pc>",
                Some("Outlook Message-ID time, Date 7462285 days earlier"),
            ),
            (
                "<000000000000$00000000$00000000@pc>",
                Some("Outlook Message-ID time, Date 146718 days later"),
            ),
            // Not the form: wrong group lengths, non-hex digits, a fourth group.
            ("<0001c25b9a$5e4a3d20$6400a8c0@example>", None),
            ("<001c01c25x9a$5e4a3d20$6400a8c0@example>", None),
            ("<001c01c25b9a$5e4a3d20$6400a8c0$00@example>", None),
        ];
        for (id, want) in cases {
            let want: Vec<String> = want.map(str::to_string).into_iter().collect();
            assert_eq!(msgid_fired(DATE, id), want, "{id}");
        }
        // The Date's zone counts: 23:59 at -0700 is the next day in UTC.
        assert!(msgid_fired("Mon, 2 Sep 2002 23:59:58 -0700", "<20020906070112.A@x>").is_empty());
        assert_eq!(
            msgid_fired("Mon, 2 Sep 2002 12:00:00 +0000", "<20020907070112.A@x>"),
            ["Message-ID 2002-09-07, Date 5 days earlier"]
        );
        // Without a readable Date there is nothing to compare.
        assert!(msgid_fired("someday", "<200206291357.AA01@mx.example.org>").is_empty());
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
