//! A small table-driven parser for runc's command line (Go `flag` conventions, as runc's
//! urfave/cli accepts them): `--name value`, `--name=value`, `-name value`, `-n value`, bool flags
//! as `--name` or `--name=true|false`, `--` ends the flags. A flag that takes a value always takes
//! the next word, even one starting with `-` (`--memory-swap -1`).
//!
//! Written by hand rather than with a parser crate: the runtime is exec'd for every container
//! operation and its binary size is most of its memory footprint (see BENCHMARKS.md).

/// One flag of a command.
#[derive(Clone, Copy)]
pub struct Flag {
    /// Long name without dashes.
    pub long: &'static str,
    /// Optional one-letter alias.
    pub short: Option<char>,
    /// The value's name in help (`None` for a bool flag).
    pub value: Option<&'static str>,
    /// One-line help.
    pub help: &'static str,
    /// Accepted but not listed in help.
    pub hidden: bool,
}

/// Shorthand constructors for the tables.
pub const fn flag(long: &'static str, short: Option<char>, help: &'static str) -> Flag {
    Flag {
        long,
        short,
        value: None,
        help,
        hidden: false,
    }
}

/// A flag that takes a value.
pub const fn opt(
    long: &'static str,
    short: Option<char>,
    value: &'static str,
    help: &'static str,
) -> Flag {
    Flag {
        long,
        short,
        value: Some(value),
        help,
        hidden: false,
    }
}

/// A flag accepted for runc compatibility and left out of help.
pub const fn hidden(long: &'static str, takes_value: bool) -> Flag {
    Flag {
        long,
        short: None,
        value: if takes_value { Some("value") } else { None },
        help: "",
        hidden: true,
    }
}

/// One command: its name, help and grammar.
pub struct CommandSpec {
    /// Name (what the user types).
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// One-line description.
    pub about: &'static str,
    /// Positional arguments as shown in usage, e.g. `<container-id> [signal]`.
    pub args_usage: &'static str,
    /// Required positionals.
    pub min_args: usize,
    /// Allowed positionals before the trailing part (`usize::MAX`: no limit).
    pub max_args: usize,
    /// After `min_args` positionals, everything is taken verbatim (exec's command, ps's options).
    pub trailing: bool,
    /// Flags.
    pub flags: &'static [Flag],
}

/// A usage error: the message and the command it concerns (for the help hint).
#[derive(Debug)]
pub struct UsageError {
    /// What is wrong, one line.
    pub msg: String,
    /// The command being parsed, if known.
    pub command: Option<&'static str>,
}

impl UsageError {
    /// Creates an error about `command`.
    pub fn new(command: Option<&'static str>, msg: impl Into<String>) -> Self {
        UsageError {
            msg: msg.into(),
            command,
        }
    }
}

/// What a command line said, before it is turned into typed arguments.
#[derive(Default, Debug)]
pub struct Matches {
    values: Vec<(&'static str, String)>,
    /// Positional arguments (including the trailing part).
    pub positionals: Vec<String>,
    /// `--help` or `-h` was given.
    pub help: bool,
}

impl Matches {
    /// Whether a bool flag was set (last one wins: `--x --x=false` is false).
    pub fn is_set(&self, long: &str) -> bool {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| *k == long)
            .is_some_and(|(_, v)| v == "true")
    }

    /// The last value of a flag.
    pub fn value(&self, long: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| *k == long)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable flag, in order.
    pub fn values(&self, long: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(k, _)| *k == long)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The last value of a flag, parsed.
    pub fn parsed<T: std::str::FromStr>(
        &self,
        cmd: &'static str,
        long: &str,
    ) -> Result<Option<T>, UsageError> {
        self.value(long)
            .map(|v| {
                v.parse().map_err(|_| {
                    UsageError::new(Some(cmd), format!("--{long}: invalid value {v:?}"))
                })
            })
            .transpose()
    }

    /// Every value of a repeatable flag, parsed.
    pub fn all_parsed<T: std::str::FromStr>(
        &self,
        cmd: &'static str,
        long: &str,
    ) -> Result<Vec<T>, UsageError> {
        self.values(long)
            .iter()
            .map(|v| {
                v.parse().map_err(|_| {
                    UsageError::new(Some(cmd), format!("--{long}: invalid value {v:?}"))
                })
            })
            .collect()
    }
}

/// Finds the flag a word names; returns it and an inline `=value` if any. `None` if the word is
/// not a flag (a positional, or `-` alone).
fn lookup<'a>(
    flags: &'a [Flag],
    word: &'a str,
) -> Option<Result<(&'a Flag, Option<&'a str>), String>> {
    let body = word.strip_prefix("--").or_else(|| word.strip_prefix('-'))?;
    if body.is_empty() {
        return None;
    }
    let (name, inline) = match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    };
    let found = flags
        .iter()
        .find(|f| f.long == name || (name.chars().count() == 1 && f.short == name.chars().next()));
    Some(found.map(|f| (f, inline)).ok_or_else(|| name.to_string()))
}

/// Offered each word the command does not know: takes it (and its value, from the iterator) if
/// it is a global flag and returns true; false if it is not one.
pub type GlobalFlags<'a> =
    dyn FnMut(&str, &mut dyn Iterator<Item = &String>) -> Result<bool, UsageError> + 'a;

/// Parses one command's words (after the command name). Global flags found among them are
/// handed to `global` (which returns whether it knew the word, consuming a value through the
/// iterator it is given).
pub fn parse(
    spec: &CommandSpec,
    words: &[String],
    global: &mut GlobalFlags,
) -> Result<Matches, UsageError> {
    let mut m = Matches::default();
    let mut it = words.iter();
    let err = |msg: String| UsageError::new(Some(spec.name), msg);
    while let Some(w) = it.next() {
        let in_trailing = spec.trailing && m.positionals.len() >= spec.min_args;
        if in_trailing {
            m.positionals.push(w.clone());
            m.positionals.extend(it.by_ref().cloned());
            break;
        }
        if w == "--" {
            m.positionals.extend(it.by_ref().cloned());
            break;
        }
        if w == "--help" || w == "-h" {
            m.help = true;
            continue;
        }
        match lookup(spec.flags, w) {
            None => m.positionals.push(w.clone()),
            Some(Ok((f, inline))) => {
                let v = match (f.value, inline) {
                    (None, None) => "true".to_string(),
                    (None, Some(b @ ("true" | "false"))) => b.to_string(),
                    (None, Some(b)) => {
                        return Err(err(format!("--{}: not a boolean: {b:?}", f.long)))
                    }
                    (Some(_), Some(v)) => v.to_string(),
                    (Some(_), None) => it
                        .next()
                        .ok_or_else(|| err(format!("--{} needs a value", f.long)))?
                        .clone(),
                };
                m.values.push((f.long, v));
            }
            Some(Err(name)) => {
                let mut rest = it.by_ref();
                if !global(w, &mut rest)? {
                    return Err(err(format!("unknown flag -{name}")));
                }
            }
        }
    }
    if m.help {
        return Ok(m);
    }
    let n = m.positionals.len();
    if n < spec.min_args {
        return Err(err(format!(
            "{:?} needs {}: {}",
            spec.name,
            if spec.min_args == 1 {
                "an argument".to_string()
            } else {
                format!("{} arguments", spec.min_args)
            },
            spec.args_usage
        )));
    }
    if !spec.trailing && n > spec.max_args {
        return Err(err(format!(
            "{:?} takes at most {} argument(s): {}",
            spec.name, spec.max_args, spec.args_usage
        )));
    }
    Ok(m)
}

/// The flag column of help: `--name value, -n value`.
fn flag_label(f: &Flag) -> String {
    let v = f.value.map(|v| format!(" {v}")).unwrap_or_default();
    match f.short {
        Some(c) => format!("--{}{v}, -{c}{v}", f.long),
        None => format!("--{}{v}", f.long),
    }
}

/// Renders an OPTIONS-style table.
pub fn flags_table(flags: &[Flag]) -> String {
    let shown: Vec<&Flag> = flags.iter().filter(|f| !f.hidden).collect();
    let width = shown.iter().map(|f| flag_label(f).len()).max().unwrap_or(0);
    let mut out = String::new();
    for f in shown {
        out.push_str(&format!("   {:<width$}  {}\n", flag_label(f), f.help));
    }
    out
}

/// Help for one command.
pub fn command_help(bin: &str, spec: &CommandSpec, details: &str) -> String {
    let mut out = format!(
        "NAME:\n   {bin} {} - {}\n\nUSAGE:\n   {bin} {} [command options] {}\n",
        spec.name, spec.about, spec.name, spec.args_usage
    );
    if !details.is_empty() {
        out.push('\n');
        out.push_str(details);
        out.push('\n');
    }
    if spec.flags.iter().any(|f| !f.hidden) {
        out.push_str("\nOPTIONS:\n");
        out.push_str(&flags_table(spec.flags));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[
        flag("detach", Some('d'), "detach"),
        opt("bundle", Some('b'), "path", "bundle"),
        opt("env", Some('e'), "NAME=VALUE", "env"),
        opt("memory-swap", None, "bytes", "swap"),
    ];
    const EXEC: CommandSpec = CommandSpec {
        name: "exec",
        aliases: &[],
        about: "",
        args_usage: "<container-id> <command> [args...]",
        min_args: 1,
        max_args: 1,
        trailing: true,
        flags: FLAGS,
    };
    const KILL: CommandSpec = CommandSpec {
        name: "kill",
        aliases: &[],
        about: "",
        args_usage: "<container-id> [signal]",
        min_args: 1,
        max_args: 2,
        trailing: false,
        flags: FLAGS,
    };

    fn w(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn no_globals(_: &str, _: &mut dyn Iterator<Item = &String>) -> Result<bool, UsageError> {
        Ok(false)
    }

    #[test]
    fn go_flag_spellings() {
        let m = parse(
            &KILL,
            &w(&["-d", "--bundle=/b", "-e", "A=1", "--env", "B=2", "id"]),
            &mut no_globals,
        )
        .unwrap();
        assert!(m.is_set("detach"));
        assert_eq!(m.value("bundle"), Some("/b"));
        assert_eq!(m.values("env"), vec!["A=1", "B=2"]);
        assert_eq!(m.positionals, vec!["id"]);
        let m = parse(
            &KILL,
            &w(&["-bundle", "x", "--detach=false", "id", "KILL"]),
            &mut no_globals,
        )
        .unwrap();
        assert!(!m.is_set("detach"));
        assert_eq!(m.value("bundle"), Some("x"));
        assert_eq!(m.positionals, vec!["id", "KILL"]);
    }

    #[test]
    fn values_may_start_with_a_dash() {
        let m = parse(&KILL, &w(&["--memory-swap", "-1", "id"]), &mut no_globals).unwrap();
        assert_eq!(m.parsed::<i64>("kill", "memory-swap").unwrap(), Some(-1));
    }

    #[test]
    fn trailing_command_is_verbatim() {
        let m = parse(
            &EXEC,
            &w(&["-d", "id", "sh", "-c", "--detach"]),
            &mut no_globals,
        )
        .unwrap();
        assert!(m.is_set("detach"));
        assert_eq!(m.positionals, vec!["id", "sh", "-c", "--detach"]);
    }

    #[test]
    fn usage_errors_are_one_line() {
        for (spec, a) in [
            (&KILL, w(&[])),
            (&KILL, w(&["a", "b", "c"])),
            (&KILL, w(&["--nope", "id"])),
            (&KILL, w(&["id", "--bundle"])),
            (&KILL, w(&["--detach=maybe", "id"])),
        ] {
            let e = parse(spec, &a, &mut no_globals).unwrap_err();
            assert!(
                !e.msg.contains('\n') && !e.msg.is_empty(),
                "{a:?}: {}",
                e.msg
            );
        }
    }

    #[test]
    fn globals_are_offered_unknown_words() {
        let mut seen = Vec::new();
        let mut g = |word: &str, it: &mut dyn Iterator<Item = &String>| {
            if word == "--root" {
                seen.push(it.next().cloned());
                return Ok(true);
            }
            Ok(false)
        };
        let m = parse(&KILL, &w(&["--root", "/r", "id"]), &mut g).unwrap();
        assert_eq!(m.positionals, vec!["id"]);
        assert_eq!(seen, vec![Some("/r".to_string())]);
    }

    #[test]
    fn help_lists_visible_flags() {
        let h = command_help("strata-runc", &KILL, "");
        assert!(h.contains("--bundle path, -b path"));
        assert!(h.contains("<container-id> [signal]"));
    }
}
