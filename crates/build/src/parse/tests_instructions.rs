//! Parser tests: every instruction, flag, form, heredoc and continuation.

use std::time::Duration;

use super::*;

fn parse_ok(src: &str) -> Dockerfile {
    parse("Dockerfile", src).unwrap_or_else(|e| panic!("{e}"))
}

/// Parses `FROM x` followed by `body`, returning the instructions after FROM.
fn body(src: &str) -> Vec<Instruction> {
    let mut df = parse_ok(&format!("FROM alpine\n{src}"));
    df.instructions.remove(0);
    df.instructions
}

fn kind(src: &str) -> InstructionKind {
    body(src).remove(0).kind
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: v.into(),
    }
}

#[test]
fn from_forms() {
    let df = parse_ok("from --platform=$BUILDPLATFORM golang:1.22 As Build\nFROM scratch\n");
    let InstructionKind::From(f) = &df.instructions[0].kind else {
        panic!()
    };
    assert_eq!(f.image, "golang:1.22");
    assert_eq!(f.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(f.alias.as_deref(), Some("build"));
    let InstructionKind::From(f) = &df.instructions[1].kind else {
        panic!()
    };
    assert_eq!((f.image.as_str(), f.alias.as_ref()), ("scratch", None));
    assert_eq!(df.instructions[1].line, 2);
}

#[test]
fn run_shell_and_exec_forms() {
    assert_eq!(
        kind("RUN echo hi"),
        InstructionKind::Run(RunInstr {
            command: Command::Shell("echo hi".into()),
            mounts: vec![],
            network: None,
            security: None,
            heredocs: vec![],
        })
    );
    let InstructionKind::Run(r) = kind(r#"RUN ["sh", "-c", "echo $HOME"]"#) else {
        panic!()
    };
    assert_eq!(
        r.command,
        Command::Exec(vec!["sh".into(), "-c".into(), "echo $HOME".into()])
    );
    // Not valid JSON: the shell form, as in docker.
    let InstructionKind::Run(r) = kind("RUN [ -f /x ] && echo y") else {
        panic!()
    };
    assert_eq!(r.command, Command::Shell("[ -f /x ] && echo y".into()));
}

#[test]
fn run_flags() {
    let InstructionKind::Run(r) = kind(
        "RUN --mount=type=cache,target=/root/.cache,sharing=locked \\\n    --mount=type=secret,id=tok,required=true --network=none --security=insecure make",
    ) else {
        panic!()
    };
    assert_eq!(r.mounts.len(), 2);
    assert_eq!(r.mounts[0].kind, MountType::Cache);
    assert_eq!(r.mounts[0].sharing, Sharing::Locked);
    assert_eq!(r.mounts[1].kind, MountType::Secret);
    assert!(r.mounts[1].required);
    assert_eq!(r.network, Some(NetworkMode::None));
    assert_eq!(r.security, Some(SecurityMode::Insecure));
    assert_eq!(r.command, Command::Shell("make".into()));
    for (net, want) in [
        ("host", NetworkMode::Host),
        ("default", NetworkMode::Default),
    ] {
        let InstructionKind::Run(r) = kind(&format!("RUN --network={net} x")) else {
            panic!()
        };
        assert_eq!(r.network, Some(want));
    }
    let InstructionKind::Run(r) = kind("RUN --mount=from=build,source=/out,target=/in ls /in")
    else {
        panic!()
    };
    assert_eq!(r.mounts[0].from.as_deref(), Some("build"));
}

#[test]
fn run_heredocs() {
    let b = body("RUN <<EOF\napt-get update\necho $HOME\nEOF\nUSER app\n");
    let InstructionKind::Run(r) = &b[0].kind else {
        panic!()
    };
    assert_eq!(r.command, Command::Shell("<<EOF".into()));
    assert_eq!(r.heredocs[0].content, "apt-get update\necho $HOME\n");
    assert!(r.heredocs[0].expand);
    assert_eq!((b[0].line, b[0].end_line), (2, 5));
    assert_eq!(b[1].line, 6);

    let b = body("RUN <<-\"EOT\" python3\n\tprint('$x')\n\tEOT\n");
    let InstructionKind::Run(r) = &b[0].kind else {
        panic!()
    };
    let h = &r.heredocs[0];
    assert_eq!(
        (h.content.as_str(), h.expand, h.strip_tabs),
        ("print('$x')\n", false, true)
    );

    let b = body("RUN cat <<A >a && cat <<'B' > b\none\nA\ntwo\nB\nRUN true\n");
    let InstructionKind::Run(r) = &b[0].kind else {
        panic!()
    };
    let names: Vec<_> = r
        .heredocs
        .iter()
        .map(|h| (h.name.as_str(), h.content.as_str()))
        .collect();
    assert_eq!(names, vec![("A", "one\n"), ("B", "two\n")]);
    assert_eq!(b[1].line, 7);
}

#[test]
fn copy_and_add() {
    let InstructionKind::Copy(c) = kind(
        "COPY --from=build --chown=app:app --chmod=0755 --link --parents --exclude=*.md --exclude=tmp a b /dst/",
    ) else {
        panic!()
    };
    assert_eq!(c.sources, vec!["a", "b"]);
    assert_eq!(c.dest, "/dst/");
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(c.chown.as_deref(), Some("app:app"));
    assert_eq!(c.chmod.as_deref(), Some("0755"));
    assert!(c.link && c.parents && !c.json);
    assert_eq!(c.exclude, vec!["*.md", "tmp"]);

    let InstructionKind::Copy(c) = kind(r#"COPY ["a b", "/c d/"]"#) else {
        panic!()
    };
    assert_eq!(
        (c.sources, c.dest, c.json),
        (vec!["a b".to_string()], "/c d/".to_string(), true)
    );

    let InstructionKind::Add(a) =
        kind("ADD --checksum=sha256:abc --keep-git-dir https://x/y.tar.gz /opt/")
    else {
        panic!()
    };
    assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    assert!(a.keep_git_dir);
    assert_eq!(a.sources, vec!["https://x/y.tar.gz"]);
}

#[test]
fn copy_heredoc_sources() {
    let b = body("COPY <<app.conf <<-EOF2 /etc/\nport=1\napp.conf\n\tx\n\tEOF2\n");
    let InstructionKind::Copy(c) = &b[0].kind else {
        panic!()
    };
    assert_eq!(c.sources, vec!["<<app.conf", "<<-EOF2"]);
    assert_eq!(c.heredocs[0].name, "app.conf");
    assert_eq!(c.heredocs[0].content, "port=1\n");
    assert_eq!(c.heredocs[1].content, "x\n");
    assert_eq!(b[0].end_line, 6);
}

#[test]
fn env_label_arg() {
    assert_eq!(
        kind("ENV A=1 B=\"x y\""),
        InstructionKind::Env(vec![kv("A", "1"), kv("B", "\"x y\"")])
    );
    assert_eq!(
        kind("ENV PATH /a:/b"),
        InstructionKind::Env(vec![kv("PATH", "/a:/b")])
    );
    assert_eq!(
        kind("LABEL org.opencontainers.image.title=\"demo app\" version=1"),
        InstructionKind::Label(vec![
            kv("org.opencontainers.image.title", "\"demo app\""),
            kv("version", "1")
        ])
    );
    let InstructionKind::Arg(a) = kind("ARG A B=2") else {
        panic!()
    };
    assert_eq!((a[0].name.as_str(), a[0].default.as_deref()), ("A", None));
    assert_eq!(
        (a[1].name.as_str(), a[1].default.as_deref()),
        ("B", Some("2"))
    );
}

#[test]
fn simple_instructions() {
    assert_eq!(
        kind("WORKDIR /app"),
        InstructionKind::Workdir("/app".into())
    );
    assert_eq!(
        kind("USER 1000:1000"),
        InstructionKind::User("1000:1000".into())
    );
    assert_eq!(
        kind("STOPSIGNAL SIGTERM"),
        InstructionKind::StopSignal("SIGTERM".into())
    );
    assert_eq!(
        kind("MAINTAINER Jo <jo@x>"),
        InstructionKind::Maintainer("Jo <jo@x>".into())
    );
    assert_eq!(
        kind("EXPOSE 80 53/udp 8000-8010/tcp $P"),
        InstructionKind::Expose(vec![
            "80".into(),
            "53/udp".into(),
            "8000-8010/tcp".into(),
            "$P".into()
        ])
    );
    assert_eq!(
        kind("VOLUME /a /b"),
        InstructionKind::Volume(vec!["/a".into(), "/b".into()])
    );
    assert_eq!(
        kind(r#"VOLUME ["/data"]"#),
        InstructionKind::Volume(vec!["/data".into()])
    );
    assert_eq!(
        kind(r#"SHELL ["/bin/bash", "-o", "pipefail", "-c"]"#),
        InstructionKind::Shell(vec![
            "/bin/bash".into(),
            "-o".into(),
            "pipefail".into(),
            "-c".into()
        ])
    );
    assert_eq!(
        kind(r#"CMD ["app", "--port", "80"]"#),
        InstructionKind::Cmd(Command::Exec(vec![
            "app".into(),
            "--port".into(),
            "80".into()
        ]))
    );
    assert_eq!(
        kind("ENTRYPOINT exec app"),
        InstructionKind::Entrypoint(Command::Shell("exec app".into()))
    );
}

#[test]
fn healthcheck_forms() {
    assert_eq!(
        kind("HEALTHCHECK NONE"),
        InstructionKind::Healthcheck(Healthcheck::None)
    );
    let InstructionKind::Healthcheck(Healthcheck::Check { command, interval, timeout, start_period, start_interval, retries }) = kind(
        "HEALTHCHECK --interval=30s --timeout=3s --start-period=1m --start-interval=500ms --retries=3 CMD curl -f http://localhost/",
    ) else {
        panic!()
    };
    assert_eq!(command, Command::Shell("curl -f http://localhost/".into()));
    assert_eq!(interval, Some(Duration::from_secs(30)));
    assert_eq!(timeout, Some(Duration::from_secs(3)));
    assert_eq!(start_period, Some(Duration::from_secs(60)));
    assert_eq!(start_interval, Some(Duration::from_millis(500)));
    assert_eq!(retries, Some(3));
    let InstructionKind::Healthcheck(Healthcheck::Check { command, .. }) =
        kind(r#"HEALTHCHECK cmd ["/bin/check"]"#)
    else {
        panic!()
    };
    assert_eq!(command, Command::Exec(vec!["/bin/check".into()]));
}

#[test]
fn onbuild_wraps_instructions() {
    let b = body("ONBUILD COPY --from=x . /src\nONBUILD RUN make\n");
    let InstructionKind::Onbuild(inner) = &b[0].kind else {
        panic!()
    };
    let InstructionKind::Copy(c) = &inner.kind else {
        panic!()
    };
    assert_eq!(c.from.as_deref(), Some("x"));
    assert_eq!(inner.original, "COPY --from=x . /src");
    assert_eq!(inner.line, 2);
    let InstructionKind::Onbuild(inner) = &b[1].kind else {
        panic!()
    };
    assert_eq!(inner.kind.name(), "RUN");
}

#[test]
fn directives_comments_and_case() {
    let df = parse_ok("# syntax=docker/dockerfile:1.7\n# check=error=true\n\n# comment\n  # indented comment\nArG V=1\nfrom alpine:${V}\n");
    assert_eq!(
        df.directives.syntax.as_deref(),
        Some("docker/dockerfile:1.7")
    );
    assert_eq!(df.directives.check.as_deref(), Some("error=true"));
    assert_eq!(df.instructions.len(), 2);
    assert_eq!(df.instructions[0].line, 6);
    assert_eq!(df.instructions[1].line, 7);
}

#[test]
fn continuations_with_backslash() {
    let b = body("RUN apt-get update && \\\n    # a comment inside\n\n    apt-get install -y curl\nRUN next\n");
    let InstructionKind::Run(r) = &b[0].kind else {
        panic!()
    };
    assert_eq!(
        r.command,
        Command::Shell("apt-get update &&     apt-get install -y curl".into())
    );
    assert_eq!((b[0].line, b[0].end_line), (2, 5));
    assert_eq!(b[1].line, 6);
}

#[test]
fn continuations_with_backtick() {
    let df = parse_ok("# escape=`\nFROM mcr.microsoft.com/windows/servercore\nRUN dir c:\\ `\n    && echo done\nCOPY a\\b c:\\dst\\\n");
    assert_eq!(df.directives.escape, '`');
    let InstructionKind::Run(r) = &df.instructions[1].kind else {
        panic!()
    };
    assert_eq!(
        r.command,
        Command::Shell("dir c:\\     && echo done".into())
    );
    let InstructionKind::Copy(c) = &df.instructions[2].kind else {
        panic!()
    };
    assert_eq!(
        (c.sources[0].as_str(), c.dest.as_str()),
        ("a\\b", "c:\\dst\\")
    );
}

#[test]
fn crlf_and_trailing_continuation_at_eof() {
    let df = parse_ok("FROM a\r\nRUN x \\\r\n");
    let InstructionKind::Run(r) = &df.instructions[1].kind else {
        panic!()
    };
    assert_eq!(r.command, Command::Shell("x".into()));
}
