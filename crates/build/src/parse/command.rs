//! Instructions that carry a command: RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK.

use super::ast::{Command, Healthcheck, Heredoc, NetworkMode, RunInstr, SecurityMode};
use super::error::ParseErrorKind;
use super::flags::Flags;
use super::json::{parse_json_array, JsonArray};
use super::mount::Mount;
use super::values::parse_duration;
use super::words::PosError;

fn invalid(instruction: &'static str, at: usize, reason: &str) -> PosError {
    let reason = reason.to_string();
    (
        at,
        ParseErrorKind::InvalidArguments {
            instruction,
            reason,
        },
    )
}

/// Shell or exec form. Like BuildKit, text that starts with `[` but is not a JSON array of
/// strings is the shell form; but an array that starts `["` and never closes is an error.
pub(crate) fn parse_command(
    instruction: &'static str,
    args: &str,
    base: usize,
) -> Result<Command, PosError> {
    match parse_json_array(args) {
        JsonArray::Strings(v) => Ok(Command::Exec(v)),
        JsonArray::Unterminated if args.starts_with("[\"") => {
            Err((base, ParseErrorKind::UnterminatedJson))
        }
        _ if args.is_empty() => Err(invalid(instruction, base, "requires at least one argument")),
        _ => Ok(Command::Shell(args.to_string())),
    }
}

/// `RUN [--mount=...] [--network=...] [--security=...] command`.
pub(crate) fn parse_run(
    flags: &Flags,
    args: &str,
    base: usize,
    heredocs: Vec<Heredoc>,
) -> Result<RunInstr, PosError> {
    let mut mounts = Vec::new();
    for f in flags.all("mount") {
        let m = Mount::parse(&f.value).map_err(|e| (f.start, ParseErrorKind::InvalidMount(e)))?;
        mounts.push(m);
    }
    let bad = |flag: &str, at: usize, reason: String| {
        let flag = flag.to_string();
        (at, ParseErrorKind::InvalidFlagValue { flag, reason })
    };
    let network = match flags.get("network") {
        None => None,
        Some(f) => Some(match f.value.as_str() {
            "default" => NetworkMode::Default,
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            v => {
                return Err(bad(
                    "network",
                    f.start,
                    format!("{v:?} is not none, host or default"),
                ))
            }
        }),
    };
    let security = match flags.get("security") {
        None => None,
        Some(f) => Some(match f.value.as_str() {
            "sandbox" => SecurityMode::Sandbox,
            "insecure" => SecurityMode::Insecure,
            v => {
                return Err(bad(
                    "security",
                    f.start,
                    format!("{v:?} is not insecure or sandbox"),
                ))
            }
        }),
    };
    Ok(RunInstr {
        command: parse_command("RUN", args, base)?,
        mounts,
        network,
        security,
        heredocs,
    })
}

/// `SHELL ["executable", "parameters"]`: JSON only.
pub(crate) fn parse_shell(args: &str, base: usize) -> Result<Vec<String>, PosError> {
    let reason = match parse_json_array(args) {
        JsonArray::Strings(v) if !v.is_empty() => return Ok(v),
        JsonArray::Strings(_) => "the array is empty".to_string(),
        JsonArray::Unterminated if args.starts_with('[') => {
            return Err((base, ParseErrorKind::UnterminatedJson))
        }
        JsonArray::Invalid(r) => r,
        _ => "found shell form".to_string(),
    };
    let kind = ParseErrorKind::InvalidJson {
        instruction: "SHELL",
        reason,
    };
    Err((base, kind))
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [--interval= ...] CMD command`.
pub(crate) fn parse_healthcheck(
    flags: &Flags,
    args: &str,
    base: usize,
) -> Result<Healthcheck, PosError> {
    let word_end = args.find(char::is_whitespace).unwrap_or(args.len());
    let (word, rest) = args.split_at(word_end);
    let rest_base = base + word_end + (rest.len() - rest.trim_start().len());
    let rest = rest.trim_start();
    match word.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !rest.is_empty() {
                return Err(invalid("HEALTHCHECK", rest_base, "NONE takes no arguments"));
            }
            if let Some(f) = [
                "interval",
                "timeout",
                "start-period",
                "start-interval",
                "retries",
            ]
            .iter()
            .find_map(|n| flags.get(n))
            {
                return Err(invalid("HEALTHCHECK", f.flag_start, "NONE takes no flags"));
            }
            Ok(Healthcheck::None)
        }
        "CMD" => {
            let duration = |name: &str| -> Result<_, PosError> {
                let Some(f) = flags.get(name) else {
                    return Ok(None);
                };
                let bad = |reason: String| {
                    let flag = name.to_string();
                    (f.start, ParseErrorKind::InvalidFlagValue { flag, reason })
                };
                let d = parse_duration(&f.value).map_err(bad)?;
                if !d.is_zero() && d.as_millis() < 1 {
                    return Err(bad("cannot be less than 1ms".into()));
                }
                Ok(Some(d))
            };
            let retries = match flags.get("retries") {
                None => None,
                Some(f) => Some(f.value.parse::<u32>().map_err(|_| {
                    let flag = "retries".to_string();
                    let reason = format!("{:?} is not a non-negative integer", f.value);
                    (f.start, ParseErrorKind::InvalidFlagValue { flag, reason })
                })?),
            };
            Ok(Healthcheck::Check {
                command: parse_command("HEALTHCHECK", rest, rest_base)?,
                interval: duration("interval")?,
                timeout: duration("timeout")?,
                start_period: duration("start-period")?,
                start_interval: duration("start-interval")?,
                retries,
            })
        }
        _ => Err(invalid("HEALTHCHECK", base, "expects CMD or NONE")),
    }
}
