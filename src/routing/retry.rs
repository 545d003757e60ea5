//! Retry policy: how long to wait between attempts, how to read a provider's `retry-after`, and
//! what to do after each kind of outcome.
//!
//! The outcome → action table ([`classify`]), and why:
//!
//! | outcome | action | why |
//! | --- | --- | --- |
//! | 1xx–3xx | `Done` | an answer; providers do not redirect API calls, so a 3xx goes to the caller as is |
//! | 401, 403 | `DisableKeyAndSwitch` | the key is wrong, revoked or lacks access; it will fail again, the next key may not |
//! | 402, 429 | `SwitchKeyAndCoolDown` | limits and quotas are per key: another key may have room; this one rests for its `retry-after` |
//! | 408, 425 | `RetrySameKeyThenOthers` | the provider gave up waiting or asks to try again: transient by definition |
//! | 498 | `RetrySameKeyThenOthers` | Groq's "flex capacity exceeded": transient capacity, like a 503 |
//! | other 4xx (400, 404, 409, 413, 422, ...) | `ReturnToCaller` | the request itself is wrong; every target would say the same |
//! | 501, 505 | `NextTarget` | this provider does not implement what was asked; another provider may |
//! | other 5xx (500, 502, 503, 504, 529, ...) | `RetrySameKeyThenOthers` | the provider failed or is overloaded; a retry after backoff usually succeeds |
//! | connect error | `RetrySameKeyThenOthers` | the request never reached the provider, so a retry cannot duplicate work |
//! | timeout before the first byte | `NextTarget` | the provider may still be working (and billing) on it; a second copy to the same target doubles the cost and most likely times out again |
//! | protocol error (unreadable answer, closed before the head) | `RetrySameKeyThenOthers` | usually a broken connection; the exchange layer already retried a stale pooled one once |
//!
//! Some providers report an exhausted quota or credit with another status (OpenAI: 429
//! `insufficient_quota`; Anthropic: 400 "credit balance is too low"); [`quota_exhausted`]
//! recognises those from the body so the key rests for a long cooldown (such as
//! [`QUOTA_COOLDOWN`]) instead of the caller getting a 400.

use std::time::{Duration, Instant};

/// Longest wait a `retry-after` may impose; larger values are capped (a day-long quota reset
/// must not park a key beyond what an operator would notice and act on).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A suggested cooldown for a key whose quota or credit is exhausted (402, or per
/// [`quota_exhausted`]) when the provider sends no `retry-after`: such a key will not recover
/// within the seconds a rate limit takes, and trying it on every request wastes an attempt.
pub const QUOTA_COOLDOWN: Duration = Duration::from_secs(300);

/// Retry limits of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts on one target, the first included.
    pub max_attempts: u32,
    /// Cap of the first backoff; each further retry doubles it.
    pub initial_backoff: Duration,
    /// Largest backoff.
    pub max_backoff: Duration,
    /// No attempt (on any target) starts later than this after the request arrived.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            deadline: Duration::from_secs(90),
        }
    }
}

impl RetryPolicy {
    /// Whether an attempt that would begin after waiting `wait` still starts within the
    /// deadline of a request that arrived at `started`.
    pub fn within_deadline(&self, started: Instant, now: Instant, wait: Duration) -> bool {
        now.saturating_duration_since(started).saturating_add(wait) < self.deadline
    }
}

/// The wait before retry number `attempt` (1 = the first retry): a uniformly random duration
/// between 0 and `min(max_backoff, initial_backoff × 2^(attempt-1))` ("full jitter", which
/// spreads the retries of many requests failing together instead of synchronising them).
pub fn backoff(attempt: u32, policy: &RetryPolicy, rng: &mut fastrand::Rng) -> Duration {
    let doublings = attempt.saturating_sub(1).min(63);
    let initial = u64::try_from(policy.initial_backoff.as_nanos()).unwrap_or(u64::MAX);
    let max = u64::try_from(policy.max_backoff.as_nanos()).unwrap_or(u64::MAX);
    let cap = initial.saturating_mul(1u64 << doublings).min(max);
    Duration::from_nanos(rng.u64(0..=cap))
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The provider answered with this status.
    Status(u16),
    /// No connection (refused, DNS failure, TLS failure, connect timeout): nothing was sent.
    Connect,
    /// No response head within the time-to-first-byte limit.
    Timeout,
    /// The answer could not be read (malformed head, connection closed before it).
    Protocol,
}

/// What the retry loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Success (or a status the caller should see as is): stop.
    Done,
    /// The request is at fault: answer the caller with this error now, no retry.
    ReturnToCaller,
    /// Transient failure of the target: after a backoff, retry with the same key; once its
    /// attempts are used, the target's other keys, then the next target.
    RetrySameKeyThenOthers,
    /// The key hit a rate limit or quota: cool it down and retry at once with another key.
    SwitchKeyAndCoolDown,
    /// The key was refused: disable it on this shard (log once) and retry with another key.
    DisableKeyAndSwitch,
    /// This target cannot serve the request: move on to the next target without retrying it.
    NextTarget,
}

/// The action for an outcome; the module documentation explains each row.
pub fn classify(outcome: Outcome) -> Action {
    match outcome {
        Outcome::Status(status) => match status {
            100..=399 => Action::Done,
            401 | 403 => Action::DisableKeyAndSwitch,
            402 | 429 => Action::SwitchKeyAndCoolDown,
            408 | 425 | 498 => Action::RetrySameKeyThenOthers,
            400..=499 => Action::ReturnToCaller,
            501 | 505 => Action::NextTarget,
            500..=599 => Action::RetrySameKeyThenOthers,
            // Not an HTTP status: the answer is broken.
            _ => Action::RetrySameKeyThenOthers,
        },
        Outcome::Connect => Action::RetrySameKeyThenOthers,
        Outcome::Timeout => Action::NextTarget,
        Outcome::Protocol => Action::RetrySameKeyThenOthers,
    }
}

/// Whether an error answer says the key's quota or credit is exhausted (rather than a rate
/// limit that clears within seconds): any 402; OpenAI's 429 `insufficient_quota`; Anthropic's
/// 400 "credit balance is too low"; billing hard limits. The caller treats such
/// an answer as `SwitchKeyAndCoolDown` with a long cooldown, whatever `classify` said.
pub fn quota_exhausted(status: u16, body: &[u8]) -> bool {
    if status == 402 {
        return true;
    }
    if !matches!(status, 400 | 403 | 429) {
        return false;
    }
    const MARKERS: [&[u8]; 4] = [
        b"insufficient_quota",
        b"credit balance is too low",
        b"billing_hard_limit_reached",
        b"exceeded your current quota",
    ];
    // Error bodies are small; a bound keeps a huge one from costing much.
    let body = &body[..body.len().min(8192)];
    MARKERS
        .iter()
        .any(|m| memchr::memmem::find(body, m).is_some())
}

/// Parses a `retry-after` value: delta-seconds (`"30"`, also fractional `"1.5"` as some
/// providers send) or an HTTP-date (IMF-fixdate, RFC 850 or asctime form), read against
/// `now_unix_secs`. A date in the past gives zero; anything longer than [`MAX_RETRY_AFTER`]
/// is capped. `None` for anything unparseable.
pub fn parse_retry_after(value: &[u8], now_unix_secs: u64) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    let delay = if text.as_bytes()[0].is_ascii_digit() {
        parse_decimal(text, 1_000_000_000)?
    } else {
        let at = parse_http_date(text)?;
        Duration::from_secs(at.saturating_sub(now_unix_secs))
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Parses a `retry-after-ms` value (milliseconds, possibly fractional), capped like
/// [`parse_retry_after`].
pub fn parse_retry_after_ms(value: &[u8]) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if !text.as_bytes().first()?.is_ascii_digit() {
        return None;
    }
    Some(parse_decimal(text, 1_000_000)?.min(MAX_RETRY_AFTER))
}

/// `digits[.digits]` in units of `unit_nanos`, to nanosecond precision; saturates instead of
/// overflowing (the result is capped by the callers anyway).
fn parse_decimal(text: &str, unit_nanos: u64) -> Option<Duration> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut units: u64 = 0;
    for b in whole.bytes() {
        units = units.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    let mut nanos = units.saturating_mul(unit_nanos);
    // Fractional digits beyond nanosecond precision are ignored.
    let mut scale = unit_nanos;
    for b in fraction.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        nanos = nanos.saturating_add(u64::from(b - b'0') * scale);
    }
    Some(Duration::from_nanos(nanos))
}

/// An HTTP-date as seconds since the Unix epoch. Accepts the three forms RFC 9110 requires
/// recipients to read:
/// `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT`, `Sun Nov  6 08:49:37 1994`.
fn parse_http_date(text: &str) -> Option<u64> {
    let (day, month, year, time) = if let Some((_, rest)) = text.split_once(',') {
        // IMF-fixdate or RFC 850: tokens split on spaces and dashes.
        let mut parts = rest.split([' ', '-']).filter(|p| !p.is_empty());
        let day = parts.next()?;
        let month = parts.next()?;
        let year = parts.next()?;
        let time = parts.next()?;
        let zone = parts.next()?;
        if !(zone.eq_ignore_ascii_case("GMT") || zone.eq_ignore_ascii_case("UTC")) {
            return None;
        }
        if parts.next().is_some() {
            return None;
        }
        (day, month, year, time)
    } else {
        // asctime: day-name month day time year.
        let mut parts = text.split_ascii_whitespace();
        let _day_name = parts.next()?;
        let month = parts.next()?;
        let day = parts.next()?;
        let time = parts.next()?;
        let year = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        (day, month, year, time)
    };
    let day: u32 = number(day, 2)?;
    let month = month_number(month)?;
    let year: u32 = match year.len() {
        4 => number(year, 4)?,
        // RFC 850 two-digit years: the rule of RFC 9110 (never more than 50 years ahead)
        // amounts to 19xx for 70..99 and 20xx below for any date this code will see.
        2 => {
            let yy: u32 = number(year, 2)?;
            if yy >= 70 {
                1900 + yy
            } else {
                2000 + yy
            }
        }
        _ => return None,
    };
    let mut hms = time.split(':');
    let hour: u32 = number(hms.next()?, 2)?;
    let minute: u32 = number(hms.next()?, 2)?;
    let second: u32 = number(hms.next()?, 2)?;
    if hms.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if year < 1970 || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_since_epoch(year, month, day);
    Some(days * 86_400 + u64::from(hour * 3600 + minute * 60 + second))
}

/// A number of at most `max_digits` ASCII digits.
fn number(s: &str, max_digits: usize) -> Option<u32> {
    if s.is_empty() || s.len() > max_digits || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(name))
        .map(|i| i as u32 + 1)
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given date (year ≥ 1970, valid date).
fn days_since_epoch(year: u32, month: u32, day: u32) -> u64 {
    // Leap years before `y` (counted from year 1): y/4 - y/100 + y/400 of the previous year.
    let leaps_before = |y: u32| {
        let p = u64::from(y - 1);
        p / 4 - p / 100 + p / 400
    };
    let years = u64::from(year - 1970);
    let mut days = years * 365 + leaps_before(year) - leaps_before(1970);
    for m in 1..month {
        days += u64::from(days_in_month(year, m));
    }
    days + u64::from(day - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1994-11-06T08:49:37Z, the RFC's example date.
    const RFC_EXAMPLE: u64 = 784_111_777;

    #[test]
    fn classification_table() {
        use Action::*;
        let cases: &[(u16, Action)] = &[
            (200, Done),
            (204, Done),
            (301, Done),
            (400, ReturnToCaller),
            (404, ReturnToCaller),
            (409, ReturnToCaller),
            (413, ReturnToCaller),
            (422, ReturnToCaller),
            (401, DisableKeyAndSwitch),
            (403, DisableKeyAndSwitch),
            (402, SwitchKeyAndCoolDown),
            (429, SwitchKeyAndCoolDown),
            (408, RetrySameKeyThenOthers),
            (500, RetrySameKeyThenOthers),
            (502, RetrySameKeyThenOthers),
            (503, RetrySameKeyThenOthers),
            (504, RetrySameKeyThenOthers),
            (529, RetrySameKeyThenOthers),
            (501, NextTarget),
            (999, RetrySameKeyThenOthers),
            (0, RetrySameKeyThenOthers),
        ];
        for &(status, action) in cases {
            assert_eq!(classify(Outcome::Status(status)), action, "{status}");
        }
        assert_eq!(classify(Outcome::Connect), RetrySameKeyThenOthers);
        assert_eq!(classify(Outcome::Timeout), NextTarget);
        assert_eq!(classify(Outcome::Protocol), RetrySameKeyThenOthers);
    }

    #[test]
    fn quota_forms() {
        assert!(quota_exhausted(402, b""));
        assert!(quota_exhausted(
            429,
            br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#
        ));
        assert!(quota_exhausted(
            400,
            br#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}"#
        ));
        assert!(!quota_exhausted(
            429,
            br#"{"error":{"code":"rate_limit_exceeded"}}"#
        ));
        assert!(!quota_exhausted(500, b"insufficient_quota"));
    }

    #[test]
    fn backoff_is_full_jitter_doubling_and_capped() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        let mut rng = fastrand::Rng::with_seed(3);
        for (attempt, cap) in [
            (0u32, 100u64),
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
        ] {
            let mut max_seen = Duration::ZERO;
            for _ in 0..2_000 {
                let d = backoff(attempt, &policy, &mut rng);
                assert!(d <= Duration::from_millis(cap), "attempt {attempt}: {d:?}");
                max_seen = max_seen.max(d);
            }
            // Full jitter reaches close to its cap.
            assert!(
                max_seen > Duration::from_millis(cap * 9 / 10),
                "attempt {attempt}"
            );
        }
        // Huge attempt numbers and durations do not overflow.
        let wild = RetryPolicy {
            initial_backoff: Duration::MAX,
            max_backoff: Duration::MAX,
            ..RetryPolicy::default()
        };
        let _ = backoff(u32::MAX, &wild, &mut rng);
        // Same seed, same waits.
        let a: Vec<_> = (1..5)
            .map(|i| backoff(i, &policy, &mut fastrand::Rng::with_seed(9)))
            .collect();
        let b: Vec<_> = (1..5)
            .map(|i| backoff(i, &policy, &mut fastrand::Rng::with_seed(9)))
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn deadline() {
        let p = RetryPolicy {
            deadline: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let t0 = Instant::now();
        assert!(p.within_deadline(t0, t0 + Duration::from_secs(9), Duration::from_millis(500)));
        assert!(!p.within_deadline(t0, t0 + Duration::from_secs(9), Duration::from_secs(1)));
        assert!(p.within_deadline(t0 + Duration::from_secs(1), t0, Duration::ZERO));
    }

    #[test]
    fn retry_after_seconds() {
        let now = RFC_EXAMPLE;
        assert_eq!(parse_retry_after(b"1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(b" 30 ", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after(b"0", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(b"1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after(b"86400", now), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after(b"99999999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        for bad in [
            &b""[..],
            b"-1",
            b"1s",
            b"1.2.3",
            b".5",
            b"abc",
            b"\xff",
            b"1 2",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_dates() {
        let at = RFC_EXAMPLE;
        for form in [
            &b"Sun, 06 Nov 1994 08:49:37 GMT"[..],
            b"Sunday, 06-Nov-94 08:49:37 GMT",
            b"Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                parse_retry_after(form, at - 20),
                Some(Duration::from_secs(20)),
                "{form:?}"
            );
            assert_eq!(
                parse_retry_after(form, at + 5),
                Some(Duration::ZERO),
                "past: {form:?}"
            );
        }
        assert_eq!(
            parse_retry_after(b"Thu, 01 Jan 1970 00:00:00 GMT", 0),
            Some(Duration::ZERO)
        );
        // Leap day, and a year far ahead is capped.
        assert_eq!(
            parse_retry_after(b"Thu, 29 Feb 2024 00:00:10 GMT", 1_709_164_800),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after(b"Fri, 01 Jan 2100 00:00:00 GMT", 1_700_000_000),
            Some(MAX_RETRY_AFTER)
        );
        for bad in [
            &b"Sun, 06 Nov 1994 08:49:37 PST"[..],
            b"Sun, 31 Feb 1994 08:49:37 GMT",
            b"Sun, 06 Foo 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 24:00:00 GMT",
            b"Sun, 06 Nov 1994 08:49 GMT",
            b"Sun, 06 Nov 1994",
            b"Sun, 06 Nov 1960 08:49:37 GMT",
            b"Sun, 06 Nov 1994 08:49:37 GMT extra",
            b"Sun",
        ] {
            assert_eq!(parse_retry_after(bad, at), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_ms() {
        assert_eq!(parse_retry_after_ms(b"20"), Some(Duration::from_millis(20)));
        assert_eq!(
            parse_retry_after_ms(b"1500.5"),
            Some(Duration::from_micros(1_500_500))
        );
        assert_eq!(parse_retry_after_ms(b"999999999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after_ms(b""), None);
        assert_eq!(parse_retry_after_ms(b"soon"), None);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut rng = fastrand::Rng::with_seed(1234);
        let alphabet = b"0123456789 ,-:.GMTSunNovJanFeb\xff\x00";
        for _ in 0..20_000 {
            let len = rng.usize(0..40);
            let v: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.usize(0..alphabet.len())])
                .collect();
            let _ = parse_retry_after(&v, rng.u64(..));
            let _ = parse_retry_after_ms(&v);
        }
    }
}
