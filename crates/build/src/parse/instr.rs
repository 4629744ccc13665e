//! From a logical line to a typed instruction: keyword, flags, heredocs, arguments.

use super::ast::{CopyInstr, FromInstr, Heredoc, Instruction, InstructionKind};
use super::command::{parse_command, parse_healthcheck, parse_run, parse_shell};
use super::error::ParseErrorKind;
use super::flags::Flags;
use super::heredoc::{find_markers, read_bodies};
use super::json::{parse_json_array, JsonArray};
use super::kv::{parse_args, parse_key_values};
use super::lines::Logical;
use super::suggest::{suggest, KEYWORDS};
use super::values::ExposedPort;
use super::words::{extract_flags, split_whitespace, PosError, Word};

/// What building an instruction needs besides its logical line.
pub(crate) struct Source<'a> {
    /// All physical lines (heredoc bodies are read from here).
    pub lines: &'a [&'a str],
    /// The next physical line to read (after the logical line); advanced past heredocs.
    pub next: usize,
    /// The escape character.
    pub escape: char,
}

fn invalid(instruction: &'static str, at: usize, reason: impl Into<String>) -> PosError {
    let reason = reason.into();
    (
        at,
        ParseErrorKind::InvalidArguments {
            instruction,
            reason,
        },
    )
}

/// Builds the instruction whose keyword starts at byte `at` of `logical.text`.
pub(crate) fn build(
    logical: &Logical,
    at: usize,
    src: &mut Source<'_>,
) -> Result<Instruction, PosError> {
    let start_next = src.next;
    let text = &logical.text[at..];
    let kw_len = text.find(char::is_whitespace).unwrap_or(text.len());
    let upper = text[..kw_len].to_ascii_uppercase();
    let Some(&name) = KEYWORDS.iter().find(|k| **k == upper) else {
        let kind = ParseErrorKind::UnknownInstruction {
            name: text[..kw_len].to_string(),
            suggestion: suggest(&upper).map(str::to_string),
        };
        return Err((at, kind));
    };
    let rest_at = at + kw_len;
    let kind = if name == "ONBUILD" {
        let inner_at =
            rest_at + (logical.text[rest_at..].len() - logical.text[rest_at..].trim_start().len());
        if inner_at >= logical.text.len() {
            return Err(invalid("ONBUILD", inner_at, "requires an instruction"));
        }
        let inner = build(logical, inner_at, src)?;
        if let n @ ("ONBUILD" | "FROM" | "MAINTAINER") = inner.kind.name() {
            return Err((inner_at, ParseErrorKind::OnbuildNotAllowed(n)));
        }
        InstructionKind::Onbuild(Box::new(inner))
    } else {
        let (flag_words, args_at) = extract_flags(&logical.text[rest_at..], rest_at)?;
        let flags = Flags::parse(&flag_words, name)?;
        let raw = &logical.text[args_at..];
        let args_at = args_at + (raw.len() - raw.trim_start().len());
        let args = raw.trim();
        let heredocs = if matches!(name, "RUN" | "COPY" | "ADD") {
            let markers = find_markers(args, args_at);
            read_bodies(&markers, src.lines, &mut src.next)?
        } else {
            Vec::new()
        };
        build_kind(name, &flags, args, args_at, heredocs, src.escape)?
    };
    let (line, _) = logical.pos(at);
    Ok(Instruction {
        line,
        end_line: if src.next > start_next {
            src.next
        } else {
            logical.end_line
        },
        original: text.to_string(),
        kind,
    })
}

fn one_word(name: &'static str, args: &str, at: usize) -> Result<String, PosError> {
    match split_whitespace(args, at).as_slice() {
        [w] => Ok(w.text.clone()),
        [] => Err(invalid(name, at, "requires exactly one argument")),
        [_, w, ..] => Err(invalid(name, w.start, "requires exactly one argument")),
    }
}

fn build_kind(
    name: &'static str,
    flags: &Flags,
    args: &str,
    at: usize,
    heredocs: Vec<Heredoc>,
    escape: char,
) -> Result<InstructionKind, PosError> {
    use InstructionKind as K;
    Ok(match name {
        "FROM" => K::From(parse_from(flags, args, at)?),
        "RUN" => K::Run(parse_run(flags, args, at, heredocs)?),
        "COPY" => K::Copy(parse_copy(name, flags, args, at, heredocs)?),
        "ADD" => K::Add(parse_copy(name, flags, args, at, heredocs)?),
        "CMD" => K::Cmd(parse_command(name, args, at)?),
        "ENTRYPOINT" => K::Entrypoint(parse_command(name, args, at)?),
        "SHELL" => K::Shell(parse_shell(args, at)?),
        "HEALTHCHECK" => K::Healthcheck(parse_healthcheck(flags, args, at)?),
        "ENV" => K::Env(parse_key_values(name, args, at, escape)?),
        "LABEL" => K::Label(parse_key_values(name, args, at, escape)?),
        "ARG" => K::Arg(parse_args(args, at, escape)?),
        "USER" => K::User(one_word(name, args, at)?),
        "STOPSIGNAL" => K::StopSignal(one_word(name, args, at)?),
        "WORKDIR" | "MAINTAINER" if args.is_empty() => {
            return Err(invalid(name, at, "requires exactly one argument"))
        }
        "WORKDIR" => K::Workdir(args.to_string()),
        "MAINTAINER" => K::Maintainer(args.to_string()),
        "EXPOSE" => K::Expose(parse_expose(args, at)?),
        "VOLUME" => K::Volume(parse_volume(args, at)?),
        _ => unreachable!("every keyword is handled: {name}"),
    })
}

fn parse_from(flags: &Flags, args: &str, at: usize) -> Result<FromInstr, PosError> {
    let words = split_whitespace(args, at);
    let (image, alias) = match words.as_slice() {
        [img] => (img, None),
        [img, kw, alias] if kw.text.eq_ignore_ascii_case("as") => (img, Some(alias)),
        [] => return Err(invalid("FROM", at, "requires an image")),
        _ => {
            return Err(invalid(
                "FROM",
                at,
                "requires either one or three arguments: image [AS name]",
            ))
        }
    };
    let alias = match alias {
        None => None,
        Some(w) => {
            let name = w.text.to_ascii_lowercase();
            let mut chars = name.chars();
            let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
            if !ok {
                let reason = format!("has an invalid stage name {:?}: it must start with a letter and contain only letters, digits, '-', '_' and '.'", w.text);
                return Err(invalid("FROM", w.start, reason));
            }
            Some(name)
        }
    };
    Ok(FromInstr {
        image: image.text.clone(),
        platform: flags.string("platform"),
        alias,
    })
}

fn json_or_words(name: &'static str, args: &str, at: usize) -> Result<(Vec<Word>, bool), PosError> {
    match parse_json_array(args) {
        JsonArray::Strings(v) => {
            let words = v.into_iter().map(|text| Word { text, start: at }).collect();
            Ok((words, true))
        }
        JsonArray::Unterminated if args.starts_with("[\"") => {
            Err((at, ParseErrorKind::UnterminatedJson))
        }
        _ if args.is_empty() => Err(invalid(name, at, "requires at least one argument")),
        _ => Ok((split_whitespace(args, at), false)),
    }
}

fn parse_copy(
    name: &'static str,
    flags: &Flags,
    args: &str,
    at: usize,
    heredocs: Vec<Heredoc>,
) -> Result<CopyInstr, PosError> {
    let (mut words, json) = json_or_words(name, args, at)?;
    if words.len() < 2 {
        let reason = "requires at least two arguments: source(s) and destination";
        return Err(invalid(name, at, reason));
    }
    let dest = words.pop().expect("two or more").text;
    Ok(CopyInstr {
        sources: words.into_iter().map(|w| w.text).collect(),
        dest,
        json,
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link"),
        parents: flags.bool("parents"),
        exclude: flags
            .all("exclude")
            .into_iter()
            .map(|f| f.value.clone())
            .collect(),
        checksum: flags.string("checksum"),
        keep_git_dir: flags.bool("keep-git-dir"),
        heredocs,
    })
}

fn parse_expose(args: &str, at: usize) -> Result<Vec<String>, PosError> {
    let words = split_whitespace(args, at);
    if words.is_empty() {
        return Err(invalid("EXPOSE", at, "requires at least one argument"));
    }
    for w in &words {
        if !w.text.contains('$') {
            ExposedPort::parse(&w.text)
                .map_err(|e| invalid("EXPOSE", w.start, format!("has {e}")))?;
        }
    }
    Ok(words.into_iter().map(|w| w.text).collect())
}

fn parse_volume(args: &str, at: usize) -> Result<Vec<String>, PosError> {
    let (words, _) = json_or_words("VOLUME", args, at)?;
    if let Some(w) = words.iter().find(|w| w.text.trim().is_empty()) {
        return Err(invalid("VOLUME", w.start, "paths can not be empty strings"));
    }
    Ok(words.into_iter().map(|w| w.text).collect())
}
