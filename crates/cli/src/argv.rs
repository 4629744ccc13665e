//! podman stops reading its own options at the first positional of `run`, `create` and
//! `exec` (the image, or the container): what follows is the command, even `-c ...`. clap
//! would read a leading `-c` of the command as strata's own `-c` (`--cpu-shares`), so the
//! arguments get a `--` after that positional before clap sees them.

use clap::CommandFactory;

/// Commands whose first positional ends strata's options.
const COMMANDS: &[&str] = &["run", "create", "exec"];

/// The process's arguments with the separator (see [`with_command_separator`]); arguments
/// that are not UTF-8 are passed on unchanged.
pub fn args() -> Vec<std::ffi::OsString> {
    let os: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let Some(text) = os
        .iter()
        .map(|a| a.to_str().map(String::from))
        .collect::<Option<Vec<_>>>()
    else {
        return os;
    };
    with_command_separator(text)
        .into_iter()
        .map(Into::into)
        .collect()
}

/// `argv` with a `--` after the first positional of `run`, `create` or `exec` (also under
/// `container`), unless the user already wrote one.
pub fn with_command_separator(argv: Vec<String>) -> Vec<String> {
    let root = crate::Cli::command();
    let mut cmd = &root;
    let mut i = 1;
    // Find the subcommand (global options may come first).
    while i < argv.len() {
        let a = &argv[i];
        if a == "--" {
            return argv;
        }
        if a.starts_with('-') {
            i += 1 + usize::from(takes_value(cmd, a) && !a.contains('='));
            continue;
        }
        match cmd.find_subcommand(a) {
            Some(sub) if a == "container" => {
                cmd = sub;
                i += 1;
            }
            Some(sub) if COMMANDS.contains(&a.as_str()) => {
                cmd = sub;
                i += 1;
                break;
            }
            _ => return argv,
        }
    }
    if !COMMANDS.iter().any(|c| cmd.get_name() == *c) {
        return argv;
    }
    while i < argv.len() {
        let a = &argv[i];
        if a == "--" {
            return argv;
        }
        if a.starts_with('-') && a.len() > 1 {
            i += 1 + usize::from(takes_value(cmd, a) && !a.contains('='));
            continue;
        }
        let mut out = argv[..=i].to_vec();
        if i + 1 < argv.len() && argv[i + 1] != "--" {
            out.push("--".into());
        }
        out.extend_from_slice(&argv[i + 1..]);
        return out;
    }
    argv
}

/// Whether the option `a` (`--name`, or `-x` / a cluster `-xyz` ending in `z`) of `cmd` (or a
/// global one) takes its value from the next argument.
fn takes_value(cmd: &clap::Command, a: &str) -> bool {
    let found = if let Some(long) = a.strip_prefix("--") {
        let long = long.split('=').next().unwrap_or(long);
        cmd.get_arguments().find(|x| {
            x.get_long() == Some(long) || x.get_all_aliases().is_some_and(|v| v.contains(&long))
        })
    } else {
        let cluster: Vec<char> = a.chars().skip(1).collect();
        // A value attached to a short option (`-m512m`) is not a separate argument.
        let pos = cluster.iter().position(|c| {
            cmd.get_arguments()
                .any(|x| x.get_short() == Some(*c) && x.get_action().takes_values())
        });
        return pos == Some(cluster.len() - 1);
    };
    found.is_some_and(|x| x.get_action().takes_values())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn the_command_after_the_image_is_not_read_as_options() {
        assert_eq!(
            with_command_separator(v("strata run --rm -e A=1 --name x img -c true")),
            v("strata run --rm -e A=1 --name x img -- -c true")
        );
        assert_eq!(
            with_command_separator(v("strata --root /r container run -it img -c x")),
            v("strata --root /r container run -it img -- -c x")
        );
        assert_eq!(
            with_command_separator(v("strata exec -w /tmp c1 -l")),
            v("strata exec -w /tmp c1 -- -l")
        );
        assert_eq!(
            with_command_separator(v("strata run img")),
            v("strata run img")
        );
        assert_eq!(
            with_command_separator(v("strata run img -- -c")),
            v("strata run img -- -c")
        );
        assert_eq!(with_command_separator(v("strata ps -a")), v("strata ps -a"));
        assert_eq!(
            with_command_separator(v("strata run --memory=6m img sh")),
            v("strata run --memory=6m img -- sh")
        );
    }
}
