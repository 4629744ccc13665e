//! Just enough shell to read RUN commands: simple commands split on `&&`, `||`, `;`, `|`,
//! `&`, newlines and parentheses, as words with quotes removed.

use crate::parse::{Command, RunInstr};

/// The simple commands of a script, each as its words.
pub(crate) fn simple_commands(script: &str) -> Vec<Vec<String>> {
    let mut cmds = vec![Vec::new()];
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = script.chars().peekable();
    let end_word = |cmds: &mut Vec<Vec<String>>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            cmds.last_mut()
                .expect("never empty")
                .push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    word.push(q);
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            ';' | '|' | '&' | '\n' | '(' | ')' => {
                end_word(&mut cmds, &mut word, &mut in_word);
                if !cmds.last().expect("never empty").is_empty() {
                    cmds.push(Vec::new());
                }
            }
            c if c.is_whitespace() => end_word(&mut cmds, &mut word, &mut in_word),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    end_word(&mut cmds, &mut word, &mut in_word);
    cmds.retain(|c| !c.is_empty());
    cmds
}

/// The script text of a RUN: the shell form, `sh -c` of the exec form, and heredoc bodies.
pub(crate) fn run_script(run: &RunInstr) -> String {
    let mut script = match &run.command {
        Command::Shell(s) => s.clone(),
        Command::Exec(args) => match args.iter().position(|a| a == "-c") {
            Some(i) if i + 1 < args.len() => args[i + 1].clone(),
            _ => args.join(" "),
        },
    };
    for h in &run.heredocs {
        script.push('\n');
        script.push_str(&h.content);
    }
    script
}

/// The last path component of a program name (`/usr/bin/apt-get` -> `apt-get`).
pub(crate) fn program(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_simple_commands() {
        let got = simple_commands(
            "apt-get update && apt-get install -y 'a b' | tee x; (cd /; ls)\nrm -rf /x &",
        );
        let want: Vec<Vec<&str>> = vec![
            vec!["apt-get", "update"],
            vec!["apt-get", "install", "-y", "a b"],
            vec!["tee", "x"],
            vec!["cd", "/"],
            vec!["ls"],
            vec!["rm", "-rf", "/x"],
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn program_names() {
        assert_eq!(program("/usr/bin/apt-get"), "apt-get");
        assert_eq!(program("rm"), "rm");
    }
}
