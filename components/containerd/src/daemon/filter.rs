//! containerd's filter syntax, as clients send it in List and Subscribe requests:
//! `a==b,c~=^x` (comma is AND) with several filters OR'd; values may be quoted with
//! `"..."` or `|...|`. Regular expressions are matched for the forms clients use
//! (anchored prefixes, plain substrings, alternations of those).

#[derive(Debug, Clone)]
enum Op {
    Exists,
    Eq(String),
    Ne(String),
    Re(String),
}

#[derive(Debug, Clone)]
struct Term {
    field: String,
    op: Op,
}

/// A parsed list of filters; empty matches everything.
#[derive(Debug, Clone, Default)]
pub struct Filters(Vec<Vec<Term>>);

#[derive(Debug, thiserror::Error)]
#[error("parse error in filter {0:?}: invalid argument")]
pub struct FilterError(String);

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('|') && v.ends_with('|')))
    {
        v[1..v.len() - 1].replace("\\\"", "\"")
    } else {
        v.to_owned()
    }
}

/// Split on commas outside quotes.
fn split_terms(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (None, '"') | (None, '|') => {
                quote = Some(c);
                cur.push(c)
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c)
            }
            (None, ',') => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

impl Filters {
    pub fn parse(filters: &[String]) -> Result<Filters, FilterError> {
        let mut all = Vec::new();
        for f in filters.iter().filter(|f| !f.trim().is_empty()) {
            let mut terms = Vec::new();
            for t in split_terms(f) {
                let t = t.trim();
                let term = if let Some((a, b)) = t.split_once("==") {
                    Term {
                        field: a.trim().into(),
                        op: Op::Eq(unquote(b)),
                    }
                } else if let Some((a, b)) = t.split_once("!=") {
                    Term {
                        field: a.trim().into(),
                        op: Op::Ne(unquote(b)),
                    }
                } else if let Some((a, b)) = t.split_once("~=") {
                    Term {
                        field: a.trim().into(),
                        op: Op::Re(unquote(b)),
                    }
                } else if !t.is_empty() && !t.contains(['=', '~', '!']) {
                    Term {
                        field: t.into(),
                        op: Op::Exists,
                    }
                } else {
                    return Err(FilterError(f.clone()));
                };
                if term.field.is_empty() {
                    return Err(FilterError(f.clone()));
                }
                terms.push(term);
            }
            all.push(terms);
        }
        Ok(Filters(all))
    }

    /// Whether an object matches, given how to read one of its fields
    /// (`labels.x` style paths, already unquoted).
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        self.0.iter().any(|terms| {
            terms.iter().all(|t| {
                let field = t.field.replace('"', "");
                let v = get(&field);
                match &t.op {
                    Op::Exists => v.is_some(),
                    Op::Eq(want) => v.as_deref() == Some(want.as_str()),
                    Op::Ne(want) => v.as_deref() != Some(want.as_str()),
                    Op::Re(re) => v.map(|v| simple_regex(re, &v)).unwrap_or(false),
                }
            })
        })
    }
}

fn simple_regex(re: &str, v: &str) -> bool {
    re.split('|').any(|alt| {
        let (anchored, pat) = match alt.strip_prefix('^') {
            Some(p) => (true, p),
            None => (false, alt),
        };
        let (end, pat) = match pat.strip_suffix('$') {
            Some(p) => (true, p),
            None => (false, pat),
        };
        let pat = pat.replace(".*", "\u{0}");
        let parts: Vec<&str> = pat.split('\u{0}').collect();
        if parts.len() == 1 {
            return match (anchored, end) {
                (true, true) => v == pat,
                (true, false) => v.starts_with(pat.as_str()),
                (false, true) => v.ends_with(pat.as_str()),
                (false, false) => v.contains(pat.as_str()),
            };
        }
        // `a.*b`: parts in order.
        let mut rest = v;
        for (i, p) in parts.iter().enumerate() {
            if i == 0 && anchored {
                if !rest.starts_with(p) {
                    return false;
                }
                rest = &rest[p.len()..];
            } else if let Some(pos) = rest.find(p) {
                rest = &rest[pos + p.len()..];
            } else {
                return false;
            }
        }
        !end || rest.is_empty() || parts.last().map(|l| l.is_empty()).unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerd_event_filter() {
        let f = Filters::parse(&["namespace==moby,topic~=|^/tasks/|".into()]).unwrap();
        let ev = |ns: &'static str, topic: &'static str| {
            move |k: &str| match k {
                "namespace" => Some(ns.to_string()),
                "topic" => Some(topic.to_string()),
                _ => None,
            }
        };
        assert!(f.matches(ev("moby", "/tasks/exit")));
        assert!(!f.matches(ev("moby", "/containers/create")));
        assert!(!f.matches(ev("default", "/tasks/exit")));
    }

    #[test]
    fn or_of_filters_and_labels() {
        let f = Filters::parse(&["topic==\"/a\"".into(), "labels.x".into()]).unwrap();
        assert!(f.matches(|k| (k == "topic").then(|| "/a".to_string())));
        assert!(f.matches(|k| (k == "labels.x").then(String::new)));
        assert!(!f.matches(|_| None));
        assert!(Filters::parse(&["==".into()]).is_err());
    }
}
