//! `ps`: containers with their status, as a table, JSON or a template.

use super::open_engine;
use crate::format::{print_list, Format};
use crate::Global;
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::collections::HashMap;
use strata_engine::container::{inspect, status, Container, Status};
use strata_engine::spec::image_config::ImageConfig;
use strata_engine::Engine;

/// `ps`'s options.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Show every container (default: running ones).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show ids only.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter: name=, id=, status=, label=KEY[=VALUE], ancestor=, exited=, pod=.
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Output: json, or a template like {{.Names}}.
    #[arg(long)]
    pub format: Option<String>,
    /// Show the latest container only.
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Show the n latest containers (all states).
    #[arg(short = 'n', long)]
    pub last: Option<usize>,
    /// Do not truncate ids and commands.
    #[arg(long)]
    pub no_trunc: bool,
}

/// How long ago, as docker says it.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172799 => format!("{} hours", s / 3600),
        172800..=1209599 => format!("{} days", s / 86400),
        1209600..=5183999 => format!("{} weeks", s / 604800),
        _ => format!("{} months", s / 2592000),
    }
}

fn since(rfc: Option<&str>) -> i64 {
    let now = strata_os::clock::now_nanos();
    rfc.and_then(strata_os::clock::parse_rfc3339)
        .map_or(0, |t| (now - t) / 1_000_000_000)
}

/// docker's STATUS column.
pub fn status_text(c: &Container) -> String {
    match c.state.status {
        Status::Running => format!(
            "Up {}",
            human_duration(since(c.state.started_at.as_deref()))
        ),
        Status::Paused => format!(
            "Up {} (Paused)",
            human_duration(since(c.state.started_at.as_deref()))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code.unwrap_or(0),
            human_duration(since(c.state.finished_at.as_deref()))
        ),
        Status::Created => "Created".into(),
        Status::Restarting => "Restarting".into(),
        Status::Removing => "Removing".into(),
        Status::Dead => "Dead".into(),
    }
}

fn ports_text(c: &Container) -> String {
    strata_engine::network::ports::published(c)
        .iter()
        .map(|p| {
            let ip = if p.host_ip.is_empty() {
                "0.0.0.0"
            } else {
                &p.host_ip
            };
            format!("{ip}:{}->{}/{}", p.host_port, p.container_port, p.protocol)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One container as a listing item (JSON, and what templates see).
pub fn item(e: &Engine, c: &Container, images: &mut HashMap<String, ImageConfig>) -> Value {
    let ic = images
        .entry(c.config.image_id.clone())
        .or_insert_with(|| strata_engine::container::start::image_config(e, c).unwrap_or_default());
    let cmd = strata_engine::spec::argv(&c.config, ic).unwrap_or_default();
    json!({
        "Id": c.id,
        "ID": c.short_id(),
        "Names": [c.name],
        "Image": c.config.image,
        "ImageID": c.config.image_id,
        "Command": cmd.join(" "),
        "Created": c.created / 1_000_000_000,
        "CreatedAt": strata_os::clock::rfc3339_nanos(c.created),
        "State": c.state.status.as_str(),
        "Status": status_text(c),
        "ExitCode": c.state.exit_code.unwrap_or(0),
        "Exited": c.state.status == Status::Exited,
        "Pid": c.state.pid,
        "Ports": ports_text(c),
        "Pod": c.pod.clone().unwrap_or_default(),
        "Labels": c.config.labels,
        "Networks": std::iter::once(inspect::network_mode_name(c))
            .chain(c.config.extra_networks.iter().map(|x| x.name.clone()))
            .collect::<Vec<_>>(),
        "RestartCount": c.state.restart_count,
    })
}

/// Whether `c` passes `filters`: podman's rule, several values of one key are alternatives,
/// different keys must all match.
pub fn matches_all(c: &Container, filters: &[String]) -> Result<bool> {
    let mut keys: Vec<&str> = filters
        .iter()
        .map(|f| f.split_once('=').map_or(f.as_str(), |(k, _)| k))
        .collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let mut any = false;
        for f in filters
            .iter()
            .filter(|f| f.split_once('=').map_or(f.as_str(), |(k, _)| k) == k)
        {
            any |= matches(c, f)?;
        }
        if !any {
            return Ok(false);
        }
    }
    Ok(true)
}

fn matches(c: &Container, f: &str) -> Result<bool> {
    let (k, v) = f.split_once('=').unwrap_or((f, ""));
    Ok(match k {
        "name" => c.name.contains(v),
        "id" => c.id.starts_with(v),
        "status" => c.state.status.as_str() == v,
        "label" => match v.split_once('=') {
            Some((lk, lv)) => c.config.labels.get(lk).is_some_and(|x| x == lv),
            None => c.config.labels.contains_key(v),
        },
        "ancestor" => {
            c.config.image == v
                || c.config
                    .image_id
                    .trim_start_matches("sha256:")
                    .starts_with(v.trim_start_matches("sha256:"))
        }
        "exited" => {
            c.state.status == Status::Exited
                && c.state.exit_code.map(|x| x.to_string()).as_deref() == Some(v)
        }
        "pod" => c.pod.as_deref().is_some_and(|p| p.starts_with(v)),
        "restart-policy" => c.config.restart.name() == v,
        _ => bail!(
            "invalid filter {f:?}: use name=, id=, status=, label=, ancestor=, exited=, pod= or restart-policy="
        ),
    })
}

/// `ps`.
pub fn ps(g: &Global, a: PsArgs) -> Result<i32> {
    let e = open_engine(g)?;
    let mut list = e.db.containers()?;
    for c in list.iter_mut() {
        status::refresh(&e, c)?;
    }
    let all = a.all
        || a.latest
        || a.last.is_some()
        || a.filter
            .iter()
            .any(|f| f.starts_with("status=") || f.starts_with("exited="));
    let mut shown: Vec<&Container> = Vec::new();
    for c in list.iter().rev() {
        if !all && !c.state.status.is_live() {
            continue;
        }
        if matches_all(c, &a.filter)? {
            shown.push(c);
        }
    }
    if a.latest {
        shown.truncate(1);
    }
    if let Some(n) = a.last {
        shown.truncate(n);
    }
    if a.quiet {
        for c in shown {
            println!(
                "{}",
                if a.no_trunc {
                    c.id.as_str()
                } else {
                    c.short_id()
                }
            );
        }
        return Ok(0);
    }
    let mut images = HashMap::new();
    let items: Vec<Value> = shown.iter().map(|c| item(&e, c, &mut images)).collect();
    let trunc = |s: &str, n: usize| {
        if a.no_trunc || s.chars().count() <= n {
            s.to_string()
        } else {
            format!("{}...", s.chars().take(n - 3).collect::<String>())
        }
    };
    print_list(
        &Format::parse(a.format.as_deref()),
        &items,
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES",
        ],
        |v| {
            let created =
                strata_os::clock::now_nanos() / 1_000_000_000 - v["Created"].as_i64().unwrap_or(0);
            vec![
                if a.no_trunc {
                    v["Id"].as_str().unwrap_or("").to_string()
                } else {
                    v["ID"].as_str().unwrap_or("").to_string()
                },
                v["Image"].as_str().unwrap_or("").to_string(),
                trunc(v["Command"].as_str().unwrap_or(""), 20),
                format!("{} ago", human_duration(created)),
                v["Status"].as_str().unwrap_or("").to_string(),
                v["Ports"].as_str().unwrap_or("").to_string(),
                v["Names"][0].as_str().unwrap_or("").to_string(),
            ]
        },
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_docker_writes_them() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3 * 3600), "3 hours");
    }
}
