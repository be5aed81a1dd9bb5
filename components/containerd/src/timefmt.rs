//! UTC timestamps as containerd and ctr write and read them, through humantime (the
//! static binaries carry no time zone database): the daemon's log lines, ctr's event
//! times and the RFC 3339 expiry labels of leases.

use std::time::{Duration, SystemTime};

/// `2026-11-23T09:38:07.421095675Z` (RFC 3339 with nanoseconds).
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// `2026-11-23 09:38:07.421095675 +0000 UTC` (Go's `time.Time.String` in UTC): RFC 3339
/// with other separators and the zone spelled out.
pub fn go_string(t: SystemTime) -> String {
    let s = rfc3339(t);
    format!(
        "{} +0000 UTC",
        s.trim_end_matches('Z').replacen('T', " ", 1)
    )
}

/// An RFC 3339 time (`2026-11-23T09:38:07Z`, fractions and `+hh:mm` offsets allowed)
/// as Go's `time.RFC3339` writes it; None when it is not one.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.to_ascii_uppercase();
    // humantime reads UTC only: a numeric offset is split off and applied here.
    let offset_at = s.len().checked_sub(6).filter(|&i| {
        let b = s.as_bytes();
        matches!(b[i], b'+' | b'-') && b[i + 3] == b':'
    });
    let Some(i) = offset_at else {
        return humantime::parse_rfc3339(&s).ok();
    };
    let (local, offset) = s.split_at(i);
    let number = |r: std::ops::Range<usize>| -> Option<u64> {
        let digits = offset.get(r)?;
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let shift = Duration::from_secs(number(1..3)? * 3600 + number(4..6)? * 60);
    let t = humantime::parse_rfc3339(&format!("{local}Z")).ok()?;
    // Local time ahead of UTC (`+hh:mm`) is that much later than the same UTC reading.
    if offset.starts_with('+') {
        t.checked_sub(shift)
    } else {
        t.checked_add(shift)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    fn at(secs: u64, nanos: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_nanos(nanos)
    }

    #[test]
    fn formats() {
        assert_eq!(
            super::go_string(at(1_795_426_687, 421_095_675)),
            "2026-11-23 09:38:07.421095675 +0000 UTC"
        );
        assert_eq!(super::rfc3339(at(0, 5)), "1970-01-01T00:00:00.000000005Z");
        assert_eq!(
            super::rfc3339(at(951_782_400, 0)),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn parses_what_go_writes() {
        let p = |s: &str| {
            super::parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs())
        };
        assert_eq!(p("2026-11-23T09:38:07Z"), Some(1_795_426_687));
        assert_eq!(p("2026-11-23T09:38:07.421095675Z"), Some(1_795_426_687));
        assert_eq!(p("2026-11-23T10:38:07+01:00"), Some(1_795_426_687));
        assert_eq!(p("2026-11-23t09:38:07z"), Some(1_795_426_687));
        assert_eq!(p("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(p("1970-01-01T00:00:00-00:30"), Some(1800));
        for bad in [
            "",
            "2026-11-23",
            "2026-11-23T09:38:07",
            "2026-13-01T00:00:00Z",
            "2026-11-23T09:38:07+0100",
            "2026-11-23T09:38:07+0a:00",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
