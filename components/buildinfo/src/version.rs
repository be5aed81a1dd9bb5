use std::fmt;

/// A release version as written in `VERSION`: `26.11.0`, `26.11.0-rc.1`,
/// `26.11.0-beta.2` or `26.11.0-dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub year: u32,
    pub month: u32,
    pub patch: u32,
    pub pre: Option<Prerelease>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prerelease {
    Beta(u32),
    Rc(u32),
    Dev,
}

/// Where a build comes from: what the nightly (pseudo-)versions are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Abbreviated commit, as `git log -1 --pretty=%h` prints it.
    pub commit: String,
    /// Commit time, Unix seconds (UTC).
    pub commit_time: i64,
    /// Uncommitted changes in the tree: gen-deb-ver treats those as a nightly too.
    pub dirty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionError {
    input: String,
    reason: &'static str,
}

impl fmt::Display for VersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid version {:?}: {}; expected YY.MM.patch with an optional -beta.N, -rc.N or -dev suffix (e.g. 26.11.0-rc.1)",
            self.input, self.reason
        )
    }
}

impl std::error::Error for VersionError {}

impl Version {
    pub fn parse(input: &str) -> Result<Version, VersionError> {
        let err = |reason| VersionError {
            input: input.trim().to_owned(),
            reason,
        };
        let text = input.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (text, None),
        };
        let numbers: Vec<&str> = core.split('.').collect();
        let [year, month, patch] = numbers[..] else {
            return Err(err("the release part must have three numbers"));
        };
        let number = |s: &str, what| {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(what));
            }
            s.parse::<u32>().map_err(|_| err(what))
        };
        let year = number(year, "the year is not a number")?;
        let month = number(month, "the month is not a number")?;
        let patch = number(patch, "the patch is not a number")?;
        if !(1..=12).contains(&month) {
            return Err(err("the month must be 1 to 12"));
        }
        let pre = match pre {
            None => None,
            Some("dev") => Some(Prerelease::Dev),
            Some(p) => {
                let (kind, n) = p
                    .split_once('.')
                    .ok_or_else(|| err("unknown pre-release suffix"))?;
                let n = number(n, "the pre-release number is not a number")?;
                match kind {
                    "beta" => Some(Prerelease::Beta(n)),
                    "rc" => Some(Prerelease::Rc(n)),
                    _ => return Err(err("unknown pre-release suffix")),
                }
            }
        };
        Ok(Version {
            year,
            month,
            patch,
            pre,
        })
    }

    /// A `-dev` version, or any build from a tree with uncommitted changes, is a
    /// nightly: its package versions are pseudo-versions made from the commit.
    pub fn is_nightly(&self, source: &Source) -> bool {
        self.pre == Some(Prerelease::Dev) || source.dirty
    }

    /// The upstream part of the Debian version, as gen-deb-ver computes it:
    /// `26.11.0`, `26.11.0~rc.1`, or `0.0.0~20261123101500.1a2b3c4` for nightlies.
    pub fn to_deb(&self, source: &Source) -> String {
        if self.is_nightly(source) {
            return format!("0.0.0~{}.{}", utc_stamp(source.commit_time), source.commit);
        }
        // `-` becomes `~` so that a pre-release sorts before its release in dpkg.
        self.to_string().replace('-', "~")
    }

    /// The full package version: epoch, upstream part, revision and distro suffix,
    /// e.g. `5:26.11.0-1~debian.12~bookworm`.
    pub fn to_deb_full(
        &self,
        source: &Source,
        epoch: u32,
        revision: u32,
        distro_id: &str,
        distro_version: &str,
        suite: &str,
    ) -> String {
        format!(
            "{epoch}:{}-{revision}~{distro_id}.{distro_version}~{suite}",
            self.to_deb(source)
        )
    }

    /// The version in the static tarball's name, as gen-static-ver computes it:
    /// the version itself, or `0.0.0-20261123101500-1a2b3c4` for nightlies.
    pub fn to_static(&self, source: &Source) -> String {
        if self.is_nightly(source) {
            return format!("0.0.0-{}-{}", utc_stamp(source.commit_time), source.commit);
        }
        self.to_string()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}.{}", self.year, self.month, self.patch)?;
        match self.pre {
            None => Ok(()),
            Some(Prerelease::Beta(n)) => write!(f, "-beta.{n}"),
            Some(Prerelease::Rc(n)) => write!(f, "-rc.{n}"),
            Some(Prerelease::Dev) => write!(f, "-dev"),
        }
    }
}

/// `YYYYMMDDHHMMSS` in UTC, as `date --utc +%Y%m%d%H%M%S` prints it.
fn utc_stamp(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(commit: &str, time: i64) -> Source {
        Source {
            commit: commit.into(),
            commit_time: time,
            dirty: false,
        }
    }

    // 2026-11-23T10:15:00Z
    const T: i64 = 1_795_428_900;

    #[test]
    fn deb_and_static_versions_follow_gen_deb_ver() {
        // (VERSION, dirty, upstream deb part, full bookworm version, static version)
        let cases = [
            (
                "26.11.0",
                false,
                "26.11.0",
                "5:26.11.0-1~debian.12~bookworm",
                "26.11.0",
            ),
            (
                "v26.11.0",
                false,
                "26.11.0",
                "5:26.11.0-1~debian.12~bookworm",
                "26.11.0",
            ),
            (
                "26.11.3",
                false,
                "26.11.3",
                "5:26.11.3-1~debian.12~bookworm",
                "26.11.3",
            ),
            (
                "26.11.0-rc.1",
                false,
                "26.11.0~rc.1",
                "5:26.11.0~rc.1-1~debian.12~bookworm",
                "26.11.0-rc.1",
            ),
            (
                "26.11.0-beta.2",
                false,
                "26.11.0~beta.2",
                "5:26.11.0~beta.2-1~debian.12~bookworm",
                "26.11.0-beta.2",
            ),
            (
                "26.11.0-dev",
                false,
                "0.0.0~20261123101500.1a2b3c4",
                "5:0.0.0~20261123101500.1a2b3c4-1~debian.12~bookworm",
                "0.0.0-20261123101500-1a2b3c4",
            ),
            // a release tag with local changes is built as a nightly, as gen-deb-ver does
            (
                "26.11.0",
                true,
                "0.0.0~20261123101500.1a2b3c4",
                "5:0.0.0~20261123101500.1a2b3c4-1~debian.12~bookworm",
                "0.0.0-20261123101500-1a2b3c4",
            ),
        ];
        for (input, dirty, deb, full, stat) in cases {
            let v = Version::parse(input).unwrap();
            let src = Source {
                dirty,
                ..clean("1a2b3c4", T)
            };
            assert_eq!(v.to_deb(&src), deb, "{input}");
            assert_eq!(
                v.to_deb_full(&src, 5, 1, "debian", "12", "bookworm"),
                full,
                "{input}"
            );
            assert_eq!(v.to_static(&src), stat, "{input}");
        }
    }

    #[test]
    fn deb_versions_sort_as_releases_do_in_dpkg() {
        // Upgrades must go nightly < beta < rc < release < next patch, by dpkg's rules.
        let src = clean("1a2b3c4", T);
        let order = [
            "26.11.0-dev",
            "26.11.0-beta.2",
            "26.11.0-rc.1",
            "26.11.0-rc.2",
            "26.11.0",
            "26.11.1",
        ];
        let full: Vec<String> = order
            .iter()
            .map(|v| {
                Version::parse(v)
                    .unwrap()
                    .to_deb_full(&src, 5, 1, "debian", "12", "bookworm")
            })
            .collect();
        for pair in full.windows(2) {
            let status = std::process::Command::new("dpkg")
                .args(["--compare-versions", &pair[0], "lt", &pair[1]])
                .status()
                .expect("dpkg is needed to check version ordering");
            assert!(
                status.success(),
                "dpkg does not sort {} before {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn round_trips_display() {
        for s in [
            "26.11.0",
            "26.01.2",
            "26.11.0-rc.1",
            "26.11.0-beta.2",
            "26.11.0-dev",
        ] {
            assert_eq!(Version::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_malformed_versions_with_the_reason() {
        for (bad, reason) in [
            ("26.11", "three numbers"),
            ("26.13.0", "month"),
            ("26.11.x", "patch"),
            ("26.11.0-alpha.1", "pre-release suffix"),
            ("26.11.0-rc", "pre-release suffix"),
            ("26.11.0-rc.x", "pre-release number"),
            ("", "three numbers"),
        ] {
            let e = Version::parse(bad).unwrap_err().to_string();
            assert!(e.contains(reason), "{bad}: {e}");
            assert!(e.contains("expected YY.MM.patch"), "{bad}: {e}");
        }
    }

    #[test]
    fn utc_stamp_matches_date() {
        assert_eq!(utc_stamp(0), "19700101000000");
        assert_eq!(utc_stamp(T), "20261123101500");
        assert_eq!(utc_stamp(951_782_400), "20000229000000"); // leap day
    }
}
