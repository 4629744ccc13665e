//! `GET /containers/{id}/stats?stream=BOOL&one-shot=BOOL`: docker's stats documents, from the
//! engine's samples of the container's cgroups and /proc (as `strata stats` shows them). A
//! stream sends one a second; `stream=0` sends one whose `precpu_stats` is a sample taken a
//! moment before (so CPU % can be computed), `one-shot=1` one without it.

use super::{load_running, named};
use crate::body::{channel, json, Body};
use crate::error::ApiError;
use crate::query::Query;
use crate::state::Api;
use bytes::Bytes;
use hyper::{header, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use strata_engine::container::stats::{self, Sample};

/// The time between two samples of a stream.
const INTERVAL: Duration = Duration::from_secs(1);

/// The gap before the second sample of `stream=0`.
const PRE_GAP: Duration = Duration::from_millis(500);

/// The host's CPU time (all CPUs, nanoseconds) from /proc/stat, as docker's
/// `system_cpu_usage`.
pub fn system_cpu_nanos() -> u64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse::<u64>().ok())
        .sum();
    ticks * (1_000_000_000 / 100)
}

fn cpu(s: Option<&(Sample, u64)>, ncpu: u64) -> Value {
    match s {
        Some((s, sys)) => {
            let mut usage = json!({"total_usage": s.cpu_nanos,
                "usage_in_kernelmode": s.cpu_kernel_nanos, "usage_in_usermode": s.cpu_user_nanos});
            // Per CPU where the cgroup tells it (v1), as docker leaves it out on v2.
            if !s.percpu_nanos.is_empty() {
                usage["percpu_usage"] = json!(s.percpu_nanos);
            }
            let (periods, throttled, time) = s.throttling;
            json!({
                "cpu_usage": usage,
                "system_cpu_usage": sys,
                "online_cpus": ncpu,
                "throttling_data": {"periods": periods, "throttled_periods": throttled, "throttled_time": time},
            })
        }
        None => json!({
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        }),
    }
}

/// One stats document.
pub fn document(name: &str, id: &str, cur: &(Sample, u64), pre: Option<&(Sample, u64)>) -> Value {
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let s = &cur.0;
    let read = strata_os::clock::rfc3339_nanos(s.time);
    let preread = pre.map_or("0001-01-01T00:00:00Z".to_string(), |p| {
        strata_os::clock::rfc3339_nanos(p.0.time)
    });
    json!({
        "read": read,
        "preread": preread,
        "name": format!("/{name}"),
        "id": id,
        "num_procs": 0,
        "pids_stats": {"current": s.pids},
        "cpu_stats": cpu(Some(cur), ncpu),
        "precpu_stats": cpu(pre, ncpu),
        "memory_stats": {"usage": s.mem_usage, "limit": s.mem_limit, "stats": {}},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 0, "minor": 0, "op": "Read", "value": s.blk_read},
            {"major": 0, "minor": 0, "op": "Write", "value": s.blk_write},
        ]},
        "networks": s.interfaces.iter().map(|i| (i.name.clone(), json!({
            "rx_bytes": i.rx[0], "rx_packets": i.rx[1], "rx_errors": i.rx[2], "rx_dropped": i.rx[3],
            "tx_bytes": i.tx[0], "tx_packets": i.tx[1], "tx_errors": i.tx[2], "tx_dropped": i.tx[3],
        }))).collect::<serde_json::Map<String, Value>>(),
    })
}

fn sample_of(
    e: &strata_engine::Engine,
    key: &str,
) -> Result<(String, String, (Sample, u64)), ApiError> {
    let c = load_running(e, key)?;
    let s = stats::sample(e, &c).map_err(|err| named(key, err))?;
    Ok((c.name, c.id, (s, system_cpu_nanos())))
}

/// `GET /containers/{id}/stats`.
pub async fn stats(api: &Arc<Api>, key: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let stream = q.flag("stream", true);
    let one_shot = q.flag("one-shot", false);
    let k = key.to_string();
    let first = api.blocking(move |e| sample_of(e, &k)).await?;
    if !stream {
        let (name, id, cur) = first;
        if one_shot {
            return Ok(json(&document(&name, &id, &cur, None)));
        }
        tokio::time::sleep(PRE_GAP).await;
        let k = key.to_string();
        let (_, _, next) = api.blocking(move |e| sample_of(e, &k)).await?;
        return Ok(json(&document(&name, &id, &next, Some(&cur))));
    }
    let (tx, body) = channel(2);
    let api = Arc::clone(api);
    let key = key.to_string();
    tokio::spawn(async move {
        let (name, id, mut pre) = first;
        let mut doc = document(&name, &id, &pre, None);
        loop {
            let mut b = serde_json::to_vec(&doc).unwrap_or_default();
            b.push(b'\n');
            if tx.send(Bytes::from(b)).await.is_err() {
                return;
            }
            tokio::time::sleep(INTERVAL).await;
            let k = key.clone();
            let Ok((_, _, cur)) = api.blocking(move |e| sample_of(e, &k)).await else {
                return; // the container stopped: the stream ends
            };
            doc = document(&name, &id, &cur, Some(&pre));
            pre = cur;
        }
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("static headers"))
}
