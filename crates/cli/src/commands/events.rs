//! `events`: what happened to containers (create, start, die with its exit code, oom, kill,
//! stop, remove, ...), from the engine's event log; it follows new events until interrupted,
//! unless `--until` bounds it.

use crate::commands::container::{logs::parse_time, open_engine};
use crate::Global;
use anyhow::{bail, Result};
use std::time::Duration;
use strata_engine::db::events::Event;

/// `events`' options.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Show events since a time (RFC 3339, Unix seconds, or a duration ago like 10m).
    #[arg(long)]
    pub since: Option<String>,
    /// Stop at this time (then no following).
    #[arg(long)]
    pub until: Option<String>,
    /// Filter: type=, event= (action), container= (name or id).
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Output: json (one object per line), or a template like {{.Action}}.
    #[arg(long)]
    pub format: Option<String>,
    /// Print what is there and stop (do not follow).
    #[arg(long)]
    pub no_follow: bool,
}

fn keep(ev: &Event, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(k, v)| match k.as_str() {
        "type" => &ev.kind == v,
        "event" | "action" => &ev.action == v,
        "container" | "pod" => &ev.name == v || ev.id.starts_with(v.as_str()),
        _ => true,
    })
}

fn print(ev: &Event, format: Option<&str>) {
    let v = serde_json::json!({
        "Type": ev.kind, "Action": ev.action, "Status": ev.action, "ID": ev.id, "id": ev.id,
        "Name": ev.name, "Actor": {"ID": ev.id, "Attributes": ev.attributes},
        "time": ev.time / 1_000_000_000, "timeNano": ev.time,
        "Time": strata_os::clock::rfc3339_nanos(ev.time),
    });
    match format {
        Some("json") => println!("{v}"),
        Some(t) => println!("{}", crate::format::render(t, &v)),
        None => {
            let attrs: Vec<String> = std::iter::once(format!("name={}", ev.name))
                .chain(ev.attributes.iter().map(|(k, v)| format!("{k}={v}")))
                .collect();
            println!(
                "{} {} {} {} ({})",
                strata_os::clock::rfc3339_nanos(ev.time),
                ev.kind,
                ev.action,
                ev.id,
                attrs.join(", ")
            );
        }
    }
}

/// `events`.
pub fn events(g: &Global, a: EventsArgs) -> Result<i32> {
    let e = open_engine(g)?;
    let mut filters = Vec::new();
    for f in &a.filter {
        match f.split_once('=') {
            Some((k @ ("type" | "event" | "action" | "container" | "pod"), v)) => {
                filters.push((k.to_string(), v.to_string()))
            }
            _ => bail!("invalid filter {f:?}: use type=, event= or container="),
        }
    }
    let since = a.since.as_deref().map(parse_time).transpose()?.unwrap_or(
        if a.no_follow || a.until.is_some() {
            i64::MIN
        } else {
            strata_os::clock::now_nanos()
        },
    );
    let until = a.until.as_deref().map(parse_time).transpose()?;
    let mut after = 0;
    loop {
        let upper = until.unwrap_or(i64::MAX);
        for ev in e.db.events(after, since, upper)? {
            after = ev.seq;
            if keep(&ev, &filters) {
                print(&ev, a.format.as_deref());
            }
        }
        if a.no_follow || until.is_some_and(|u| strata_os::clock::now_nanos() >= u) {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
