//! `RUN --mount=` specifications (BuildKit's comma-separated `key=value` list).

/// The kind of a RUN mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    /// A read-only (by default) bind of the context, a stage or an image.
    Bind,
    /// A persistent cache directory shared between builds.
    Cache,
    /// An empty tmpfs.
    Tmpfs,
    /// A build secret, as a file (or an environment variable with `env=`).
    Secret,
    /// The SSH agent socket.
    Ssh,
}

/// How a cache mount is shared between concurrent builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sharing {
    /// Concurrent writers share it (the default).
    #[default]
    Shared,
    /// Each writer gets its own copy if it is in use.
    Private,
    /// Writers wait for each other.
    Locked,
}

/// One `--mount=` of a RUN instruction. Values are as written (they may contain variables);
/// numeric fields written literally have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `type=` (default `bind`).
    pub kind: MountType,
    /// `target=`, `dst=`, `destination=`. Secret and SSH mounts have defaults when absent.
    pub target: Option<String>,
    /// `source=`, `src=`: the path within `from` (or the context).
    pub source: Option<String>,
    /// `from=`: a stage name or index, or an image.
    pub from: Option<String>,
    /// `id=`: the cache or secret id.
    pub id: Option<String>,
    /// `ro`, `readonly` (default for bind, secret and ssh), cleared by `rw`.
    pub readonly: bool,
    /// `sharing=` for cache mounts.
    pub sharing: Sharing,
    /// `mode=` in octal.
    pub mode: Option<String>,
    /// `uid=`.
    pub uid: Option<String>,
    /// `gid=`.
    pub gid: Option<String>,
    /// `required=` (secret and ssh): fail when the secret is not provided.
    pub required: bool,
    /// `size=` for tmpfs.
    pub size: Option<String>,
    /// `env=` for secrets: expose the secret as this environment variable.
    pub env: Option<String>,
}

fn parse_bool(key: &str, value: Option<&str>) -> Result<bool, String> {
    match value.map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(v) => Err(format!(
            "invalid value {v:?} for {key}: expected true or false"
        )),
    }
}

/// Splits on commas outside double quotes, removing the quotes (CSV, as BuildKit reads it).
fn split_fields(spec: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    for c in spec.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().expect("never empty").push(c),
        }
    }
    fields
}

fn check_numeric(key: &str, value: &str, radix: u32) -> Result<(), String> {
    if value.contains('$') || u32::from_str_radix(value, radix).is_ok() {
        return Ok(());
    }
    let what = if radix == 8 {
        "an octal mode"
    } else {
        "a number"
    };
    Err(format!("{key}={value} is not {what}"))
}

impl Mount {
    /// Parses the value of a `--mount=` flag.
    pub fn parse(spec: &str) -> Result<Mount, String> {
        let mut m = Mount {
            kind: MountType::Bind,
            target: None,
            source: None,
            from: None,
            id: None,
            readonly: true,
            sharing: Sharing::Shared,
            mode: None,
            uid: None,
            gid: None,
            required: false,
            size: None,
            env: None,
        };
        let mut explicit_ro = None;
        for field in split_fields(spec) {
            let field = field.trim();
            if field.is_empty() {
                continue;
            }
            let (key, value) = match field.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
                None => (field.to_ascii_lowercase(), None),
            };
            let need = || {
                value
                    .map(str::to_string)
                    .ok_or(format!("{key} needs a value"))
            };
            match key.as_str() {
                "type" => {
                    m.kind = match need()?.as_str() {
                        "bind" => MountType::Bind,
                        "cache" => MountType::Cache,
                        "tmpfs" => MountType::Tmpfs,
                        "secret" => MountType::Secret,
                        "ssh" => MountType::Ssh,
                        t => return Err(format!("unsupported mount type {t:?}")),
                    }
                }
                "target" | "dst" | "destination" => m.target = Some(need()?),
                "source" | "src" => m.source = Some(need()?),
                "from" => m.from = Some(need()?),
                "id" => m.id = Some(need()?),
                "ro" | "readonly" => explicit_ro = Some(parse_bool(&key, value)?),
                "rw" | "readwrite" => explicit_ro = Some(!parse_bool(&key, value)?),
                "required" => m.required = parse_bool(&key, value)?,
                "sharing" => {
                    m.sharing = match need()?.as_str() {
                        "shared" => Sharing::Shared,
                        "private" => Sharing::Private,
                        "locked" => Sharing::Locked,
                        s => return Err(format!("unsupported sharing value {s:?}")),
                    }
                }
                "mode" => {
                    let v = need()?;
                    check_numeric("mode", &v, 8)?;
                    m.mode = Some(v);
                }
                "uid" | "gid" => {
                    let v = need()?;
                    check_numeric(&key, &v, 10)?;
                    if key == "uid" {
                        m.uid = Some(v)
                    } else {
                        m.gid = Some(v)
                    }
                }
                "size" => m.size = Some(need()?),
                "env" => m.env = Some(need()?),
                _ => return Err(format!("unexpected key '{key}' in '{field}'")),
            }
        }
        m.readonly = explicit_ro.unwrap_or(matches!(
            m.kind,
            MountType::Bind | MountType::Secret | MountType::Ssh
        ));
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), String> {
        let name = match self.kind {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        };
        match self.kind {
            MountType::Bind | MountType::Cache | MountType::Tmpfs if self.target.is_none() => {
                Err(format!("{name} mount needs a target"))
            }
            MountType::Tmpfs if self.from.is_some() || self.source.is_some() => {
                Err("tmpfs mount takes no from or source".into())
            }
            MountType::Secret if self.id.is_none() && self.target.is_none() => {
                Err("secret mount needs an id or a target".into())
            }
            _ if self.sharing != Sharing::Shared && self.kind != MountType::Cache => Err(format!(
                "sharing is only valid for cache mounts, not {name}"
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_mount_with_everything() {
        let m = Mount::parse(
            "type=cache,id=cargo,target=/root/.cargo,sharing=locked,mode=0755,uid=1000,gid=1000",
        )
        .unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.id.as_deref(), Some("cargo"));
        assert_eq!(m.target.as_deref(), Some("/root/.cargo"));
        assert_eq!(m.sharing, Sharing::Locked);
        assert_eq!(m.mode.as_deref(), Some("0755"));
        assert_eq!(m.uid.as_deref(), Some("1000"));
        assert!(!m.readonly);
    }

    #[test]
    fn bind_defaults_read_only_and_aliases() {
        let m = Mount::parse("from=build,src=/out,dst=/in").unwrap();
        assert_eq!(m.kind, MountType::Bind);
        assert!(m.readonly);
        assert_eq!(m.from.as_deref(), Some("build"));
        assert_eq!(m.source.as_deref(), Some("/out"));
        assert_eq!(m.target.as_deref(), Some("/in"));
        let m = Mount::parse("type=bind,destination=/x,source=a,rw").unwrap();
        assert!(!m.readonly);
        let m = Mount::parse("type=cache,target=/x,ro").unwrap();
        assert!(m.readonly);
        let m = Mount::parse("type=cache,target=/x,readonly=true").unwrap();
        assert!(m.readonly);
    }

    #[test]
    fn secret_tmpfs_ssh() {
        let m = Mount::parse("type=secret,id=npmrc,target=/root/.npmrc,required=true").unwrap();
        assert_eq!(m.kind, MountType::Secret);
        assert!(m.required && m.readonly);
        let m = Mount::parse("type=secret,id=tok,env=TOKEN").unwrap();
        assert_eq!(m.env.as_deref(), Some("TOKEN"));
        let m = Mount::parse("type=tmpfs,target=/tmp,size=64m").unwrap();
        assert_eq!(m.size.as_deref(), Some("64m"));
        let m = Mount::parse("type=ssh").unwrap();
        assert_eq!(m.kind, MountType::Ssh);
        assert_eq!(m.target, None);
    }

    #[test]
    fn rejects_bad_specs() {
        let bad = [
            ("type=nfs,target=/x", "unsupported mount type"),
            ("type=cache", "needs a target"),
            ("type=cache,target=/x,sharing=all", "unsupported sharing"),
            ("type=cache,target=/x,mode=999", "octal"),
            ("type=cache,target=/x,uid=me", "not a number"),
            ("type=cache,target=/x,colour=red", "unexpected key 'colour'"),
            ("type=secret", "needs an id or a target"),
            ("type=tmpfs,target=/x,from=a", "tmpfs mount takes no from"),
            ("type=bind,target=/x,sharing=locked", "only valid for cache"),
            ("type=bind,target=/x,ro=maybe", "expected true or false"),
        ];
        for (spec, want) in bad {
            let e = Mount::parse(spec).unwrap_err();
            assert!(e.contains(want), "{spec}: {e}");
        }
        assert!(Mount::parse("type=cache,target=/x,uid=$UID").is_ok());
    }
}
