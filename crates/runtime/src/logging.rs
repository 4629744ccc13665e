//! runc-compatible logging: `--log FILE` and `--log-format text|json`.
//!
//! containerd and conmon read the runtime's log file to explain a failure, expecting runc's
//! JSON lines (`{"level":"error","msg":"...","time":"..."}`), so the format is kept exactly.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::OnceLock;

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `time="..." level=error msg="..."`
    Text,
    /// `{"level":"error","msg":"...","time":"..."}`
    Json,
}

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Debug detail (only with `--debug`).
    Debug,
    /// Informational.
    Info,
    /// Warnings.
    Warn,
    /// Errors.
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warning",
            Level::Error => "error",
        }
    }
}

struct Logger {
    path: Option<String>,
    format: Format,
    min: Level,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up logging once per process. Without a path, warnings and errors go to stderr.
pub fn init(path: Option<String>, format: Format, debug: bool) {
    let _ = LOGGER.set(Logger {
        path,
        format,
        min: if debug { Level::Debug } else { Level::Warn },
    });
}

/// Formats one line in the configured format (without newline).
pub fn format_line(format: Format, level: Level, msg: &str) -> String {
    let time = strata_os::clock::rfc3339_now();
    match format {
        Format::Json => {
            serde_json::json!({"level": level.name(), "msg": msg, "time": time}).to_string()
        }
        Format::Text => format!("time={time:?} level={} msg={msg:?}", level.name()),
    }
}

/// Writes one log line if `level` is enabled. Errors writing the log are ignored.
pub fn log(level: Level, msg: &str) {
    let Some(l) = LOGGER.get() else {
        if level >= Level::Warn {
            eprintln!("strata-runc: {msg}");
        }
        return;
    };
    if level < l.min {
        return;
    }
    match &l.path {
        Some(p) => {
            if let Ok(mut f) = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o644)
                .open(p)
            {
                let mut line = format_line(l.format, level, msg);
                line.push('\n');
                let _ = f.write_all(line.as_bytes());
            }
        }
        None => {
            if level >= Level::Warn {
                eprintln!("strata-runc: {msg}");
            }
        }
    }
}

/// Logs a warning.
pub fn warn(msg: &str) {
    log(Level::Warn, msg)
}

/// Logs debug detail.
pub fn debug(msg: &str) {
    log(Level::Debug, msg)
}

/// Whether a log file was configured (then errors also go there, as runc does).
pub fn has_file() -> bool {
    LOGGER.get().is_some_and(|l| l.path.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_is_runc_shaped() {
        let l = format_line(Format::Json, Level::Error, "boom \"x\"");
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "boom \"x\"");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }
}
