//! The apt-get rules: update alone, install without -y, without
//! --no-install-recommends, or without removing /var/lib/apt/lists.

use super::shell::{program, run_script, simple_commands};
use super::Rule;
use crate::parse::{MountType, RunInstr};

/// What one RUN does with apt.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct AptUse {
    pub update: bool,
    pub install: bool,
    pub install_without_yes: bool,
    pub install_without_no_recommends: bool,
    pub removes_lists: bool,
}

/// Options of apt-get that take the next word as their value.
const OPTIONS_WITH_VALUE: &[&str] = &[
    "-o",
    "-t",
    "-c",
    "--option",
    "--target-release",
    "--config-file",
];

fn says_yes(w: &str) -> bool {
    let lower = w.to_ascii_lowercase();
    matches!(w, "-y" | "--yes" | "--assume-yes" | "-qq" | "--force-yes")
        || (w.starts_with('-')
            && !w.starts_with("--")
            && w[1..].chars().all(|c| c.is_ascii_alphabetic())
            && w.contains('y'))
        || lower.contains("assume-yes=true")
        || lower.contains("assume-yes=1")
}

fn no_recommends(w: &str) -> bool {
    let lower = w.to_ascii_lowercase();
    w == "--no-install-recommends"
        || lower.contains("install-recommends=false")
        || lower.contains("install-recommends=0")
}

/// Programs that run the command that follows them.
const WRAPPERS: &[&str] = &[
    "sudo",
    "env",
    "command",
    "exec",
    "nice",
    "nohup",
    "time",
    "eatmydata",
];

/// The index of the program a simple command runs: after `NAME=value` assignments,
/// wrappers such as `sudo` or `env`, and their options.
fn command_word(cmd: &[String]) -> Option<usize> {
    let mut i = 0;
    while let Some(w) = cmd.get(i) {
        let assignment = w.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if assignment || w.starts_with('-') || WRAPPERS.contains(&program(w)) {
            i += 1;
        } else {
            return Some(i);
        }
    }
    None
}

/// Reads the apt use of a RUN.
pub(crate) fn analyse(run: &RunInstr) -> AptUse {
    let mut use_ = AptUse::default();
    for cmd in simple_commands(&run_script(run)) {
        if program(&cmd[0]) == "rm" && cmd.iter().any(|w| w.contains("/var/lib/apt/lists")) {
            use_.removes_lists = true;
            continue;
        }
        let Some(at) =
            command_word(&cmd).filter(|&i| matches!(program(&cmd[i]), "apt-get" | "apt"))
        else {
            continue;
        };
        let args = &cmd[at + 1..];
        let mut sub = None;
        let mut skip = false;
        for w in args {
            if skip {
                skip = false;
            } else if OPTIONS_WITH_VALUE.contains(&w.as_str()) {
                skip = true;
            } else if !w.starts_with('-') {
                sub = Some(w.as_str());
                break;
            }
        }
        match sub {
            Some("update") => use_.update = true,
            Some("install") => {
                use_.install = true;
                if !args.iter().any(|w| says_yes(w)) {
                    use_.install_without_yes = true;
                }
                if !args.iter().any(|w| no_recommends(w)) {
                    use_.install_without_no_recommends = true;
                }
            }
            _ => {}
        }
    }
    // A cache mount keeps the lists out of the layer.
    if run.mounts.iter().any(|m| {
        m.kind == MountType::Cache
            && m.target
                .as_deref()
                .is_some_and(|t| t.starts_with("/var/lib/apt"))
    }) {
        use_.removes_lists = true;
    }
    use_
}

/// The apt rules that a RUN breaks, with message and fix.
pub(crate) fn findings(run: &RunInstr) -> Vec<(Rule, String, String)> {
    let a = analyse(run);
    let mut out = Vec::new();
    if a.update && !a.install {
        out.push((
            Rule::AptUpdateAlone,
            "apt-get update in a RUN that does not also install caches a package index that later RUNs may reuse when stale".into(),
            "run apt-get update && apt-get install ... in the same RUN".into(),
        ));
    }
    if a.install_without_yes {
        out.push((
            Rule::AptYes,
            "apt-get install without -y waits for a confirmation no one can give during a build"
                .into(),
            "add -y".into(),
        ));
    }
    if a.install_without_no_recommends {
        out.push((
            Rule::AptNoRecommends,
            "apt-get install without --no-install-recommends pulls packages you did not ask for"
                .into(),
            "add --no-install-recommends".into(),
        ));
    }
    if a.install && !a.removes_lists {
        out.push((
            Rule::AptLists,
            "apt-get install without removing /var/lib/apt/lists leaves the package index (tens of MB) in the layer".into(),
            "end the same RUN with && rm -rf /var/lib/apt/lists/*".into(),
        ));
    }
    out
}
