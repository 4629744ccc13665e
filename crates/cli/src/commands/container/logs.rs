//! `logs`: a container's output from its CRI-format log, with `--since`, `--until`,
//! `--tail`, `-t` and `-f` (follow until the container exits).

use super::open_engine;
use crate::Global;
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;
use strata_engine::container::stop;
use strata_monitor::cri_log::{self, Stream};

/// `logs`' options.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Follow the output until the container exits.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show output since a time (RFC 3339) or a duration ago (10s, 5m, 2h).
    #[arg(long)]
    pub since: Option<String>,
    /// Show output until a time (RFC 3339) or a duration ago.
    #[arg(long)]
    pub until: Option<String>,
    /// Show the last N lines.
    #[arg(short = 'n', long)]
    pub tail: Option<String>,
    /// Show time stamps.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// The container.
    pub container: String,
}

/// A time argument: RFC 3339, a Unix time in seconds, or a duration ago (`10s`, `5m`, `2h`).
pub fn parse_time(s: &str) -> Result<i64> {
    if let Some(t) = strata_os::clock::parse_rfc3339(s) {
        return Ok(t);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Ok((secs * 1e9) as i64);
    }
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().with_context(|| {
        format!("invalid time {s:?}: use RFC 3339, or a duration like 10s, 5m, 2h")
    })?;
    let mult = match unit {
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "ms" => 1e6,
        _ => anyhow::bail!("invalid time {s:?}: the unit is s, m or h"),
    };
    Ok(strata_os::clock::now_nanos() - (n * mult) as i64)
}

/// One line of output, joined from its CRI records.
struct Line {
    time: i64,
    stream: Stream,
    text: Vec<u8>,
}

/// Reads complete lines from the log (records of a partial line joined), from `pos`.
fn read_lines(
    r: &mut BufReader<std::fs::File>,
    partial: &mut [Option<Line>; 2],
    out: &mut Vec<Line>,
) -> Result<()> {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf)?;
        if n == 0 || !buf.ends_with(b"\n") {
            // A record still being written: read it again next time.
            if n > 0 {
                r.seek_relative(-(n as i64))?;
            }
            return Ok(());
        }
        buf.pop();
        let Some(rec) = cri_log::parse(&buf) else {
            continue;
        };
        let slot = &mut partial[rec.stream as usize];
        let line = slot.get_or_insert_with(|| Line {
            time: rec.time,
            stream: rec.stream,
            text: Vec::new(),
        });
        line.text.extend_from_slice(rec.text);
        if rec.full {
            out.push(slot.take().expect("just set"));
        }
    }
}

fn print(l: &Line, timestamps: bool) {
    let mut buf = Vec::with_capacity(l.text.len() + 40);
    if timestamps {
        buf.extend_from_slice(strata_os::clock::rfc3339_nanos(l.time).as_bytes());
        buf.push(b' ');
    }
    buf.extend_from_slice(&l.text);
    buf.push(b'\n');
    let _ = match l.stream {
        Stream::Stdout => std::io::stdout().write_all(&buf),
        Stream::Stderr => std::io::stderr().write_all(&buf),
    };
}

/// `logs`.
pub fn logs(g: &Global, a: LogsArgs) -> Result<i32> {
    let e = open_engine(g)?;
    let c = stop::load(&e, &a.container)?;
    let since = a
        .since
        .as_deref()
        .map(parse_time)
        .transpose()?
        .unwrap_or(i64::MIN);
    let until = a
        .until
        .as_deref()
        .map(parse_time)
        .transpose()?
        .unwrap_or(i64::MAX);
    let tail: Option<usize> = match a.tail.as_deref() {
        None | Some("all") | Some("-1") => None,
        Some(n) => Some(
            n.parse()
                .with_context(|| format!("invalid --tail {n:?}: a number or all"))?,
        ),
    };
    let path = c.log_path(&e.paths);
    let f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !a.follow => return Ok(0),
        Err(err) => {
            return Err(err).with_context(|| format!("logs {}: {}", c.name, path.display()))
        }
    };
    let mut r = BufReader::new(f);
    let mut partial: [Option<Line>; 2] = [None, None];
    let mut lines = Vec::new();
    read_lines(&mut r, &mut partial, &mut lines)?;
    lines.retain(|l| l.time >= since && l.time <= until);
    let skip = tail.map_or(0, |t| lines.len().saturating_sub(t));
    for l in &lines[skip..] {
        print(l, a.timestamps);
    }
    if !a.follow {
        return Ok(0);
    }
    loop {
        let live = stop::load(&e, &c.id)
            .map(|c| c.state.status.is_live())
            .unwrap_or(false);
        let mut more = Vec::new();
        read_lines(&mut r, &mut partial, &mut more)?;
        for l in more.iter().filter(|l| l.time >= since && l.time <= until) {
            print(l, a.timestamps);
        }
        if !live {
            // One last read after the exit: the monitor drains the output before it records it.
            let mut last = Vec::new();
            read_lines(&mut r, &mut partial, &mut last)?;
            for l in last.iter().filter(|l| l.time >= since && l.time <= until) {
                print(l, a.timestamps);
            }
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
