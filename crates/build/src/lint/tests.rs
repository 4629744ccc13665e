//! Lint tests: each rule firing and not firing, rendering and the summary.

use super::*;
use crate::parse::parse;

fn lints_with(src: &str, has_dockerignore: bool, target: Option<&str>) -> Vec<Lint> {
    let df = parse("Dockerfile", src).unwrap_or_else(|e| panic!("{e}"));
    let opts = LintOptions {
        has_dockerignore,
        target: target.map(str::to_string),
    };
    lint(&df, &opts)
}

/// Rule ids found, with their lines; a trailing non-root USER keeps root-user out of the way.
fn found(src: &str) -> Vec<(usize, &'static str)> {
    let src = format!("{src}\nUSER app\n");
    lints_with(&src, true, None)
        .iter()
        .map(|l| (l.line, l.rule.id()))
        .collect()
}

fn ids(src: &str) -> Vec<&'static str> {
    found(src).into_iter().map(|(_, id)| id).collect()
}

#[test]
fn unpinned_base() {
    assert_eq!(found("FROM node"), vec![(1, "unpinned-base")]);
    assert_eq!(ids("FROM node:latest"), vec!["unpinned-base"]);
    assert_eq!(
        ids("FROM registry.local:5000/team/app"),
        vec!["unpinned-base"]
    );
    assert!(ids("FROM node:22-slim").is_empty());
    assert!(ids(&format!("FROM node@sha256:{}", "0".repeat(64))).is_empty());
    assert!(ids(&format!("FROM node:latest@sha256:{}", "0".repeat(64))).is_empty());
    assert!(ids("FROM scratch").is_empty());
    assert!(ids("FROM golang:1.22 AS build\nFROM build").is_empty());
    // ARG-expanded references are evaluated with the defaults.
    assert_eq!(ids("ARG IMG=python\nFROM ${IMG}"), vec!["unpinned-base"]);
    assert!(ids("ARG VER=3.12\nFROM python:${VER}").is_empty());
    let l = &lints_with("ARG IMG=python\nFROM $IMG\nUSER app\n", true, None)[0];
    assert!(
        l.message.contains("$IMG (python with the ARG defaults)"),
        "{}",
        l.message
    );
}

#[test]
fn apt_update_alone() {
    assert_eq!(
        found("FROM debian:12\nRUN apt-get update"),
        vec![(2, "apt-update-alone")]
    );
    assert_eq!(
        ids("FROM debian:12\nRUN apt-get -q update && apt-get upgrade -y"),
        vec!["apt-update-alone"]
    );
    assert!(ids("FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*").is_empty());
}

#[test]
fn apt_install_flags() {
    let base = "FROM debian:12\nRUN apt-get update && apt-get install";
    let clean = "&& rm -rf /var/lib/apt/lists/*";
    assert_eq!(
        ids(&format!("{base} --no-install-recommends curl {clean}")),
        vec!["apt-yes"]
    );
    assert_eq!(
        ids(&format!("{base} -y curl {clean}")),
        vec!["apt-no-recommends"]
    );
    assert_eq!(
        ids(&format!("{base} -y --no-install-recommends curl")),
        vec!["apt-lists"]
    );
    assert_eq!(
        ids(&format!("{base} curl")),
        vec!["apt-yes", "apt-no-recommends", "apt-lists"]
    );
    for yes in [
        "--yes",
        "--assume-yes",
        "-qy",
        "-yq",
        "-qq",
        "-o APT::Get::Assume-Yes=true",
    ] {
        assert!(
            ids(&format!(
                "{base} {yes} --no-install-recommends curl {clean}"
            ))
            .is_empty(),
            "{yes}"
        );
    }
    assert!(ids(&format!(
        "{base} -y -o APT::Install-Recommends=false curl {clean}"
    ))
    .is_empty());
    assert!(ids(&format!("FROM debian:12\nRUN DEBIAN_FRONTEND=noninteractive /usr/bin/apt-get -o Dpkg::Options::=--force-confold install -y --no-install-recommends x {clean}")).is_empty());
    // A cache mount keeps the lists out of the layer.
    assert!(ids("FROM debian:12\nRUN --mount=type=cache,target=/var/lib/apt/lists apt-get update && apt-get install -y --no-install-recommends x").is_empty());
    // Exec form and heredocs are read too.
    assert_eq!(ids("FROM debian:12\nRUN [\"sh\", \"-c\", \"apt-get update && apt-get install -y --no-install-recommends x\"]"), vec!["apt-lists"]);
    assert_eq!(ids("FROM debian:12\nRUN <<EOF\napt-get update\napt-get install -y x\nrm -rf /var/lib/apt/lists/*\nEOF"), vec!["apt-no-recommends"]);
    // Not apt at all.
    assert!(ids("FROM debian:12\nRUN echo apt-get install x > notes.txt").is_empty());
    assert_eq!(
        ids("FROM debian:12\nRUN sudo -E env A=1 apt-get install x"),
        vec!["apt-yes", "apt-no-recommends", "apt-lists"]
    );
    assert!(ids("FROM alpine:3.20\nRUN apk add --no-cache curl").is_empty());
}

#[test]
fn copy_whole_context_without_dockerignore() {
    let src = "FROM node:22\nWORKDIR /app\nCOPY . .\nUSER node\n";
    let l = lints_with(src, false, None);
    assert_eq!(
        l.iter().map(|l| (l.line, l.rule.id())).collect::<Vec<_>>(),
        vec![(3, "copy-context-no-ignore")]
    );
    assert!(lints_with(src, true, None).is_empty());
    for args in [
        "./ /app/",
        "* /app/",
        "/ /app/",
        "./* /app/",
        "[\".\", \"/app\"]",
    ] {
        let src = format!("FROM node:22\nCOPY {args}\nUSER node\n");
        assert_eq!(lints_with(&src, false, None).len(), 1, "{args}");
    }
    assert_eq!(
        lints_with("FROM node:22\nADD . /app\nUSER node\n", false, None).len(),
        2
    );
    assert!(lints_with(
        "FROM node:22\nCOPY src/ /app/src/\nCOPY --from=build . .\nUSER node\n",
        false,
        None
    )
    .is_empty());
}

#[test]
fn manifest_after_source() {
    assert_eq!(
        found("FROM node:22\nCOPY . .\nCOPY package.json package-lock.json ./"),
        vec![(3, "manifest-after-source")]
    );
    assert_eq!(
        ids("FROM golang:1.22\nCOPY cmd/ ./cmd/\nCOPY go.mod go.sum ./"),
        vec!["manifest-after-source"]
    );
    assert_eq!(
        ids("FROM python:3.12\nCOPY app.py .\nCOPY requirements.txt ."),
        vec!["manifest-after-source"]
    );
    assert_eq!(
        ids("FROM node:22\nCOPY src ./src\nCOPY package*.json ./"),
        vec!["manifest-after-source"]
    );
    assert_eq!(
        ids("FROM mcr.microsoft.com/dotnet/sdk:8.0\nCOPY . .\nCOPY src/Api/Api.csproj src/Api/"),
        vec!["manifest-after-source"]
    );
    // The right order, and copies in other stages or from stages, are fine.
    assert!(
        ids("FROM node:22\nCOPY package.json package-lock.json ./\nRUN npm ci\nCOPY . .")
            .is_empty()
    );
    assert!(ids(
        "FROM rust:1.80 AS a\nCOPY src src\nFROM rust:1.80\nCOPY Cargo.toml Cargo.lock ./"
    )
    .is_empty());
    assert!(ids("FROM rust:1.80\nCOPY --from=x /src /src\nCOPY Cargo.toml ./").is_empty());
    let l = &lints_with(
        "FROM node:22\nCOPY . .\nCOPY yarn.lock .\nUSER n\n",
        true,
        None,
    )[0];
    assert!(l
        .message
        .starts_with("yarn.lock is copied after the source (line 2)"));
}

#[test]
fn root_user() {
    let l = lints_with("FROM alpine:3.20\nRUN true\n", true, None);
    assert_eq!(
        l.iter().map(|l| (l.line, l.rule.id())).collect::<Vec<_>>(),
        vec![(1, "root-user")]
    );
    for root in ["root", "0", "0:0", "root:root"] {
        let l = lints_with(
            &format!("FROM alpine:3.20\nUSER app\nUSER {root}\n"),
            true,
            None,
        );
        assert_eq!(
            l.iter().map(|l| (l.line, l.rule.id())).collect::<Vec<_>>(),
            vec![(3, "root-user")],
            "{root}"
        );
    }
    assert!(lints_with(
        "FROM alpine:3.20\nUSER root\nRUN x\nUSER 10001:10001\n",
        true,
        None
    )
    .is_empty());
    // Only the final stage counts, and it inherits USER from a parent stage.
    assert!(lints_with(
        "FROM alpine:3.20 AS b\nFROM b AS c\nUSER app\nFROM c\nRUN x\n",
        true,
        None
    )
    .is_empty());
    assert!(lints_with(
        "FROM alpine:3.20 AS build\nFROM alpine:3.20\nUSER app\n",
        true,
        None
    )
    .is_empty());
    // --target picks the final stage.
    let l = lints_with(
        "FROM alpine:3.20 AS dev\nFROM alpine:3.20\nUSER app\n",
        true,
        Some("DEV"),
    );
    assert_eq!(
        l.iter().map(|l| (l.line, l.rule.id())).collect::<Vec<_>>(),
        vec![(1, "root-user")]
    );
}

#[test]
fn add_not_copy() {
    assert_eq!(
        found("FROM alpine:3.20\nADD app.conf /etc/"),
        vec![(2, "add-not-copy")]
    );
    assert!(ids("FROM alpine:3.20\nADD https://example.com/x.bin /x").is_empty());
    assert!(ids("FROM alpine:3.20\nADD rootfs.tar.gz /").is_empty());
    assert!(ids("FROM alpine:3.20\nADD git@github.com:o/r.git /src").is_empty());
    assert!(ids("FROM alpine:3.20\nADD --checksum=sha256:00 x /x").is_empty());
    assert!(ids("FROM alpine:3.20\nADD <<EOF /x\nhi\nEOF").is_empty());
    assert!(ids("FROM alpine:3.20\nCOPY app.conf /etc/").is_empty());
}

#[test]
fn secrets_in_arg_and_env() {
    assert_eq!(
        found("ARG GITHUB_TOKEN\nFROM alpine:3.20"),
        vec![(1, "secret-in-arg-env")]
    );
    for name in [
        "DB_PASSWORD",
        "db_passwd",
        "AWS_SECRET_ACCESS_KEY",
        "API_KEY",
        "apiKey",
        "STRIPE_APIKEY",
        "PRIVATE_KEY",
        "ACCESS_KEY_ID",
        "GCP_CREDENTIALS",
        "npmToken",
    ] {
        assert_eq!(
            ids(&format!("FROM alpine:3.20\nENV {name}=x")),
            vec!["secret-in-arg-env"],
            "{name}"
        );
    }
    for name in [
        "TOKENIZER_MODEL",
        "KEYBOARD",
        "PASSWORD_FILE",
        "SECRETS_DIR",
        "PUBLIC_KEY",
        "MONKEY",
    ] {
        assert!(
            ids(&format!("FROM alpine:3.20\nARG {name}=x")).is_empty(),
            "{name}"
        );
    }
    assert_eq!(
        ids("FROM alpine:3.20\nENV DB_PASSWORD hunter2"),
        vec!["secret-in-arg-env"]
    );
    assert_eq!(
        ids("FROM alpine:3.20\nARG A=1 API_TOKEN B"),
        vec!["secret-in-arg-env"]
    );
}

#[test]
fn rendering_and_summary() {
    let l = lints_with("FROM debian:12\nRUN apt-get update && apt-get install -y x && rm -rf /var/lib/apt/lists/*\nUSER app\n", true, None);
    assert_eq!(
        render(&l[0]),
        "Dockerfile:2: warning[apt-no-recommends]: apt-get install without --no-install-recommends pulls packages you did not ask for; add --no-install-recommends"
    );
    let l = lints_with("FROM node\nADD a b\n", true, None);
    let s = summary(&l);
    assert_eq!(s.total, 3);
    assert_eq!(
        s.to_string(),
        "3 warnings (add-not-copy: 1, root-user: 1, unpinned-base: 1)"
    );
    let text = render_all(&l);
    assert_eq!(text.lines().count(), 4);
    assert!(text.ends_with("3 warnings (add-not-copy: 1, root-user: 1, unpinned-base: 1)\n"));
    assert_eq!(summary(&[]).to_string(), "no warnings");
    assert_eq!(
        Rule::ALL
            .iter()
            .map(|r| r.id())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        10
    );
    let e = lint_source("Dockerfile", "FORM x\n", &LintOptions::default()).unwrap_err();
    assert!(e
        .to_string()
        .starts_with("Dockerfile:1:1: unknown instruction"));
}
