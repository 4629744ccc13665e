//! `completion`: shell completion scripts generated from the command table, so they always list
//! the commands and flags the parser accepts.

use super::argparse::Flag;
use super::cli::{BIN, COMMANDS, GLOBAL_FLAGS};

/// Shells we write completions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// bash (`source <(strata-runc completion bash)`).
    Bash,
    /// zsh (write to a file named `_strata-runc` on $fpath).
    Zsh,
    /// fish (write to ~/.config/fish/completions/strata-runc.fish).
    Fish,
}

impl std::str::FromStr for Shell {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bash" => Ok(Shell::Bash),
            "zsh" => Ok(Shell::Zsh),
            "fish" => Ok(Shell::Fish),
            _ => Err(format!("unknown shell {s:?}: use bash, zsh or fish")),
        }
    }
}

fn visible(flags: &[Flag]) -> impl Iterator<Item = &Flag> {
    flags.iter().filter(|f| !f.hidden)
}

/// The words a flag can be typed as.
fn spellings(f: &Flag) -> Vec<String> {
    let mut v = vec![format!("--{}", f.long)];
    if let Some(c) = f.short {
        v.push(format!("-{c}"));
    }
    v
}

/// The script for `shell`.
pub fn script(shell: Shell) -> String {
    match shell {
        Shell::Bash => bash(),
        Shell::Zsh => zsh(),
        Shell::Fish => fish(),
    }
}

fn bash() -> String {
    let fname = format!("_{}", BIN.replace('-', "_"));
    let globals: Vec<String> = visible(GLOBAL_FLAGS).flat_map(spellings).collect();
    let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    let mut cases = String::new();
    for c in COMMANDS {
        let words: Vec<String> = visible(c.flags).flat_map(spellings).collect();
        let pat = std::iter::once(c.name)
            .chain(c.aliases.iter().copied())
            .collect::<Vec<_>>()
            .join("|");
        cases.push_str(&format!(
            "        {pat}) words=\"{} --help\" ;;\n",
            words.join(" ")
        ));
    }
    format!(
        r#"# bash completion for {BIN}: source <({BIN} completion bash)
{fname}() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} cmd="" i words
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${{COMP_WORDS[i]}} in
        --root|--log|--log-format) ((i++)) ;;
        -*) ;;
        *) cmd=${{COMP_WORDS[i]}}; break ;;
        esac
    done
    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "{} help {} --help" -- "$cur"))
        return
    fi
    case $cmd in
{cases}        *) words="" ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}}
complete -F {fname} {BIN}
"#,
        names.join(" "),
        globals.join(" ")
    )
}

/// zsh's single-quoted text.
fn zq(s: &str) -> String {
    s.replace('\'', "'\\''")
        .replace('[', "\\[")
        .replace(']', "\\]")
}

fn zsh_flag(f: &Flag) -> String {
    let value = if f.value.is_some() {
        ":value:_files"
    } else {
        ""
    };
    match f.short {
        Some(c) => format!(
            "      '(--{l} -{c})'{{--{l},-{c}}}'[{h}]{value}' \\\n",
            l = f.long,
            h = zq(f.help)
        ),
        None => format!("      '--{}[{}]{value}' \\\n", f.long, zq(f.help)),
    }
}

fn zsh() -> String {
    let mut cmds = String::new();
    let mut cases = String::new();
    for c in COMMANDS {
        cmds.push_str(&format!("    '{}:{}'\n", c.name, zq(c.about)));
        let flags: String = visible(c.flags).map(zsh_flag).collect();
        cases.push_str(&format!(
            "    {})\n      _arguments \\\n{flags}      '*:argument:_files' ;;\n",
            c.name
        ));
    }
    let globals: String = visible(GLOBAL_FLAGS).map(zsh_flag).collect();
    format!(
        r#"#compdef {BIN}
# zsh completion for {BIN}: {BIN} completion zsh > "${{fpath[1]}}/_{BIN}"
_{BIN}() {{
  local -a commands
  commands=(
{cmds}  )
  local line state
  _arguments -C \
{globals}    '1:command:->cmd' \
    '*::arg:->args'
  case $state in
  cmd) _describe -t commands command commands ;;
  args)
    case $line[1] in
{cases}    esac ;;
  esac
}}
_{BIN} "$@"
"#
    )
}

fn fish_flag(cond: &str, f: &Flag) -> String {
    let short = f.short.map(|c| format!(" -s {c}")).unwrap_or_default();
    let req = if f.value.is_some() { " -r" } else { "" };
    format!(
        "complete -c {BIN} -n '{cond}' -l {}{short}{req} -d '{}'\n",
        f.long,
        f.help.replace('\'', "\\'")
    )
}

fn fish() -> String {
    let mut out = format!("# fish completion for {BIN}\ncomplete -c {BIN} -f\n");
    for f in visible(GLOBAL_FLAGS) {
        out.push_str(&fish_flag("__fish_use_subcommand", f));
    }
    for c in COMMANDS {
        out.push_str(&format!(
            "complete -c {BIN} -n __fish_use_subcommand -a {} -d '{}'\n",
            c.name,
            c.about.replace('\'', "\\'")
        ));
        let cond = format!("__fish_seen_subcommand_from {}", c.name);
        for f in visible(c.flags) {
            out.push_str(&fish_flag(&cond, f));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_and_flag_is_completed() {
        for sh in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let s = script(sh);
            for c in COMMANDS {
                assert!(s.contains(c.name), "{sh:?} lacks {}", c.name);
                for f in visible(c.flags) {
                    assert!(s.contains(f.long), "{sh:?} lacks --{}", f.long);
                }
            }
            assert!(!s.contains("--criu"), "{sh:?} shows a hidden flag");
        }
    }

    #[test]
    fn bash_script_is_valid_bash() {
        let dir = std::env::temp_dir().join(format!("strata-compl-{}", std::process::id()));
        std::fs::write(&dir, script(Shell::Bash)).unwrap();
        let out = std::process::Command::new("bash")
            .arg("-n")
            .arg(&dir)
            .output()
            .unwrap();
        std::fs::remove_file(&dir).ok();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
