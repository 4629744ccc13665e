//! Query strings: percent-decoding, docker's booleans (`1`, `true`), and the `filters`
//! parameter (JSON: `{"name": ["x"]}`, also the old `{"name": {"x": true}}` form).

use crate::error::ApiError;
use std::collections::BTreeMap;

/// A parsed query string.
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

/// Decodes `%XX` escapes and `+` (form encoding).
pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

impl Query {
    /// Parses `a=1&b=x`.
    pub fn parse(q: Option<&str>) -> Query {
        Query(
            q.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(p), String::new()),
                })
                .collect(),
        )
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean (`1`, `true`, `True`; absent: `default`).
    pub fn flag(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(v) => matches!(v, "1" | "true" | "True" | "yes"),
        }
    }

    /// An integer, 400 if it does not parse.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("query {key}={v:?}: not an integer [layer: api]"))
            }),
        }
    }

    /// The `filters` parameter: each key's values.
    pub fn filters(&self) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
        let Some(raw) = self.get("filters").filter(|f| !f.is_empty()) else {
            return Ok(BTreeMap::new());
        };
        let v: serde_json::Value = serde_json::from_str(raw).map_err(|e| {
            ApiError::bad_request(format!("filters {raw:?}: invalid JSON: {e} [layer: api]"))
        })?;
        let obj = v.as_object().ok_or_else(|| {
            ApiError::bad_request(format!("filters {raw:?}: not a JSON object [layer: api]"))
        })?;
        let mut out = BTreeMap::new();
        for (k, vals) in obj {
            let list: Vec<String> = match vals {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(false))
                    .map(|(x, _)| x.clone())
                    .collect(),
                serde_json::Value::String(s) => vec![s.clone()],
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "filters: {k}: expected a list of strings [layer: api]"
                    )))
                }
            };
            out.insert(k.clone(), list);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_reads_filters() {
        let q = Query::parse(Some(
            "all=1&filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%2C%22status%22%3A%7B%22exited%22%3Atrue%7D%7D&x=a+b%",
        ));
        assert!(q.flag("all", false));
        assert!(!q.flag("size", false));
        assert_eq!(q.get("x"), Some("a b%"));
        let f = q.filters().unwrap();
        assert_eq!(f["label"], vec!["a=b"]);
        assert_eq!(f["status"], vec!["exited"]);
        assert!(Query::parse(Some("filters=%7Bx")).filters().is_err());
        assert!(Query::parse(Some("t=x")).int("t").is_err());
    }
}
