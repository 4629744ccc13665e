//! Parses every Dockerfile of `tests/corpus/`, evaluates its stages and checks the lints
//! each one is expected to raise (and no others).

use std::collections::BTreeSet;
use std::path::PathBuf;

use strata_build::lint::{lint, render_all, LintOptions, Rule};
use strata_build::parse::{parse, Dockerfile, InstructionKind};
use strata_build::stages::{BuildOptions, StageGraph};

struct Case {
    file: &'static str,
    has_dockerignore: bool,
    target: Option<&'static str>,
    /// `(line, rule id)`, in the order the linter reports them.
    lints: &'static [(usize, &'static str)],
    /// Stages built for the target, in order.
    order: &'static [usize],
    /// The waves of those stages.
    waves: &'static [&'static [usize]],
}

const CASES: &[Case] = &[
    Case {
        file: "go-multistage.Dockerfile",
        has_dockerignore: true,
        target: None,
        lints: &[],
        order: &[0, 2],
        waves: &[&[0], &[2]],
    },
    Case {
        file: "go-multistage.Dockerfile",
        has_dockerignore: true,
        target: Some("test"),
        lints: &[(20, "root-user")],
        order: &[0, 1],
        waves: &[&[0], &[1]],
    },
    Case {
        file: "rust-multistage.Dockerfile",
        has_dockerignore: true,
        target: None,
        lints: &[],
        order: &[0, 1, 2],
        waves: &[&[0], &[1], &[2]],
    },
    Case {
        file: "node-app.Dockerfile",
        has_dockerignore: true,
        target: None,
        lints: &[],
        order: &[0, 1, 2],
        waves: &[&[0, 1], &[2]],
    },
    Case {
        file: "heredocs.Dockerfile",
        has_dockerignore: false,
        target: None,
        lints: &[],
        order: &[0],
        waves: &[&[0]],
    },
    Case {
        file: "onbuild.Dockerfile",
        has_dockerignore: true,
        target: None,
        lints: &[],
        order: &[0, 1],
        waves: &[&[0], &[1]],
    },
    Case {
        file: "windows-escape.Dockerfile",
        has_dockerignore: false,
        target: None,
        lints: &[],
        order: &[0],
        waves: &[&[0]],
    },
    Case {
        file: "bad-practices.Dockerfile",
        has_dockerignore: false,
        target: None,
        lints: &[
            (1, "unpinned-base"),
            (1, "root-user"),
            (2, "secret-in-arg-env"),
            (3, "secret-in-arg-env"),
            (4, "apt-update-alone"),
            (5, "apt-yes"),
            (5, "apt-no-recommends"),
            (5, "apt-lists"),
            (7, "copy-context-no-ignore"),
            (8, "manifest-after-source"),
            (10, "add-not-copy"),
        ],
        order: &[0],
        waves: &[&[0]],
    },
    Case {
        file: "python-targets.Dockerfile",
        has_dockerignore: false,
        target: None,
        lints: &[
            (10, "copy-context-no-ignore"),
            (16, "copy-context-no-ignore"),
            (20, "copy-context-no-ignore"),
        ],
        order: &[0, 2, 4],
        waves: &[&[0], &[2], &[4]],
    },
    Case {
        file: "python-targets.Dockerfile",
        has_dockerignore: true,
        target: Some("debug"),
        lints: &[(21, "root-user")],
        order: &[0, 3],
        waves: &[&[0], &[3]],
    },
    Case {
        file: "python-targets.Dockerfile",
        has_dockerignore: true,
        target: Some("lint"),
        lints: &[(8, "root-user")],
        order: &[0, 1],
        waves: &[&[0], &[1]],
    },
];

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn load(file: &str) -> Dockerfile {
    let text = std::fs::read_to_string(corpus_dir().join(file)).unwrap();
    parse(file, &text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_corpus_file_is_covered() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let covered: BTreeSet<String> = CASES.iter().map(|c| c.file.to_string()).collect();
    assert_eq!(on_disk, covered);
    assert!(on_disk.len() >= 8);
}

#[test]
fn corpus_lints_stages_and_waves() {
    for case in CASES {
        let df = load(case.file);
        let opts = LintOptions {
            has_dockerignore: case.has_dockerignore,
            target: case.target.map(str::to_string),
        };
        let lints = lint(&df, &opts);
        let got: Vec<(usize, &str)> = lints.iter().map(|l| (l.line, l.rule.id())).collect();
        assert_eq!(
            got,
            case.lints,
            "{} (target {:?}):\n{}",
            case.file,
            case.target,
            render_all(&lints)
        );
        for l in &lints {
            let line = l.to_string();
            assert!(
                line.starts_with(&format!("{}:{}: warning[", case.file, l.line)),
                "{line}"
            );
        }
        let graph =
            StageGraph::new(&df, &BuildOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            graph.build_order(case.target).unwrap(),
            case.order,
            "{}",
            case.file
        );
        let waves: Vec<Vec<usize>> = case.waves.iter().map(|w| w.to_vec()).collect();
        assert_eq!(graph.waves(case.target).unwrap(), waves, "{}", case.file);
    }
}

#[test]
fn bad_practices_triggers_every_rule() {
    let df = load("bad-practices.Dockerfile");
    let lints = lint(&df, &LintOptions::default());
    let rules: BTreeSet<Rule> = lints.iter().map(|l| l.rule).collect();
    assert_eq!(rules, Rule::ALL.into_iter().collect());
}

#[test]
fn corpus_details() {
    let go = load("go-multistage.Dockerfile");
    assert_eq!(
        go.directives.syntax.as_deref(),
        Some("docker/dockerfile:1.7")
    );
    let g = StageGraph::new(&go, &BuildOptions::default()).unwrap();
    assert_eq!(g.meta_args.len(), 2);
    assert_eq!(
        g.stages[0].platform.as_deref(),
        Some(BuildOptions::default().build_platform.to_string().as_str())
    );
    assert_eq!(
        format!("{:?}", g.stages[2].base),
        "Image(\"gcr.io/distroless/static-debian12:nonroot\")"
    );

    let hd = load("heredocs.Dockerfile");
    let InstructionKind::Copy(c) = &hd.instructions[2].kind else {
        panic!()
    };
    assert_eq!(
        c.heredocs[0].content,
        "server {\n    listen 8080;\n    root /srv/www;\n}\n"
    );
    assert!(!c.heredocs[0].expand);
    let InstructionKind::Run(r) = &hd.instructions[3].kind else {
        panic!()
    };
    assert_eq!(r.heredocs.len(), 2);
    assert_eq!(hd.instructions[3].line, 15);
    assert_eq!(hd.instructions[4].line, 20);

    let win = load("windows-escape.Dockerfile");
    assert_eq!(win.directives.escape, '`');
    let InstructionKind::Run(r) = &win.instructions[3].kind else {
        panic!()
    };
    assert_eq!(
        format!("{:?}", r.command),
        "Shell(\"New-Item -ItemType Directory -Path C:\\\\data ;     Write-Host \\\"created C:\\\\data\\\"\")"
    );
    let InstructionKind::Volume(v) = &win.instructions[5].kind else {
        panic!()
    };
    assert_eq!(v, &vec!["C:\\data".to_string()]);

    let ob = load("onbuild.Dockerfile");
    let triggers = ob
        .instructions
        .iter()
        .filter(|i| matches!(i.kind, InstructionKind::Onbuild(_)))
        .count();
    assert_eq!(triggers, 3);
}
