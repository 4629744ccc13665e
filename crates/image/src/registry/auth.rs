//! Registry credentials: the docker `config.json` `auths` format (as podman's auth.json),
//! and parsing of `WWW-Authenticate` challenges.

use crate::error::{Error, IoResultExt, Result};
use base64::Engine as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A user name and password (or identity token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

impl Credentials {
    /// Parses `user:pass`.
    pub fn parse(s: &str) -> Result<Self> {
        let (u, p) = s
            .split_once(':')
            .ok_or_else(|| Error::invalid("credentials", "expected user:password"))?;
        Ok(Credentials {
            username: u.into(),
            password: p.into(),
        })
    }

    /// The `Basic` header value.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// The default auth file: `$REGISTRY_AUTH_FILE`, else podman's
/// `$XDG_RUNTIME_DIR/containers/auth.json` (`/run/containers/<uid>/auth.json` for root).
pub fn default_auth_file() -> PathBuf {
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE") {
        return PathBuf::from(p);
    }
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR") {
        return PathBuf::from(x).join("containers/auth.json");
    }
    PathBuf::from(format!(
        "/run/containers/{}/auth.json",
        rustix::process::getuid().as_raw()
    ))
}

/// An auth file in docker `config.json` format. Unknown fields are preserved.
#[derive(Debug, Clone)]
pub struct AuthFile {
    path: PathBuf,
    doc: serde_json::Value,
}

impl AuthFile {
    /// Loads the file (missing means empty).
    pub fn load(path: &Path) -> Result<Self> {
        let doc = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::invalid("auth file", format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
            Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
        };
        Ok(AuthFile {
            path: path.to_path_buf(),
            doc,
        })
    }

    /// Credentials stored for `host` (also matched as `https://host` or `http://host`).
    pub fn get(&self, host: &str) -> Option<Credentials> {
        let auths = self.doc.get("auths")?.as_object()?;
        let entry = auths.iter().find_map(|(k, v)| {
            let k = k
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            let k = k.split('/').next().unwrap_or(k);
            (k == host).then_some(v)
        })?;
        let auth = entry.get("auth")?.as_str()?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .ok()?;
        Credentials::parse(&String::from_utf8(raw).ok()?).ok()
    }

    /// Stores credentials for `host`.
    pub fn set(&mut self, host: &str, c: &Credentials) {
        let raw = format!("{}:{}", c.username, c.password);
        let enc = base64::engine::general_purpose::STANDARD.encode(raw);
        if !self.doc.is_object() {
            self.doc = serde_json::json!({});
        }
        let auths = self
            .doc
            .as_object_mut()
            .expect("object")
            .entry("auths")
            .or_insert_with(|| serde_json::json!({}));
        if !auths.is_object() {
            *auths = serde_json::json!({});
        }
        auths
            .as_object_mut()
            .expect("object")
            .insert(host.into(), serde_json::json!({ "auth": enc }));
    }

    /// Removes credentials for `host`; returns whether there were any.
    pub fn remove(&mut self, host: &str) -> bool {
        self.doc
            .get_mut("auths")
            .and_then(|a| a.as_object_mut())
            .is_some_and(|a| a.remove(host).is_some())
    }

    /// Writes the file atomically with mode 0600.
    pub fn save(&self) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).op(format!("create {}", dir.display()))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .op(format!("write {}", tmp.display()))?;
        f.write_all(
            serde_json::to_string_pretty(&self.doc)
                .expect("json")
                .as_bytes(),
        )
        .op(format!("write {}", tmp.display()))?;
        f.sync_all().op("fsync auth file")?;
        std::fs::rename(&tmp, &self.path).op(format!("write {}", self.path.display()))
    }
}

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

    #[test]
    fn auth_file_round_trip_keeps_other_fields() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.json");
        std::fs::write(
            &p,
            r#"{"credHelpers":{"x":"y"},"auths":{"https://old.example":{"auth":"dTpw"}}}"#,
        )
        .unwrap();
        let mut f = AuthFile::load(&p).unwrap();
        assert_eq!(f.get("old.example").unwrap().username, "u");
        let c = Credentials::parse("bench:bench:pass").unwrap();
        assert_eq!(c.password, "bench:pass");
        f.set("127.0.0.1:5001", &c);
        f.save().unwrap();
        let g = AuthFile::load(&p).unwrap();
        assert_eq!(g.get("127.0.0.1:5001"), Some(c));
        let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(raw["credHelpers"]["x"], "y");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let mut g = g;
        assert!(g.remove("127.0.0.1:5001"));
        assert!(g.get("127.0.0.1:5001").is_none());
    }
}
