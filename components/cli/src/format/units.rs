//! Human sizes and durations as docker's `go-units` prints them, and the time
//! helpers the formatters need (RFC 3339 parsing, "2 minutes ago").

use std::time::{SystemTime, UNIX_EPOCH};

const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// Go's `%.{prec}g`.
pub fn go_g(value: f64, prec: usize) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let prec = prec.max(1);
    let sci = format!("{:.*e}", prec - 1, value);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        return format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    let decimals = (prec as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{value:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// `units.HumanSizeWithPrecision`: decimal units, `prec` significant digits.
pub fn human_size_prec(size: f64, prec: usize) -> String {
    let mut size = size;
    let mut i = 0;
    while size >= 1000.0 && i < DECIMAL.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(size, prec), DECIMAL[i])
}

/// `units.HumanSize` (4 significant digits).
pub fn human_size(size: f64) -> String {
    human_size_prec(size, 4)
}

/// `units.BytesSize`: binary units, as `stats` prints memory.
pub fn bytes_size(size: f64) -> String {
    let mut size = size;
    let mut i = 0;
    while size >= 1024.0 && i < BINARY.len() - 1 {
        size /= 1024.0;
        i += 1;
    }
    format!("{}{}", go_g(size, 4), BINARY[i])
}

/// `units.HumanDuration`.
pub fn human_duration(secs: f64) -> String {
    let seconds = secs as i64;
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = (secs / 60.0) as i64;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (secs / 3600.0 + 0.5) as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", (secs / 3600.0) as i64 / 24 / 365)
}

pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// "3 minutes ago" for a unix timestamp.
pub fn ago(unix: f64) -> String {
    format!("{} ago", human_duration(now_secs() - unix))
}

/// Parses RFC 3339 (`2024-01-02T03:04:05.123456789Z`, offsets allowed) to unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    // humantime reads UTC times only: a numeric offset is split off and applied here.
    let (base, offset) = match s
        .len()
        .checked_sub(6)
        .and_then(|i| s.get(i..).map(|o| (i, o)))
    {
        Some((i, o)) if i >= 19 && o.starts_with(['+', '-']) && o.as_bytes()[3] == b':' => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let secs = o[1..3].parse::<i64>().ok()? * 3600 + o[4..6].parse::<i64>().ok()? * 60;
            (&s[..i], sign * secs)
        }
        _ => (s.strip_suffix(['Z', 'z']).unwrap_or(s), 0),
    };
    let t = humantime::parse_rfc3339_weak(base).ok()?;
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    Some(d.as_secs_f64() - offset as f64)
}

/// (year, month, day, hour, minute, second) in UTC of unix seconds (from 1970 on).
pub fn civil(unix: i64) -> (i64, i64, i64, i64, i64, i64) {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    // `2024-01-02T03:04:05Z`: fixed positions.
    let text = humantime::format_rfc3339_seconds(t).to_string();
    let num = |r: std::ops::Range<usize>| text[r].parse::<i64>().unwrap_or(0);
    (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    )
}

/// Go's `time.Time.String()` for a UTC unix time: `2024-01-02 03:04:05 +0000 UTC`.
pub fn go_time_string(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} +0000 UTC")
}

/// go-units' `RAMInBytes`: `512m`, `1.5g`, `100k`, `2GiB` (binary multiples); None
/// where Go reports `invalid size`.
pub fn ram_in_bytes(s: &str) -> Option<i64> {
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, rest) = s.split_at(number_end);
    if !number.starts_with(|c: char| c.is_ascii_digit()) || number.ends_with('.') {
        return None;
    }
    let n: f64 = number.parse().ok()?;
    let mut rest = rest.strip_prefix(' ').unwrap_or(rest).chars().peekable();
    let mult = match rest.peek().map(char::to_ascii_lowercase) {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            rest.next();
            1024f64.powi("kmgtp".find(c).unwrap_or(0) as i32 + 1)
        }
        _ => 1.0,
    };
    let rest: String = rest.collect::<String>().to_ascii_lowercase();
    matches!(rest.as_str(), "" | "i" | "b" | "ib").then_some((n * mult) as i64)
}

/// Go's `time.ParseDuration` (`1h30m`, `1.5s`, `300ms`, `-2m`) in nanoseconds.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_end);
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let nanos = match unit {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * nanos;
        rest = after;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    Some(if neg { -(total as i64) } else { total as i64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(human_size_prec(1_982_464.0, 3), "1.98MB");
        assert_eq!(human_size_prec(0.0, 3), "0B");
        assert_eq!(human_size_prec(999_999.0, 3), "1e+03kB");
        assert_eq!(human_size_prec(133_500_000.0, 3), "134MB");
        assert_eq!(human_size(1_234_567.0), "1.235MB");
        assert_eq!(bytes_size(1536.0), "1.5KiB");
    }

    #[test]
    fn durations_match_go_units() {
        assert_eq!(human_duration(0.4), "Less than a second");
        assert_eq!(human_duration(1.0), "1 second");
        assert_eq!(human_duration(75.0), "About a minute");
        assert_eq!(human_duration(3.0 * 3600.0), "3 hours");
        assert_eq!(human_duration(3.0 * 86400.0), "3 days");
    }

    #[test]
    fn sizes_and_durations_parse_as_go_does() {
        assert_eq!(ram_in_bytes("64m"), Some(64 << 20));
        assert_eq!(ram_in_bytes("1.5g"), Some(3 << 29));
        assert_eq!(ram_in_bytes("2 GiB"), Some(2 << 30));
        assert_eq!(ram_in_bytes("100"), Some(100));
        assert_eq!(ram_in_bytes("1x"), None);
        assert_eq!(ram_in_bytes("-1"), None);
        assert_eq!(parse_go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration("-300ms"), Some(-300_000_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("1d"), None);
    }

    #[test]
    fn rfc3339_round_trips() {
        let t = parse_rfc3339("2024-01-02T03:04:05.5Z").unwrap();
        assert_eq!(t, 1_704_164_645.5);
        assert_eq!(go_time_string(t as i64), "2024-01-02 03:04:05 +0000 UTC");
        assert_eq!(
            parse_rfc3339("2024-01-02T04:04:05+01:00").unwrap(),
            1_704_164_645.0
        );
        let t = parse_rfc3339("2024-01-02T03:04:05.25-02:30").unwrap();
        assert_eq!(t, 1_704_164_645.25 + 9000.0);
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
    }
}
