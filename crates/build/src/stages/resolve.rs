//! Expanding an instruction's words in a scope, the way BuildKit does before it executes
//! the instruction.
//!
//! ENV and ARG values, LABEL keys and values, WORKDIR, USER, VOLUME, STOPSIGNAL, FROM, the
//! sources, destination and `--from`/`--chown`/`--chmod`/`--exclude` of COPY and ADD, and
//! the fields of RUN mounts are each expanded as one word (quotes removed). EXPOSE words
//! are expanded and split, so `EXPOSE $PORTS` with `PORTS="80 443"` exposes two ports.
//! Commands (RUN, CMD, ENTRYPOINT, HEALTHCHECK, SHELL) are left to the shell, and heredoc
//! bodies and ONBUILD triggers are left as written.

use super::scope::Scope;
use crate::expand::ExpandError;
use crate::parse::{ArgDecl, CopyInstr, FromInstr, InstructionKind, KeyValue, Mount};

fn opt(scope: &Scope, v: &Option<String>) -> Result<Option<String>, ExpandError> {
    v.as_deref().map(|w| scope.expand(w)).transpose()
}

fn copy(scope: &Scope, c: &CopyInstr) -> Result<CopyInstr, ExpandError> {
    let heredoc = |s: &str| {
        !c.heredocs.is_empty()
            && s.trim_start_matches(|ch: char| ch.is_ascii_digit())
                .starts_with("<<")
    };
    Ok(CopyInstr {
        sources: c
            .sources
            .iter()
            .map(|s| {
                if heredoc(s) {
                    Ok(s.clone())
                } else {
                    scope.expand(s)
                }
            })
            .collect::<Result<_, _>>()?,
        dest: scope.expand(&c.dest)?,
        from: opt(scope, &c.from)?,
        chown: opt(scope, &c.chown)?,
        chmod: opt(scope, &c.chmod)?,
        exclude: c
            .exclude
            .iter()
            .map(|e| scope.expand(e))
            .collect::<Result<_, _>>()?,
        ..c.clone()
    })
}

fn mount(scope: &Scope, m: &Mount) -> Result<Mount, ExpandError> {
    Ok(Mount {
        target: opt(scope, &m.target)?,
        source: opt(scope, &m.source)?,
        from: opt(scope, &m.from)?,
        id: opt(scope, &m.id)?,
        mode: opt(scope, &m.mode)?,
        uid: opt(scope, &m.uid)?,
        gid: opt(scope, &m.gid)?,
        size: opt(scope, &m.size)?,
        env: opt(scope, &m.env)?,
        ..m.clone()
    })
}

impl Scope {
    /// `kind` with its words expanded in this scope (see the module documentation).
    pub fn expand_instruction(
        &self,
        kind: &InstructionKind,
    ) -> Result<InstructionKind, ExpandError> {
        use InstructionKind as K;
        let words = |ws: &[String]| {
            ws.iter()
                .map(|w| self.expand(w))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(match kind {
            K::From(f) => K::From(FromInstr {
                image: self.expand(&f.image)?,
                platform: opt(self, &f.platform)?,
                alias: f.alias.clone(),
            }),
            K::Env(kvs) => K::Env(
                kvs.iter()
                    .map(|kv| {
                        Ok(KeyValue {
                            key: kv.key.clone(),
                            value: self.expand(&kv.value)?,
                        })
                    })
                    .collect::<Result<_, ExpandError>>()?,
            ),
            K::Label(kvs) => K::Label(
                kvs.iter()
                    .map(|kv| {
                        Ok(KeyValue {
                            key: self.expand(&kv.key)?,
                            value: self.expand(&kv.value)?,
                        })
                    })
                    .collect::<Result<_, ExpandError>>()?,
            ),
            K::Arg(decls) => K::Arg(
                decls
                    .iter()
                    .map(|d| {
                        Ok(ArgDecl {
                            name: d.name.clone(),
                            default: opt(self, &d.default)?,
                        })
                    })
                    .collect::<Result<_, ExpandError>>()?,
            ),
            K::Workdir(w) => K::Workdir(self.expand(w)?),
            K::User(u) => K::User(self.expand(u)?),
            K::StopSignal(s) => K::StopSignal(self.expand(s)?),
            K::Volume(v) => K::Volume(words(v)?),
            K::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports {
                    out.extend(self.expand_words(p)?);
                }
                K::Expose(out)
            }
            K::Copy(c) => K::Copy(copy(self, c)?),
            K::Add(c) => K::Add(copy(self, c)?),
            K::Run(r) => {
                let mut r = r.clone();
                r.mounts = r
                    .mounts
                    .iter()
                    .map(|m| mount(self, m))
                    .collect::<Result<_, _>>()?;
                K::Run(r)
            }
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn scope() -> Scope {
        let mut s = Scope::new('\\');
        s.set_arg("PORTS", "80 443/udp".into());
        s.set_arg("DIR", "/srv/app".into());
        s.set_env("APP", "web".into());
        s
    }

    fn expanded(line: &str) -> InstructionKind {
        let df = parse("Dockerfile", &format!("FROM a\n{line}\n")).unwrap();
        scope()
            .expand_instruction(&df.instructions[1].kind)
            .unwrap()
    }

    #[test]
    fn expands_single_words_and_splits_expose() {
        assert_eq!(
            expanded("EXPOSE $PORTS 8080"),
            InstructionKind::Expose(vec!["80".into(), "443/udp".into(), "8080".into()])
        );
        assert_eq!(
            expanded("WORKDIR $DIR/\"sub dir\""),
            InstructionKind::Workdir("/srv/app/sub dir".into())
        );
        assert_eq!(
            expanded("USER ${APP}:${APP}"),
            InstructionKind::User("web:web".into())
        );
        assert_eq!(
            expanded("VOLUME $DIR/data '$DIR'"),
            InstructionKind::Volume(vec!["/srv/app/data".into(), "$DIR".into()])
        );
        assert_eq!(
            expanded("LABEL $APP.version=\"1 0\""),
            InstructionKind::Label(vec![KeyValue {
                key: "web.version".into(),
                value: "1 0".into()
            }])
        );
        assert_eq!(
            expanded("ENV X=\"$APP x\""),
            InstructionKind::Env(vec![KeyValue {
                key: "X".into(),
                value: "web x".into()
            }])
        );
        assert_eq!(
            expanded("STOPSIGNAL ${SIG:-SIGTERM}"),
            InstructionKind::StopSignal("SIGTERM".into())
        );
    }

    #[test]
    fn expands_copy_and_mounts_but_not_commands() {
        let InstructionKind::Copy(c) =
            expanded("COPY --from=$APP --chown=$APP $DIR/a <<EOF $DIR/\nx\nEOF")
        else {
            panic!()
        };
        assert_eq!(c.sources, vec!["/srv/app/a", "<<EOF"]);
        assert_eq!(
            (c.dest.as_str(), c.from.as_deref(), c.chown.as_deref()),
            ("/srv/app/", Some("web"), Some("web"))
        );
        let InstructionKind::Run(r) =
            expanded("RUN --mount=type=cache,target=$DIR/.cache,id=$APP echo $APP")
        else {
            panic!()
        };
        assert_eq!(r.mounts[0].target.as_deref(), Some("/srv/app/.cache"));
        assert_eq!(r.mounts[0].id.as_deref(), Some("web"));
        assert_eq!(r.command, crate::parse::Command::Shell("echo $APP".into()));
        let e = scope()
            .expand_instruction(&InstructionKind::Workdir("${X:?needed}".into()))
            .unwrap_err();
        assert_eq!(e.to_string(), "X: needed");
    }
}
