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
    let time = rfc3339_now();
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

/// The current UTC time as RFC 3339 with nanoseconds, as OCI state `created` uses.
pub fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

/// Formats seconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951782400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1795391999, 0), "2026-11-22T23:59:59.000000000Z");
    }

    #[test]
    fn json_line_is_runc_shaped() {
        let l = format_line(Format::Json, Level::Error, "boom \"x\"");
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "boom \"x\"");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }
}
