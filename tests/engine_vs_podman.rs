//! Differential tests: the same commands through podman and through strata, on the same
//! busybox image, must give the same exit statuses, output streams, environment, users,
//! logs and inspect fields (podman with its vfs driver and runc, in a private store).

mod common;

use common::podman::Podman;
use common::{prerequisites, Engine};
use strata_testkit::require_tools;

fn both() -> Option<(Engine, Podman)> {
    if !prerequisites() || !require_tools(&["podman", "runc"]) {
        return None;
    }
    Some((Engine::new(), Podman::new()))
}

const IMG: &str = "localhost/busybox";

#[test]
fn run_gives_the_same_statuses_streams_environment_and_users() {
    let Some((s, p)) = both() else { return };
    let cases: &[&[&str]] = &[
        &["sh", "-c", "echo out; echo err >&2; exit 3"],
        &["sh", "-c", "echo $HOME; echo $PATH; echo $A"],
        &["/no/such/cmd"],
        &["/etc/passwd"],
        &["sh", "-c", "id -u; id -g; pwd"],
        &["sh", "-c", "touch /probe && echo writable"],
        &[
            "sh",
            "-c",
            "cat /proc/self/status | grep -E '^(NoNewPrivs|Seccomp):'",
        ],
    ];
    for (i, args) in cases.iter().enumerate() {
        for extra in [
            &[][..],
            &["-e", "A=1", "-u", "user", "-w", "/tmp"][..],
            &["--read-only"][..],
        ] {
            let mut a: Vec<&str> = vec!["run", "--rm", "--network", "none"];
            a.extend_from_slice(extra);
            a.push(IMG);
            a.extend_from_slice(args);
            let (sc, so, se) = s.status(&a);
            let (pc, po, pe) = p.status(&a);
            assert_eq!(
                sc, pc,
                "case {i} {a:?}: exit status (strata stderr {se:?}, podman stderr {pe:?})"
            );
            if pc < 125 {
                assert_eq!(so, po, "case {i} {a:?}: stdout");
                if pc == 0 || pc == 3 {
                    assert_eq!(se, pe, "case {i} {a:?}: stderr");
                }
            }
        }
    }
    let (sc, _, _) = s.status(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/no-such-image",
    ]);
    let (pc, _, _) = p.status(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--pull",
        "never",
        "localhost/no-such-image",
    ]);
    assert_eq!((sc, pc), (125, 125), "an unknown image");
}

#[test]
fn logs_ps_and_inspect_say_the_same() {
    let Some((s, p)) = both() else { return };
    let script = "echo one; echo two >&2; echo three; exit 2";
    let strata = |a: &[&str]| s.status(a);
    let podman = |a: &[&str]| p.status(a);
    for e in [
        &strata as &dyn Fn(&[&str]) -> (i32, String, String),
        &podman,
    ] {
        let (c, _, err) = e(&[
            "run",
            "--name",
            "x",
            "--network",
            "none",
            "-e",
            "K=v",
            IMG,
            "sh",
            "-c",
            script,
        ]);
        assert_eq!(c, 2, "{err}");
    }
    let (_, so, se) = s.status(&["logs", "x"]);
    let (_, po, pe) = p.status(&["logs", "x"]);
    assert_eq!(
        (so.as_str(), se.as_str()),
        (po.as_str(), pe.as_str()),
        "logs keep the streams apart"
    );
    assert_eq!(so, "one\nthree\n");
    // --tail counts lines of both streams, as docker does (podman 4.3 prints nothing here: its
    // tail counts the log's final empty record).
    let (_, so, se) = s.status(&["logs", "--tail", "2", "x"]);
    assert_eq!((so.as_str(), se.as_str()), ("three\n", "two\n"), "--tail");
    let fmt = "{{.Names}} {{.Status}}";
    let (_, so, _) = s.status(&["ps", "-a", "--format", fmt]);
    let (_, po, _) = p.status(&["ps", "-a", "--format", fmt]);
    // "x Exited (2) 3 seconds ago": the same up to how long ago (the two ran one after the other).
    let upto = |x: &str| x.split(')').next().unwrap_or("").to_string();
    assert_eq!(upto(&so), upto(&po), "ps");
    let fmt = "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}} {{.Config.Cmd}} {{.HostConfig.AutoRemove}}";
    let (_, so, _) = s.status(&["inspect", "-f", fmt, "x"]);
    let (_, po, _) = p.status(&["inspect", "-f", fmt, "x"]);
    let norm = |x: &str| {
        x.replace(['[', ']', ','], " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(norm(&so), norm(&po), "inspect");
    for e in [
        &strata as &dyn Fn(&[&str]) -> (i32, String, String),
        &podman,
    ] {
        let (c, out, _) = e(&["inspect", "-f", "{{.Config.Env}}", "x"]);
        assert_eq!(c, 0);
        assert!(out.contains("K=v"), "{out}");
    }
}
