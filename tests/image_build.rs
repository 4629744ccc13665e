//! `strata build` end to end: a multi-stage Dockerfile (ARG before FROM, a heredoc RUN,
//! COPY --from, --chown, .dockerignore with an exception, a deletion across layers, a
//! non-root final stage) built and run; the step cache hit, missed after an edit, untouched
//! by an ignored file, emptied by `builder prune`; --target; failures that name their step
//! and leave nothing; sources that try to leave the context or a stage's root; the lints.

mod common;

use common::{prerequisites, Engine};
use std::path::Path;

const DOCKERFILE: &str = r#"ARG BASE=localhost/busybox
FROM $BASE AS builder
ARG GREETING=hello
WORKDIR /work
COPY src/ ./src/
RUN <<EOF
set -e
echo "$GREETING from RUN" > /work/out.txt
cat src/main.txt >> /work/out.txt
EOF

FROM ${BASE}
RUN rm /bin/vi && mkdir /app
COPY --from=builder /work/out.txt /app/out.txt
COPY --chown=1000:1000 src/ /app/src/
ENV MODE=prod
LABEL org.example.tier=web
EXPOSE 8080
USER 1000
ENTRYPOINT ["cat"]
CMD ["/app/out.txt"]
"#;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A build context with the Dockerfile above.
fn context(e: &Engine) -> std::path::PathBuf {
    let ctx = e.dir.path().join("ctx");
    write(&ctx, "Dockerfile", DOCKERFILE);
    write(&ctx, "src/main.txt", "main v1\n");
    write(&ctx, "src/keep.log", "kept\n");
    write(&ctx, "src/drop.log", "dropped\n");
    write(&ctx, ".dockerignore", "**/*.log\n!src/keep.log\n");
    ctx
}

fn build(e: &Engine, args: &[&str]) -> (i32, String, String) {
    let mut a = vec!["build"];
    a.extend_from_slice(args);
    e.status(&a)
}

#[test]
fn a_multi_stage_build_runs_and_caches_by_content() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let ctx = context(&e);
    let c = ctx.to_str().unwrap();
    let (code, id, err) = build(&e, &["-t", "app:1", c]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(id.trim().len(), 64, "the image id on stdout: {id}");
    assert!(err.contains("STEP 1/"), "progress per step: {err}");
    assert_eq!(
        e.ok(&["run", "--rm", "--network", "none", "app:1"]),
        "hello from RUN\nmain v1\n"
    );
    let facts = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "sh",
        "app:1",
        "-c",
        "id -u; stat -c '%u:%g %n' /app/src/main.txt; ls /app/src; test -e /bin/vi || echo no-vi",
    ]);
    assert_eq!(
        facts, "1000\n1000:1000 /app/src/main.txt\nkeep.log\nmain.txt\nno-vi\n",
        "non-root, --chown, .dockerignore with its exception, a deletion across layers"
    );
    let img: serde_json::Value =
        serde_json::from_str(&e.ok(&["image", "inspect", "localhost/app:1"])).unwrap();
    let cfg = &img[0]["Config"];
    assert!(
        cfg["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "MODE=prod"),
        "{cfg}"
    );
    assert_eq!(cfg["User"], "1000");
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["cat"]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["/app/out.txt"]));
    assert_eq!(cfg["Labels"]["org.example.tier"], "web");
    assert!(cfg["ExposedPorts"]["8080/tcp"].is_object(), "{cfg}");

    // Unchanged: every step from the cache, the same image.
    let (code, again, err) = build(&e, &["-t", "app:2", c]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again, id, "a cached rebuild gives the same image");
    assert!(err.contains("(0 steps run"), "{err}");
    // An ignored file changed: still cached.
    write(&ctx, "src/drop.log", "changed\n");
    let (_, _, err) = build(&e, &[c]);
    assert!(err.contains("(0 steps run"), "{err}");
    // A source changed: the steps from its COPY on run again, the first ones do not.
    write(&ctx, "src/main.txt", "main v2\n");
    let (code, _, err) = build(&e, &["-t", "app:3", "--build-arg", "GREETING=hi", c]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("Using cache"),
        "the first RUN is cached: {err}"
    );
    assert!(!err.contains("(0 steps run"), "{err}");
    assert_eq!(
        e.ok(&["run", "--rm", "--network", "none", "app:3"]),
        "hi from RUN\nmain v2\n"
    );
    // --target: the first stage only.
    let (code, _, err) = build(&e, &["--target", "builder", "-t", "stage1", c]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "stage1",
            "cat",
            "/work/out.txt"
        ]),
        "hello from RUN\nmain v2\n"
    );
    // builder prune: steps run again.
    e.ok(&["builder", "prune"]);
    let (_, _, err) = build(&e, &["-t", "app:4", c]);
    assert!(!err.contains("Using cache"), "{err}");
    assert_eq!(e.ok(&["ps", "-aq"]), "", "no build container is left");
}

#[test]
fn failures_name_their_step_and_leave_nothing() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let ctx = e.dir.path().join("bad");
    write(&ctx, "src/a", "a\n");
    let images_before = e.ok(&["images", "-q"]);
    let case = |file: &str, text: &str| {
        write(&ctx, file, text);
        build(
            &e,
            &[
                "-f",
                ctx.join(file).to_str().unwrap(),
                "-t",
                "bad",
                ctx.to_str().unwrap(),
            ],
        )
    };
    let (code, _, err) = case(
        "Run.Dockerfile",
        "FROM localhost/busybox\nRUN echo partial > /p; echo oops; exit 7\n",
    );
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("STEP 2/2"), "{err}");
    assert!(err.contains("exited 7"), "{err}");
    assert!(err.contains("oops"), "the command's output is shown: {err}");
    let (code, _, err) = case("Syntax.Dockerfile", "FROM localhost/busybox\nFORM x\n");
    assert_eq!(code, 125);
    assert!(
        err.contains("Syntax.Dockerfile:2:1: unknown instruction: FORM"),
        "{err}"
    );
    let (code, _, err) = case(
        "Missing.Dockerfile",
        "FROM localhost/busybox\nCOPY nothere /x\n",
    );
    assert_eq!(code, 125);
    assert!(err.contains("nothere: no such file"), "{err}");
    let (code, _, err) = case(
        "Escape.Dockerfile",
        "FROM localhost/busybox\nCOPY ../../../etc/passwd /x\n",
    );
    assert_eq!(code, 125);
    assert!(err.contains("outside the build context"), "{err}");
    let (code, _, err) = case(
        "Platform.Dockerfile",
        "FROM --platform=linux/arm64 localhost/busybox\nRUN true\n",
    );
    assert_eq!(code, 125);
    assert!(err.contains("--platform=linux/arm64"), "{err}");
    assert_eq!(e.ok(&["ps", "-aq"]), "", "no container left");
    assert_eq!(
        e.ok(&["images", "-q"])
            .lines()
            .filter(|l| !images_before.contains(l))
            .count(),
        0,
        "no image left by a build that failed at its first layer"
    );
    let build_dir = e.runroot().join("build");
    assert!(
        !build_dir.exists() || std::fs::read_dir(&build_dir).unwrap().next().is_none(),
        "no staging directory left"
    );
}

#[test]
fn sources_cannot_reach_the_host_through_links() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let secret = e.dir.path().join("host-secret");
    std::fs::write(&secret, "HOST SECRET\n").unwrap();
    let ctx = e.dir.path().join("links");
    std::fs::create_dir_all(&ctx).unwrap();
    // A link in the context to a host file is copied as the link, not as the host's file.
    std::os::unix::fs::symlink(&secret, ctx.join("link")).unwrap();
    write(
        &ctx,
        "Dockerfile",
        &format!(
            "FROM localhost/busybox AS s\nRUN ln -s {} /leak\nFROM localhost/busybox\nCOPY link /from-context\nCOPY --from=s /leak /from-stage\n",
            secret.display()
        ),
    );
    let (code, _, err) = build(&e, &["-t", "links", ctx.to_str().unwrap()]);
    // The stage's link names a path that does not exist inside the stage's root.
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("/leak in s"), "{err}");
    write(
        &ctx,
        "Dockerfile",
        "FROM localhost/busybox\nCOPY link /from-context\n",
    );
    let (code, _, err) = build(&e, &["-t", "links", ctx.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "links",
        "sh",
        "-c",
        "readlink /from-context; cat /from-context 2>/dev/null || echo unreadable",
    ]);
    assert!(!out.contains("HOST SECRET"), "{out}");
    assert!(out.ends_with("unreadable\n"), "{out}");
}

#[test]
fn lint_only_reports_the_practices_and_builds_nothing() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let ctx = e.dir.path().join("lint");
    write(
        &ctx,
        "Dockerfile",
        "FROM debian\nRUN apt-get update\nRUN apt-get install curl\nARG DB_PASSWORD=x\nCOPY . .\nADD app.py /app/\n",
    );
    let (code, out, err) = build(&e, &["--lint-only", ctx.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "");
    for rule in [
        ":1: warning[unpinned-base]",
        ":2: warning[apt-update-alone]",
        ":3: warning[apt-yes]",
        ":3: warning[apt-no-recommends]",
        ":4: warning[secret-in-arg-env]",
        ":5: warning[copy-context-no-ignore]",
        ":6: warning[add-not-copy]",
        "warning[root-user]",
    ] {
        assert!(err.contains(rule), "{rule} in {err}");
    }
    assert_eq!(e.ok(&["images", "-q"]).lines().count(), 1, "only busybox");
}

#[test]
fn run_mounts_cache_bind_tmpfs_and_secret_stay_in_their_roots() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let ctx = e.dir.path().join("mounts");
    write(&ctx, "src/main.txt", "from the context\n");
    let secret = e.dir.path().join("token");
    std::fs::write(&secret, "s3cr3t\n").unwrap();
    // A cache id that tries to climb out of the build cache names a directory inside it.
    let escape = e.dir.path().join("escaped-cache");
    let id = format!("../../../../../../..{}", escape.display());
    write(
        &ctx,
        "Dockerfile",
        &format!(
            r#"FROM localhost/busybox
RUN --mount=type=cache,id={id},target=/cache sh -c 'n=$(cat /cache/n 2>/dev/null || echo 0); echo $((n+1)) > /cache/n; cp /cache/n /n'
RUN --mount=type=bind,source=src,target=/m cat /m/main.txt > /bound
RUN --mount=type=cache,target=/pc,sharing=private sh -c 'echo p >> /pc/log; wc -l < /pc/log > /private-count'
RUN --mount=type=tmpfs,target=/t sh -c 'echo x > /t/f; grep " /t " /proc/mounts | cut -d" " -f3 > /tmpfs-type'
RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /secret-len
"#
        ),
    );
    let c = ctx.to_str().unwrap();
    let s = format!("id=tok,src={}", secret.display());
    for _ in 0..2 {
        let (code, _, err) = build(&e, &["--no-cache", "--secret", &s, "-t", "m", c]);
        assert_eq!(code, 0, "{err}");
    }
    assert!(!escape.exists(), "a cache id cannot name a host path");
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "m",
        "sh",
        "-c",
        "cat /n /bound /tmpfs-type /secret-len /private-count; for p in /t /run/secrets/tok /cache /m /pc; do test -e $p && echo $p; done; true",
    ]);
    assert_eq!(
        out, "2\nfrom the context\ntmpfs\n7\n2\n",
        "the cache persisted, the bind was the context's, no mount point (nor the secret) stayed in the image"
    );
    // Bind sources cannot leave the context: `..` stops at its top (as at `/`), and a link
    // resolves inside it.
    write(
        &ctx,
        "Dockerfile",
        "FROM localhost/busybox\nRUN --mount=type=bind,source=../..,target=/m ls /m > /listing\n",
    );
    let (code, _, err) = build(&e, &["-t", "up", c]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        e.ok(&["run", "--rm", "--network", "none", "up", "cat", "/listing"]),
        "Dockerfile\nsrc\n",
        "the context, not the host's /"
    );
    std::os::unix::fs::symlink("/etc", ctx.join("hostetc")).unwrap();
    write(
        &ctx,
        "Dockerfile",
        "FROM localhost/busybox\nRUN --mount=type=bind,source=hostetc/passwd,target=/m cat /m\n",
    );
    let (code, _, err) = build(&e, &["-t", "leak", c]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("in the build context"), "{err}");
    assert!(!err.contains("root:x:0:0"), "{err}");
    // A required secret that is not given.
    write(
        &ctx,
        "Dockerfile",
        "FROM localhost/busybox\nRUN --mount=type=secret,id=missing,required=true true\n",
    );
    let (code, _, err) = build(&e, &[c]);
    assert_eq!(code, 125);
    assert!(err.contains("--secret id=missing"), "{err}");
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}

#[test]
fn onbuild_triggers_run_and_add_extracts_archives_inside_the_destination() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let ctx = e.dir.path().join("add");
    write(
        &ctx,
        "Parent.Dockerfile",
        "FROM localhost/busybox\nONBUILD RUN echo triggered > /onbuild\n",
    );
    write(&ctx, "plain.txt", "plain\n");
    // A gzip tar with a normal file and entries that try to leave the destination.
    let tar = ctx.join("files.tar.gz");
    let py = format!(
        r#"import io, tarfile
with tarfile.open("{}", "w:gz") as t:
    for name, data in [("a/b.txt", b"in the archive\n"), ("../../escaped", b"x"), ("/abs-escaped", b"x")]:
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
    l = tarfile.TarInfo("link"); l.type = tarfile.SYMTYPE; l.linkname = "/etc"; t.addfile(l)
    i = tarfile.TarInfo("link/through-link"); i.size = 1; t.addfile(i, io.BytesIO(b"x"))
"#,
        tar.display()
    );
    let st = std::process::Command::new("python3")
        .args(["-c", &py])
        .status()
        .unwrap();
    assert!(st.success());
    write(
        &ctx,
        "Dockerfile",
        "FROM parent\nADD files.tar.gz /opt/\nADD plain.txt /opt/plain.txt\n",
    );
    let c = ctx.to_str().unwrap();
    let parent = ctx.join("Parent.Dockerfile");
    let (code, _, err) = build(&e, &["-f", parent.to_str().unwrap(), "-t", "parent", c]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = build(&e, &["-t", "child", c]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("ONBUILD RUN echo triggered"), "{err}");
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "child",
        "sh",
        "-c",
        "cat /onbuild /opt/a/b.txt /opt/plain.txt; ls /escaped /abs-escaped /etc/through-link 2>/dev/null; true",
    ]);
    assert_eq!(out, "triggered\nin the archive\nplain\n", "{out}");
    assert!(!Path::new("/etc/through-link").exists());
    assert!(!e.runroot().join("escaped").exists());
    let img: serde_json::Value =
        serde_json::from_str(&e.ok(&["image", "inspect", "localhost/child"])).unwrap();
    assert!(
        img[0]["Config"]["OnBuild"].is_null(),
        "triggers are not passed on: {}",
        img[0]["Config"]
    );
}

#[test]
fn source_date_epoch_makes_builds_reproducible_and_outputs_are_written() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let ctx = context(&e);
    let c = ctx.to_str().unwrap();
    let epoch = ["--build-arg", "SOURCE_DATE_EPOCH=1700000000"];
    let ids: Vec<String> = (0..2)
        .map(|_| {
            let mut a = vec!["--no-cache", "-t", "repro"];
            a.extend_from_slice(&epoch);
            a.push(c);
            let (code, id, err) = build(&e, &a);
            assert_eq!(code, 0, "{err}");
            std::thread::sleep(std::time::Duration::from_millis(1100));
            id
        })
        .collect();
    assert_eq!(
        ids[0], ids[1],
        "the same inputs give the same image, bit for bit"
    );
    let img: serde_json::Value =
        serde_json::from_str(&e.ok(&["image", "inspect", "localhost/repro"])).unwrap();
    assert!(
        img[0]["Created"]
            .as_str()
            .unwrap()
            .starts_with("2023-11-14T22:13:20"),
        "{}",
        img[0]
    );
    let (_, other, _) = build(&e, &["--no-cache", c]);
    assert_ne!(other, ids[0], "without it the build time is in the image");

    let local = e.dir.path().join("out-local");
    let archive = e.dir.path().join("out.tar");
    let (code, _, err) = build(&e, &["-o", local.to_str().unwrap(), c]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(local.join("app/out.txt")).unwrap(),
        "hello from RUN\nmain v1\n"
    );
    let out = format!("type=oci-archive,dest={}", archive.display());
    let (code, _, err) = build(&e, &["-t", "arch", "--output", &out, c]);
    assert_eq!(code, 0, "{err}");
    e.ok(&["rmi", "localhost/arch"]);
    e.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    assert_eq!(
        e.ok(&["run", "--rm", "--network", "none", "localhost/arch"]),
        "hello from RUN\nmain v1\n"
    );
    let (code, _, err) = build(&e, &["--output", "type=zip,dest=/tmp/x", c]);
    assert_eq!(code, 125);
    assert!(
        err.contains("oci-archive, docker-archive or local"),
        "{err}"
    );
}

#[test]
fn add_downloads_urls_and_copy_writes_heredocs() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let site = e.dir.path().join("site");
    write(&site, "files/tool.sh", "echo downloaded\n");
    // A web server on loopback for the test only.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = strata_testkit::ChildGuard::spawn_quiet(
        std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(&site)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed().as_secs() < 10,
            "the test's web server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ctx = e.dir.path().join("urls");
    write(
        &ctx,
        "Dockerfile",
        &format!(
            "FROM localhost/busybox\nADD http://127.0.0.1:{port}/files/tool.sh /opt/\nCOPY <<EOF /etc/app.conf\nport=8080\nEOF\nADD http://127.0.0.1:{port}/files/nothere /x\n"
        ),
    );
    let (code, _, err) = build(&e, &["-t", "urls", ctx.to_str().unwrap()]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("404"), "a missing URL fails its step: {err}");
    write(
        &ctx,
        "Dockerfile",
        &format!(
            "FROM localhost/busybox\nADD http://127.0.0.1:{port}/files/tool.sh /opt/\nCOPY <<EOF /etc/app.conf\nport=8080\nEOF\n"
        ),
    );
    let (code, _, err) = build(&e, &["-t", "urls", ctx.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "urls",
            "sh",
            "-c",
            "sh /opt/tool.sh; stat -c %a /opt/tool.sh; cat /etc/app.conf"
        ]),
        "downloaded\n600\nport=8080\n"
    );
    server.signal(libc::SIGTERM);
    let _ = server.wait_timeout(std::time::Duration::from_secs(5));
}

#[test]
fn independent_stages_build_at_the_same_time() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let ctx = e.dir.path().join("waves");
    write(
        &ctx,
        "Dockerfile",
        r#"FROM localhost/busybox AS a
RUN cut -d' ' -f1 /proc/uptime > /start && sleep 1 && cut -d' ' -f1 /proc/uptime > /end
FROM localhost/busybox AS b
RUN cut -d' ' -f1 /proc/uptime > /start && sleep 1 && cut -d' ' -f1 /proc/uptime > /end
FROM localhost/busybox
COPY --from=a /start /a.start
COPY --from=a /end /a.end
COPY --from=b /start /b.start
COPY --from=b /end /b.end
"#,
    );
    let (code, _, err) = build(&e, &["-t", "waves", ctx.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "waves",
        "cat",
        "/a.start",
        "/a.end",
        "/b.start",
        "/b.end",
    ]);
    let t: Vec<f64> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert!(
        t[0] < t[3] && t[2] < t[1],
        "stages a and b ran at the same time: a {}..{}, b {}..{}",
        t[0],
        t[1],
        t[2],
        t[3]
    );
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}
