//! The rules other than apt's, over a light view of the stages (the linter must work on
//! files whose stage graph does not evaluate).

use super::apt;
use super::{Lint, LintOptions, Rule};
use crate::dockerignore::{clean, Glob};
use crate::expand::{expand_word, lookup_in};
use crate::parse::{CopyInstr, Dockerfile, FromInstr, Instruction, InstructionKind};
use crate::stages::{BuildOptions, ImageRef};

/// Dependency manifests: copying these first lets the install step stay cached.
const MANIFESTS: &[&str] = &[
    "package.json",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "requirements.txt",
    "Pipfile",
    "Pipfile.lock",
    "poetry.lock",
    "pyproject.toml",
    "go.mod",
    "go.sum",
    "Cargo.toml",
    "Cargo.lock",
    "Gemfile",
    "Gemfile.lock",
    "pom.xml",
    "build.gradle",
    "composer.json",
    "app.csproj",
];

/// Secret-looking name parts, alone or as two consecutive parts.
const SECRET_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "APIKEY",
    "CREDENTIALS",
    "CREDENTIAL",
];
const SECRET_PAIRS: &[(&str, &str)] = &[("API", "KEY"), ("PRIVATE", "KEY"), ("ACCESS", "KEY")];

/// Archives ADD extracts (so ADD is the right instruction for them).
const ARCHIVES: &[&str] = &[
    ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz", ".tar.zst", ".tzst",
    ".gz", ".bz2", ".xz",
];

struct StageView<'a> {
    from_line: usize,
    alias: Option<String>,
    parent: Option<usize>,
    instructions: Vec<&'a Instruction>,
}

struct Ctx<'a> {
    file: &'a str,
    out: Vec<Lint>,
}

impl Ctx<'_> {
    fn warn(&mut self, line: usize, rule: Rule, message: String, fix: String) {
        let file = self.file.to_string();
        self.out.push(Lint {
            file,
            line,
            rule,
            message,
            fix,
        });
    }
}

/// Runs every rule.
pub(crate) fn check(df: &Dockerfile, opts: &LintOptions) -> Vec<Lint> {
    let mut cx = Ctx {
        file: &df.file,
        out: Vec::new(),
    };
    let mut meta: Vec<(String, String)> = BuildOptions::default().platform_args();
    let mut stages: Vec<StageView> = Vec::new();
    for ins in &df.instructions {
        match &ins.kind {
            InstructionKind::From(f) => {
                let image = expand_word(&f.image, df.directives.escape, &lookup_in(&meta)).ok();
                let lower = image.as_deref().map(str::to_ascii_lowercase);
                let parent = stages
                    .iter()
                    .position(|s| s.alias.is_some() && s.alias == lower);
                if parent.is_none() {
                    unpinned_base(&mut cx, ins.line, f, image.as_deref());
                }
                stages.push(StageView {
                    from_line: ins.line,
                    alias: f.alias.clone(),
                    parent,
                    instructions: Vec::new(),
                });
            }
            _ => match stages.last_mut() {
                Some(s) => s.instructions.push(ins),
                None => {
                    if let InstructionKind::Arg(decls) = &ins.kind {
                        for d in decls {
                            let v = d
                                .default
                                .as_deref()
                                .map(|v| expand_word(v, df.directives.escape, &lookup_in(&meta)));
                            if let Some(Ok(v)) = v {
                                meta.push((d.name.clone(), v));
                            }
                        }
                    }
                }
            },
        }
        match &ins.kind {
            InstructionKind::Arg(decls) => {
                for d in decls {
                    secret(&mut cx, ins.line, "ARG", &d.name);
                }
            }
            InstructionKind::Env(kvs) => {
                for kv in kvs {
                    secret(&mut cx, ins.line, "ENV", &kv.key);
                }
            }
            InstructionKind::Run(r) => {
                for (rule, message, fix) in apt::findings(r) {
                    cx.warn(ins.line, rule, message, fix);
                }
            }
            InstructionKind::Add(c) => add_not_copy(&mut cx, ins.line, c),
            _ => {}
        }
    }
    for s in &stages {
        copies(&mut cx, s, opts.has_dockerignore);
    }
    root_user(&mut cx, &stages, opts.target.as_deref());
    cx.out
}

fn unpinned_base(cx: &mut Ctx, line: usize, f: &FromInstr, image: Option<&str>) {
    let Some(image) = image.filter(|i| !i.eq_ignore_ascii_case("scratch")) else {
        return;
    };
    let Ok(r) = ImageRef::parse(image) else {
        return;
    };
    if r.is_digest_pinned() || r.tag.as_deref().is_some_and(|t| t != "latest") {
        return;
    }
    let shown = if f.image == image {
        image.to_string()
    } else {
        format!("{} ({image} with the ARG defaults)", f.image)
    };
    let what = if r.tag.is_some() {
        "is tagged latest".to_string()
    } else {
        "has no tag, so it means latest".to_string()
    };
    let name = match &r.domain {
        Some(d) => format!("{d}/{}", r.path),
        None => r.path.clone(),
    };
    cx.warn(
        line,
        Rule::UnpinnedBase,
        format!("base image {shown} {what}, which moves under you and makes builds unrepeatable"),
        format!("pin a version tag or a digest, e.g. {name}:<version> or {name}@sha256:<digest>"),
    );
}

/// Splits a name into upper-case parts on non-alphanumerics and lower-to-upper case changes.
fn name_parts(name: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            parts.push(String::new());
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower {
            parts.push(String::new());
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        parts
            .last_mut()
            .expect("never empty")
            .push(c.to_ascii_uppercase());
    }
    parts.retain(|p| !p.is_empty());
    parts
}

/// True for a name that looks like it holds a secret (not a path to one).
pub(crate) fn is_secret_name(name: &str) -> bool {
    let parts = name_parts(name);
    if parts
        .last()
        .is_some_and(|p| matches!(p.as_str(), "FILE" | "PATH" | "DIR"))
    {
        return false;
    }
    parts.iter().any(|p| SECRET_WORDS.contains(&p.as_str()))
        || parts
            .windows(2)
            .any(|w| SECRET_PAIRS.contains(&(w[0].as_str(), w[1].as_str())))
}

fn secret(cx: &mut Ctx, line: usize, what: &str, name: &str) {
    if is_secret_name(name) {
        cx.warn(
            line,
            Rule::SecretInArgEnv,
            format!("{what} {name} looks like a secret, and {what} values stay readable in the image's history and config"),
            format!("pass it with RUN --mount=type=secret,id={} and read it from /run/secrets", name.to_ascii_lowercase()),
        );
    }
}

/// The sources that come from the context (not heredocs).
fn local_sources(c: &CopyInstr) -> impl Iterator<Item = &String> {
    let is_heredoc = |s: &String| {
        !c.heredocs.is_empty()
            && s.trim_start_matches(|ch: char| ch.is_ascii_digit())
                .starts_with("<<")
    };
    c.sources.iter().filter(move |s| !is_heredoc(s))
}

fn add_not_copy(cx: &mut Ctx, line: usize, c: &CopyInstr) {
    let remote_or_archive = |s: &String| {
        let lower = s.to_ascii_lowercase();
        s.contains("://")
            || s.starts_with("git@")
            || s.contains('$')
            || ARCHIVES.iter().any(|a| lower.ends_with(a))
    };
    if c.checksum.is_some()
        || c.sources.iter().any(remote_or_archive)
        || local_sources(c).next().is_none()
    {
        return;
    }
    cx.warn(
        line,
        Rule::AddNotCopy,
        "ADD of a local file or directory only copies it, and ADD's URL fetching and archive extraction make readers look twice".into(),
        "use COPY".into(),
    );
}

fn is_whole_context(src: &str) -> bool {
    matches!(clean(src).as_str(), "." | "/" | "*" | "./*")
}

fn is_manifest(src: &str) -> bool {
    let trimmed = src.trim_end_matches('/');
    let base = trimmed.rsplit('/').next().unwrap_or(trimmed);
    if is_whole_context(src) || base.contains('$') {
        return false;
    }
    if base.contains(['*', '?', '[']) {
        return Glob::new(base).is_ok_and(|g| MANIFESTS.iter().any(|m| g.matches(m)));
    }
    MANIFESTS.contains(&base) || base.ends_with(".csproj")
}

fn copies(cx: &mut Ctx, stage: &StageView, has_ignore: bool) {
    let mut source_copy: Option<usize> = None;
    for ins in &stage.instructions {
        let (name, c) = match &ins.kind {
            InstructionKind::Copy(c) => ("COPY", c),
            InstructionKind::Add(c) => ("ADD", c),
            _ => continue,
        };
        if c.from.is_some() {
            continue;
        }
        let sources: Vec<&String> = local_sources(c).collect();
        if !has_ignore {
            if let Some(s) = sources.iter().find(|s| is_whole_context(s)) {
                cx.warn(
                    ins.line,
                    Rule::CopyContextNoIgnore,
                    format!("{name} {s} copies the whole build context and there is no .dockerignore, so .git, local secrets and build output land in the image and any change busts the cache"),
                    "add a .dockerignore that leaves them out".into(),
                );
            }
        }
        if let (Some(earlier), Some(m)) = (source_copy, sources.iter().find(|s| is_manifest(s))) {
            cx.warn(
                ins.line,
                Rule::ManifestAfterSource,
                format!("{m} is copied after the source (line {earlier}), so every source change invalidates the dependency install"),
                "copy the dependency manifests and install dependencies before copying the rest of the source".into(),
            );
        }
        if source_copy.is_none() && sources.iter().any(|s| !is_manifest(s)) {
            source_copy = Some(ins.line);
        }
    }
}

fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or(user);
    name == "root" || name == "0"
}

fn root_user(cx: &mut Ctx, stages: &[StageView], target: Option<&str>) {
    let target = target.map(str::to_ascii_lowercase);
    let found = match &target {
        Some(t) => stages
            .iter()
            .position(|s| s.alias.as_deref() == Some(t.as_str())),
        None => stages.len().checked_sub(1),
    };
    let Some(final_index) = found else {
        return;
    };
    let mut at = Some(final_index);
    while let Some(i) = at {
        let last_user = stages[i]
            .instructions
            .iter()
            .rev()
            .find_map(|ins| match &ins.kind {
                InstructionKind::User(u) => Some((ins.line, u)),
                _ => None,
            });
        match last_user {
            Some((_, u)) if !is_root(u) => return,
            Some((line, u)) => {
                cx.warn(
                    line,
                    Rule::RootUser,
                    format!("the final stage runs as {u}, so a compromise of the process is root in the container"),
                    "switch to an unprivileged USER (e.g. USER 10001) at the end of the final stage".into(),
                );
                return;
            }
            None => at = stages[i].parent,
        }
    }
    cx.warn(
        stages[final_index].from_line,
        Rule::RootUser,
        "the final stage has no USER, so it runs as root".into(),
        "add an unprivileged USER (e.g. USER 10001) at the end of the final stage".into(),
    );
}
