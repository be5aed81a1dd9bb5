//! Query strings and `filters` as the Engine API encodes them.

use std::collections::BTreeMap;

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(q: &str) -> Query {
        Query(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (
                        percent_decode(&k.replace('+', " ")),
                        percent_decode(&v.replace('+', " ")),
                    )
                })
                .collect(),
        )
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// Booleans as dockerd reads them: `1`, `true`, `True` are true; absent is `default`.
    pub fn bool(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(v) => !matches!(v, "" | "0" | "false" | "False" | "FALSE" | "no"),
        }
    }
    pub fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.parse().ok())
    }
    /// `filters={"key":["a","b"]}` or the older `{"key":{"a":true}}`.
    pub fn filters(&self) -> Result<Filters, super::ApiError> {
        let mut f = Filters::default();
        let Some(raw) = self.get("filters").filter(|r| !r.is_empty()) else {
            return Ok(f);
        };
        let v: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| super::ApiError::bad_request(format!("invalid filter: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| super::ApiError::bad_request("invalid filter: not an object"))?;
        for (k, vals) in obj {
            let list: Vec<String> = match vals {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                serde_json::Value::Object(o) => o
                    .iter()
                    .filter(|(_, b)| b.as_bool() == Some(true))
                    .map(|(k, _)| k.clone())
                    .collect(),
                _ => Vec::new(),
            };
            f.0.insert(k.clone(), list);
        }
        Ok(f)
    }
}

#[derive(Debug, Default)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl Filters {
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }
    /// Reject filter keys the endpoint does not know, with dockerd's message.
    pub fn validate(&self, known: &[&str]) -> Result<(), super::ApiError> {
        for k in self.0.keys() {
            if !known.contains(&k.as_str()) {
                return Err(super::ApiError::bad_request(format!(
                    "invalid filter '{k}'"
                )));
            }
        }
        Ok(())
    }
    /// `label=key` or `label=key=value` against a label map.
    pub fn labels_match(&self, labels: &serde_json::Value) -> bool {
        self.get("label").iter().all(|want| {
            let (k, v) = match want.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (want.as_str(), None),
            };
            match labels.get(k).and_then(|x| x.as_str()) {
                None => false,
                Some(have) => v.is_none_or(|v| v == have),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_and_filters() {
        let q = Query::parse("all=1&filters=%7B%22status%22%3A%5B%22exited%22%5D%7D&name=a+b");
        assert!(q.bool("all", false));
        assert_eq!(q.get("name"), Some("a b"));
        let f = q.filters().unwrap();
        assert_eq!(f.get("status"), ["exited".to_string()]);
        assert!(f.validate(&["id"]).is_err());
    }
}
