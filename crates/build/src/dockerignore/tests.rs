//! `.dockerignore` tests: one per rule.

use std::path::{Path, PathBuf};

use super::*;

fn ig(text: &str) -> DockerIgnore {
    DockerIgnore::parse(".dockerignore", text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn comments_and_blank_lines() {
    let d = ig("# comment\n\n   \nsecret.txt\n  # not a comment\n");
    let pats: Vec<_> = d.patterns().collect();
    assert_eq!(
        pats,
        vec![("secret.txt", false), ("# not a comment", false)]
    );
    assert!(d.is_excluded("secret.txt"));
    assert!(!d.is_excluded("comment"));
}

#[test]
fn patterns_are_cleaned_and_rooted() {
    let d = ig("/build/\n./dist//x/../y\n  tmp  \n");
    let pats: Vec<_> = d.patterns().map(|(p, _)| p).collect();
    assert_eq!(pats, vec!["build", "dist/y", "tmp"]);
    assert!(d.is_excluded("build"));
    assert!(d.is_excluded("/build/out.bin"));
    assert!(d.is_excluded("./dist/y/z"));
    assert!(!d.is_excluded("dist/x"));
    assert!(!d.is_excluded("src/build"));
}

#[test]
fn parent_directories_match() {
    let d = ig("node_modules\n");
    assert!(d.is_excluded("node_modules/left-pad/index.js"));
    assert!(!d.is_excluded("web/node_modules/x"));
}

#[test]
fn wildcards() {
    let d = ig("*.md\ndocs/?.txt\nlogs/[0-9]*\n");
    assert!(d.is_excluded("README.md"));
    assert!(!d.is_excluded("docs/guide.md"));
    assert!(d.is_excluded("docs/a.txt"));
    assert!(!d.is_excluded("docs/ab.txt"));
    assert!(d.is_excluded("logs/2024-01.log"));
    assert!(!d.is_excluded("logs/today.log"));
}

#[test]
fn double_star_spans_directories() {
    let d = ig("**/*.log\n**/target\n");
    assert!(d.is_excluded("a.log"));
    assert!(d.is_excluded("x/y/z.log"));
    assert!(d.is_excluded("crates/os/target/debug/x"));
    assert!(d.is_excluded("target"));
    assert!(!d.is_excluded("src/log.rs"));
}

#[test]
fn last_matching_pattern_wins() {
    let d = ig("*.md\n!README.md\n");
    assert!(d.is_excluded("CHANGELOG.md"));
    assert!(!d.is_excluded("README.md"));
    let d = ig("!README.md\n*.md\n");
    assert!(d.is_excluded("README.md"));
    let d = ig("*\n!src\n!Cargo.toml\nsrc/generated\n");
    assert!(d.is_excluded("target"));
    assert!(!d.is_excluded("src/main.rs"));
    assert!(!d.is_excluded("Cargo.toml"));
    assert!(d.is_excluded("src/generated/x.rs"));
}

#[test]
fn exception_re_includes_under_excluded_directory() {
    let d = ig("docs\n!docs/keep.md\n");
    assert!(d.is_excluded("docs"));
    assert!(d.is_excluded("docs/other.md"));
    assert!(!d.is_excluded("docs/keep.md"));
    assert!(d.must_walk("docs"));
    assert!(!d.must_walk("docs/sub"));
}

#[test]
fn must_walk_decisions() {
    let d = ig("node_modules\n");
    assert!(!d.must_walk("node_modules"));
    assert!(d.must_walk("src"));
    let d = ig("vendor\n!vendor/*/LICENSE\n");
    assert!(d.must_walk("vendor"));
    assert!(d.must_walk("vendor/pkg"));
    assert!(!d.must_walk("vendor/pkg/sub"));
    assert!(!d.is_excluded("vendor/pkg/LICENSE"));
    let d = ig("build\n!**/keep\n");
    assert!(d.must_walk("build"));
    assert!(!d.is_excluded("build/a/b/keep"));
    let d = ig("build\n!other/x\n");
    assert!(!d.must_walk("build"));
    assert!(!ig("a\n").has_exceptions());
    assert!(d.has_exceptions());
}

#[test]
fn errors_name_file_and_line() {
    let e = DockerIgnore::parse(".dockerignore", "ok\n!\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        ".dockerignore:2: illegal exclusion pattern: \"!\""
    );
    let e = DockerIgnore::parse(".dockerignore", "# c\nfile[0-9\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with(".dockerignore:2: missing closing ]"),
        "{e}"
    );
}

#[test]
fn candidates_in_precedence_order() {
    let c = ignore_file_candidates(Path::new("/ctx"), Path::new("build/Containerfile"));
    assert_eq!(
        c,
        vec![
            PathBuf::from("/ctx/build/Containerfile.dockerignore"),
            PathBuf::from("/ctx/.containerignore"),
            PathBuf::from("/ctx/.dockerignore"),
        ]
    );
    let both = |p: &Path| p.ends_with("Containerfile.dockerignore") || p.ends_with(".dockerignore");
    let got = select_ignore_file_with(Path::new("/ctx"), Path::new("/df/Containerfile"), both);
    assert_eq!(got, Some(PathBuf::from("/df/Containerfile.dockerignore")));
    let only_root = |p: &Path| p == Path::new("/ctx/.dockerignore");
    let got = select_ignore_file_with(Path::new("/ctx"), Path::new("Dockerfile"), only_root);
    assert_eq!(got, Some(PathBuf::from("/ctx/.dockerignore")));
    assert_eq!(
        select_ignore_file_with(Path::new("/ctx"), Path::new("Dockerfile"), |_| false),
        None
    );
}

/// A temporary directory removed on drop, even when the test fails.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn selects_and_loads_from_the_filesystem() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = TempDir(std::env::temp_dir().join(format!(
        "strata-build-ignore-{}-{nanos}",
        std::process::id()
    )));
    std::fs::create_dir_all(&dir.0).unwrap();
    assert_eq!(select_ignore_file(&dir.0, Path::new("Containerfile")), None);
    std::fs::write(dir.0.join(".dockerignore"), "target\n").unwrap();
    assert_eq!(
        select_ignore_file(&dir.0, Path::new("Containerfile")),
        Some(dir.0.join(".dockerignore"))
    );
    std::fs::write(
        dir.0.join("Containerfile.dockerignore"),
        "*.log\n!keep.log\n",
    )
    .unwrap();
    let chosen = select_ignore_file(&dir.0, Path::new("Containerfile")).unwrap();
    assert_eq!(chosen, dir.0.join("Containerfile.dockerignore"));
    let d = DockerIgnore::load(&chosen).unwrap();
    assert!(d.is_excluded("a.log") && !d.is_excluded("keep.log") && !d.is_excluded("target"));
    let e = DockerIgnore::load(&dir.0.join("missing")).unwrap_err();
    assert!(matches!(e, IgnoreError::Io { .. }));
}
