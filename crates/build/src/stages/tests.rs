//! Stage graph tests: names, ARG scoping, dependencies, pruning and waves.

use std::collections::BTreeMap;

use super::*;
use crate::parse::parse;

fn opts(args: &[(&str, &str)]) -> BuildOptions {
    BuildOptions {
        build_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        target_platform: Platform::parse("linux/arm64/v8").unwrap(),
        build_platform: Platform::parse("linux/amd64").unwrap(),
    }
}

fn graph_with(src: &str, args: &[(&str, &str)]) -> Result<StageGraph, StageError> {
    StageGraph::new(&parse("Dockerfile", src).unwrap(), &opts(args))
}

fn graph(src: &str) -> StageGraph {
    graph_with(src, &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn env(s: &Stage, k: &str) -> Option<String> {
    s.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

#[test]
fn stages_by_index_and_case_insensitive_name() {
    let g = graph(
        "FROM golang:1.22 AS Build\nRUN go build\nFROM alpine:3.20\nCOPY --from=BUILD /out /app\n",
    );
    assert_eq!(g.stages.len(), 2);
    assert_eq!(g.stages[0].name.as_deref(), Some("build"));
    assert_eq!(g.by_name("bUiLd").unwrap().index, 0);
    assert_eq!(g.stages[1].label(), "1");
    assert_eq!(g.stages[0].instructions.len(), 1);
    assert_eq!(g.stages[1].dependencies[0].source, Source::Stage(0));
    assert_eq!(g.stages[1].dependencies[0].line, 4);
}

#[test]
fn meta_args_only_in_from_unless_redeclared() {
    let src = "ARG BASE=alpine\nARG VER=3.20\nFROM ${BASE}:${VER}\nENV A=\"v=$VER\"\nFROM ${BASE}:${VER} AS two\nARG VER\nENV A=\"v=$VER\"\n";
    let g = graph(src);
    assert_eq!(
        g.meta_args,
        vec![
            ("BASE".into(), "alpine".into()),
            ("VER".into(), "3.20".into())
        ]
    );
    assert_eq!(g.stages[0].base, Base::Image("alpine:3.20".into()));
    assert_eq!(env(&g.stages[0], "A").as_deref(), Some("v="));
    assert_eq!(env(&g.stages[1], "A").as_deref(), Some("v=3.20"));
}

#[test]
fn build_args_override_defaults() {
    let src = "ARG VER=3.20\nFROM alpine:$VER\nARG MODE=debug\nARG VER\nENV M=$MODE V=$VER\n";
    let g = graph_with(src, &[("VER", "3.19"), ("MODE", "release"), ("NOPE", "x")]).unwrap();
    assert_eq!(g.stages[0].base, Base::Image("alpine:3.19".into()));
    assert_eq!(env(&g.stages[0], "M").as_deref(), Some("release"));
    assert_eq!(env(&g.stages[0], "V").as_deref(), Some("3.19"));
    assert_eq!(g.unused_build_args, vec!["NOPE".to_string()]);
}

#[test]
fn arg_defaults_see_earlier_args_and_env_wins() {
    let src =
        "FROM alpine\nARG A=1\nARG B=${A}2\nENV A=env\nARG A=3\nENV C=$A D=$B\nENV A=x E=$A\n";
    let g = graph(src);
    let s = &g.stages[0];
    assert_eq!(env(s, "D").as_deref(), Some("12"));
    assert_eq!(env(s, "C").as_deref(), Some("env"));
    // Values on one ENV line see the variables as they were before the line.
    assert_eq!(env(s, "E").as_deref(), Some("env"));
}

#[test]
fn predefined_platform_and_proxy_args() {
    let src = "FROM --platform=$BUILDPLATFORM golang AS b\nENV NOT=\"[$TARGETARCH]\"\nARG TARGETARCH\nARG TARGETVARIANT\nENV T=$TARGETARCH/$TARGETVARIANT P=$HTTP_PROXY\n";
    let g = graph_with(src, &[("HTTP_PROXY", "http://proxy:3128")]).unwrap();
    let s = &g.stages[0];
    assert_eq!(s.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(env(s, "NOT").as_deref(), Some("[]"));
    assert_eq!(env(s, "T").as_deref(), Some("arm64/v8"));
    assert_eq!(env(s, "P").as_deref(), Some("http://proxy:3128"));
    assert!(g.unused_build_args.is_empty());
    let names: Vec<String> = opts(&[])
        .platform_args()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for n in [
        "TARGETPLATFORM",
        "TARGETOS",
        "TARGETARCH",
        "TARGETVARIANT",
        "BUILDPLATFORM",
        "BUILDOS",
        "BUILDARCH",
    ] {
        assert!(names.contains(&n.to_string()), "{n}");
    }
}

#[test]
fn child_stage_inherits_env_and_user_not_args() {
    let g = graph("FROM alpine AS base\nARG X=1\nENV Y=2\nUSER app\nFROM base\nENV Z=\"$X-$Y\"\n");
    assert_eq!(g.stages[1].base, Base::Stage(0));
    assert_eq!(env(&g.stages[1], "Z").as_deref(), Some("-2"));
    assert_eq!(g.stages[1].user.as_deref(), Some("app"));
}

#[test]
fn dependency_kinds() {
    let src = "FROM rust:1.80 AS deps\nFROM deps AS build\nRUN --mount=type=bind,from=deps,source=/x,target=/y --mount=type=cache,target=/c true\nFROM scratch\nCOPY --from=1 /a /a\nCOPY --from=nginx:1.27 /etc/nginx /etc/nginx\nCOPY --from=builder /b /b\nARG S=build\nCOPY --from=$S /c /c\n";
    let g = graph(src);
    assert_eq!(g.stages[2].base, Base::Scratch);
    let b = &g.stages[1].dependencies;
    assert_eq!(
        (b[0].kind, &b[0].source),
        (DependencyKind::Base, &Source::Stage(0))
    );
    assert_eq!(
        (b[1].kind, &b[1].source, b[1].line),
        (DependencyKind::MountFrom, &Source::Stage(0), 3)
    );
    let d: Vec<&Source> = g.stages[2].dependencies.iter().map(|d| &d.source).collect();
    assert_eq!(
        d,
        vec![
            &Source::Stage(1),
            &Source::Image("nginx:1.27".into()),
            &Source::Image("builder".into()),
            &Source::Stage(1),
        ]
    );
    assert_eq!(g.stages[2].stage_dependencies(), vec![1]);
}

#[test]
fn onbuild_triggers_of_the_parent_add_dependencies() {
    let g = graph(
        "FROM alpine AS assets\nFROM alpine AS tmpl\nONBUILD COPY --from=assets /a /a\nFROM tmpl\n",
    );
    assert_eq!(g.stages[2].stage_dependencies(), vec![0, 1]);
    assert_eq!(g.stages[2].dependencies[1].line, 3);
}

#[test]
fn stage_errors() {
    let e = |src: &str| graph_with(src, &[]).unwrap_err().to_string();
    assert_eq!(
        e("FROM a\nFROM b\nCOPY --from=1 /x /y\n"),
        "Dockerfile:3: invalid --from=1: stage index must be lower than the current stage's (1)"
    );
    assert_eq!(
        e("FROM a AS me\nCOPY --from=me /x /y\n"),
        "Dockerfile:2: circular dependency detected on stage: me"
    );
    assert!(e("FROM a\nCOPY --from=Not_A_Ref! /x /y\n")
        .starts_with("Dockerfile:2: invalid reference format"));
    assert_eq!(
        e("FROM a AS x\nFROM b AS X\n"),
        "Dockerfile:2: duplicate stage name \"x\""
    );
    assert_eq!(
        e("ARG B\nFROM $B\n"),
        "Dockerfile:2: base name ($B) should not be blank"
    );
    assert_eq!(
        e("FROM ${B:?required}\n"),
        "Dockerfile:1: FROM: B: required"
    );
    let g = graph("FROM a\n");
    assert_eq!(
        g.build_order(Some("nope")).unwrap_err().to_string(),
        "Dockerfile: target stage \"nope\" could not be found"
    );
}

#[test]
fn forward_references_that_loop_are_circular() {
    let g = graph(
        "FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\nCOPY --from=one /y /y\nFROM c\n",
    );
    assert_eq!(g.build_order(None).unwrap(), vec![2]);
    assert_eq!(
        g.build_order(Some("two")).unwrap_err().to_string(),
        "Dockerfile:3: circular dependency detected on stage: two"
    );
}

const DIAMOND: &str = "\
FROM alpine AS base
FROM base AS web
FROM base AS api
FROM golang AS tools
FROM alpine AS docs
FROM scratch AS final
COPY --from=web /w /w
COPY --from=api /a /a
COPY --from=tools /t /t
";

#[test]
fn target_prunes_and_orders() {
    let g = graph(DIAMOND);
    assert_eq!(g.build_order(None).unwrap(), vec![0, 1, 2, 3, 5]);
    assert_eq!(g.build_order(Some("api")).unwrap(), vec![0, 2]);
    assert_eq!(g.build_order(Some("DOCS")).unwrap(), vec![4]);
    let g = graph("FROM a AS x\nFROM b AS y\nFROM y AS z\nCOPY --from=x /a /a\n");
    assert_eq!(g.build_order(None).unwrap(), vec![0, 1, 2]);
}

#[test]
fn waves_group_parallel_stages() {
    let g = graph(DIAMOND);
    assert_eq!(
        g.waves(None).unwrap(),
        vec![vec![0, 3], vec![1, 2], vec![5]]
    );
    assert_eq!(g.waves(Some("web")).unwrap(), vec![vec![0], vec![1]]);
    let g = graph("FROM a\nFROM b\n");
    assert_eq!(g.waves(None).unwrap(), vec![vec![1]]);
}

#[test]
fn platform_parse_and_display() {
    assert_eq!(
        Platform::parse("linux/arm/v7").unwrap().to_string(),
        "linux/arm/v7"
    );
    assert_eq!(Platform::parse("linux/amd64").unwrap().variant, "");
    assert!(Platform::parse("linux").is_none());
    assert!(!Platform::host().arch.is_empty());
}
