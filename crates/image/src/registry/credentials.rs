//! Registry credentials: the docker `config.json` `auths` format (as podman's auth.json).

use crate::error::{Error, IoResultExt, Result};
use base64::Engine as _;
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

#[cfg(test)]
mod tests {
    use super::*;

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
