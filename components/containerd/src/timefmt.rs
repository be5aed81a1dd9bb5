//! UTC calendar formatting without a time zone database (the static binaries carry
//! none): containerd's log timestamps and ctr's event times.

/// (year, month, day, seconds into the day) of a Unix time.
fn civil(secs: i64) -> (i64, i64, i64, i64) {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Days since the epoch to a civil date (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem)
}

/// `2026-11-23 09:38:07.421095675 +0000 UTC` (Go's `time.Time.String` in UTC).
pub fn go_string(secs: i64, nanos: i32) -> String {
    let (y, m, d, rem) = civil(secs);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{nanos:09} +0000 UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `2026-11-23T09:38:07.421095675Z` (RFC 3339 with nanoseconds).
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let (y, m, d, rem) = civil(secs);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since the epoch of a civil date (the inverse of [`civil`]).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Unix seconds of an RFC 3339 time (`2026-11-23T09:38:07Z`, fractions and `+hh:mm`
/// offsets allowed), as Go's `time.RFC3339` writes it; None when it is not one.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * (num(20..22).zip(num(23..25)).map(|(h, m)| h * 3600 + m * 60))?
        }
    };
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(
            super::go_string(1_795_426_687, 421_095_675),
            "2026-11-23 09:38:07.421095675 +0000 UTC"
        );
        assert_eq!(super::rfc3339(0, 5), "1970-01-01T00:00:00.000000005Z");
        assert_eq!(
            super::rfc3339(951_782_400, 0),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn parses_what_go_writes() {
        use super::parse_rfc3339 as p;
        assert_eq!(p("2026-11-23T09:38:07Z"), Some(1_795_426_687));
        assert_eq!(p("2026-11-23T09:38:07.421095675Z"), Some(1_795_426_687));
        assert_eq!(p("2026-11-23T10:38:07+01:00"), Some(1_795_426_687));
        assert_eq!(p("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(p("1970-01-01T00:00:00-00:30"), Some(1800));
        for bad in [
            "",
            "2026-11-23",
            "2026-11-23T09:38:07",
            "2026-13-01T00:00:00Z",
            "2026-11-23T09:38:07+0100",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
