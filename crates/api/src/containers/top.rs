//! `GET /containers/{id}/top?ps_args=ARGS`: `ps ARGS` (default `-ef`) on the host, its rows
//! kept for the container's processes (those of its cgroup), as docker's daemon does:
//! `{"Titles": [...], "Processes": [[...], ...]}`.

use super::{load_running, named};
use crate::body::{json, Body};
use crate::error::ApiError;
use crate::query::Query;
use crate::state::Api;
use hyper::Response;
use serde_json::json;
use std::sync::Arc;
use strata_engine::container::stats;

/// Splits `ps`'s output into titles and rows (the last column takes the rest of the line),
/// keeping the rows whose PID is in `pids`.
pub fn parse_ps(out: &str, pids: &[i32]) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut lines = out.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or("couldn't find PID field in ps output")?;
    let mut rows = Vec::new();
    for l in lines {
        let mut fields: Vec<String> = Vec::new();
        let mut rest = l.trim_start();
        while fields.len() + 1 < titles.len() {
            let Some((f, r)) = rest.split_once(char::is_whitespace) else {
                break;
            };
            fields.push(f.to_string());
            rest = r.trim_start();
        }
        fields.push(rest.to_string());
        let pid: Option<i32> = fields.get(pid_col).and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            rows.push(fields);
        }
    }
    Ok((titles, rows))
}

/// `GET /containers/{id}/top`.
pub async fn top(api: &Arc<Api>, key: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let args: Vec<String> = q
        .get("ps_args")
        .filter(|a| !a.is_empty())
        .unwrap_or("-ef")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let key = key.to_string();
    let doc = api
        .blocking(move |e| {
            let c = load_running(e, &key)?;
            let pids = stats::pids(e, &c).map_err(|err| named(&key, err))?;
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|err| ApiError::internal(format!("top: run ps: {err} [layer: api]")))?;
            if !out.status.success() {
                return Err(ApiError::internal(format!(
                    "top: ps {}: {} [layer: api]",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            let (titles, rows) = parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
                .map_err(|m| ApiError::internal(format!("top: {m} [layer: api]")))?;
            Ok(json!({"Titles": titles, "Processes": rows}))
        })
        .await?;
    Ok(json(&doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_of_the_container() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 10 1 0 10:00 ? 00:00:00 sleep 300\nroot 11 1 0 10:00 ? 00:00:00 other thing\n";
        let (t, rows) = parse_ps(out, &[10]).unwrap();
        assert_eq!(t.len(), 8);
        assert_eq!(
            rows,
            vec![vec![
                "root",
                "10",
                "1",
                "0",
                "10:00",
                "?",
                "00:00:00",
                "sleep 300"
            ]]
        );
        assert!(parse_ps("USER COMMAND\n", &[1]).is_err());
    }
}
