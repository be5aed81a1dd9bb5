//! `ADD <url>` as the classic builder does it: the file is named after the URL's last
//! path segment (or the server's `Content-Disposition`), gets mode 0600 and the
//! server's `Last-Modified` as its mtime (the Unix epoch when there is none or it does
//! not parse), and is copied as it came, never unpacked.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Backend, BuildError};

pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// The name the URL's path gives the file (`None` for an empty path or one that ends
/// with `/`).
fn name_from_url(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("");
    if path.is_empty() || path.ends_with('/') {
        return None;
    }
    path.rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// `filename=` of a `Content-Disposition` header.
fn name_from_disposition(header: &str) -> Option<String> {
    header.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k.eq_ignore_ascii_case("filename"))
            .then(|| {
                v.trim()
                    .trim_matches('"')
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .filter(|n| !n.is_empty())
    })
}

/// Download `url` into the fresh directory `dir`; the file, shaped as docker shapes it.
pub async fn fetch<B: Backend>(backend: &B, url: &str, dir: &Path) -> Result<PathBuf, BuildError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| BuildError::Step(format!("mkdir {}: {e}", dir.display())))?;
    let partial = dir.join(".download");
    let got = backend
        .download(url, &partial)
        .await
        .map_err(|e| BuildError::Step(format!("ADD failed: {e}")))?;
    let name = name_from_url(url)
        .or_else(|| {
            got.content_disposition
                .as_deref()
                .and_then(name_from_disposition)
        })
        .unwrap_or_else(|| "download".to_string());
    let file = dir.join(name);
    let mtime = got
        .last_modified
        .as_deref()
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .unwrap_or(UNIX_EPOCH);
    let shaped = std::fs::rename(&partial, &file)
        .and_then(|()| {
            std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        })
        .and_then(|()| set_mtime(&file, mtime));
    shaped.map_err(|e| BuildError::Step(format!("ADD {url}: {e}")))?;
    Ok(file)
}

fn set_mtime(file: &Path, t: SystemTime) -> std::io::Result<()> {
    let f = std::fs::File::options().write(true).open(file)?;
    f.set_times(std::fs::FileTimes::new().set_accessed(t).set_modified(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            name_from_url("http://h:1/a/b.txt?x=1").as_deref(),
            Some("b.txt")
        );
        assert_eq!(name_from_url("http://h:1/a/"), None);
        assert_eq!(name_from_url("http://h:1"), None);
        assert_eq!(
            name_from_disposition("attachment; filename=\"r.tar.gz\"").as_deref(),
            Some("r.tar.gz")
        );
        assert_eq!(name_from_disposition("inline"), None);
    }
}
