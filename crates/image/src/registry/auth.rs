//! Registry authentication: parsing of `WWW-Authenticate` challenges and the handshake
//! that turns one into an `Authorization` header (basic credentials, or a bearer token
//! from the challenge's realm, as the distribution spec's token authentication).

use super::credentials::Credentials;
use crate::error::{Error, Result};
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use std::collections::BTreeMap;

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `basic` or `bearer` (lower-case).
    pub scheme: String,
    /// Parameters (realm, service, scope, ...).
    pub params: BTreeMap<String, String>,
}

/// Parses `Bearer realm="https://auth",service="reg",scope="repository:a:pull"`.
pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = BTreeMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (k, after) = s.split_once('=')?;
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (v, remain) = if let Some(q) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => out.push(c),
                }
            }
            let end = end?;
            (out, &q[end + 1..])
        } else {
            match after.find(',') {
                Some(i) => (after[..i].trim().to_string(), &after[i..]),
                None => (after.trim().to_string(), ""),
            }
        };
        params.insert(k, v);
        s = remain.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

/// What a token request asks for: the repository, the access wanted, extra scopes.
pub struct Scope<'a> {
    /// The registry host (for messages).
    pub host: &'a str,
    /// The repository.
    pub repo: &'a str,
    /// Push access too (else pull only).
    pub push: bool,
    /// Extra scopes (cross-repository mounts need pull on the source).
    pub extra: &'a [String],
}

/// Answers the challenge `header` (a `WWW-Authenticate` value, if any) with an
/// `Authorization` header value: basic credentials, or a bearer token fetched from the
/// challenge's realm with `creds` (anonymous without).
pub async fn authorization(
    http: &reqwest::Client,
    header: Option<&str>,
    scope: &Scope<'_>,
    creds: Option<&Credentials>,
) -> Result<String> {
    let host = scope.host;
    let ch = header
        .and_then(parse_challenge)
        .ok_or_else(|| Error::Auth(format!("{host}: no usable www-authenticate challenge")))?;
    match ch.scheme.as_str() {
        "basic" => {
            let c = creds.ok_or_else(|| {
                Error::Auth(format!("{host}: credentials required (strata login)"))
            })?;
            Ok(c.basic())
        }
        "bearer" => bearer(http, &ch, scope, creds).await,
        other => Err(Error::Auth(format!(
            "{host}: unsupported auth scheme {other}"
        ))),
    }
}

/// The token handshake: a GET of the realm with service and scopes (and basic
/// credentials if any); the answer's `token` (or `access_token`) is the bearer token.
async fn bearer(
    http: &reqwest::Client,
    ch: &Challenge,
    scope: &Scope<'_>,
    creds: Option<&Credentials>,
) -> Result<String> {
    let host = scope.host;
    let realm = ch
        .params
        .get("realm")
        .ok_or_else(|| Error::Auth(format!("{host}: bearer challenge without realm")))?;
    let action = if scope.push { "pull,push" } else { "pull" };
    let mut q: Vec<(String, String)> = Vec::new();
    if let Some(s) = ch.params.get("service") {
        q.push(("service".into(), s.clone()));
    }
    q.push((
        "scope".into(),
        format!("repository:{}:{action}", scope.repo),
    ));
    for s in scope.extra {
        q.push(("scope".into(), s.clone()));
    }
    let mut rb = http.get(realm).query(&q);
    if let Some(c) = creds {
        rb = rb.header(AUTHORIZATION, c.basic());
    }
    let resp = rb.send().await.map_err(super::client::http_err)?;
    if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
        return Err(Error::Auth(format!(
            "{host}: token request refused (bad credentials?)"
        )));
    }
    if !resp.status().is_success() {
        return Err(super::client::error_of(resp)
            .await
            .context(format!("token from {realm}")));
    }
    let body = resp.bytes().await.map_err(super::client::http_err)?;
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Error::Auth(format!("{host}: bad token response: {e}")))?;
    let tok = v
        .get("token")
        .or_else(|| v.get("access_token"))
        .and_then(|t| t.as_str())
        .ok_or_else(|| Error::Auth(format!("{host}: token response without token")))?;
    Ok(format!("Bearer {tok}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["service"], "registry.docker.io");
        assert_eq!(c.params["scope"], "repository:library/busybox:pull,push");
        let b = parse_challenge(r#"Basic realm="engine-anchor""#).unwrap();
        assert_eq!(b.scheme, "basic");
        assert_eq!(b.params["realm"], "engine-anchor");
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_none());
    }
}
