//! `describe`'s text form: the cause line, then one section per layer, top down.

use serde_json::Value;
use std::fmt::Write;

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(x) => x.clone(),
        Value::Array(a) => a.iter().map(s).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

fn bytes(v: &Value) -> String {
    match v.as_u64() {
        Some(n) => crate::container::status::human_bytes(n),
        None => s(v),
    }
}

/// Renders a `describe` document as text.
pub fn text(d: &Value) -> String {
    let mut o = String::new();
    if let Some(c) = d["cause"].as_str() {
        let _ = writeln!(o, "! {c}\n");
    }
    let a = &d["app"];
    let _ = writeln!(
        o,
        "App        {} ({})",
        d["name"].as_str().unwrap_or(""),
        &d["id"].as_str().unwrap_or("")[..12.min(d["id"].as_str().unwrap_or("").len())]
    );
    let _ = writeln!(o, "  command  {}", s(&a["command"]));
    let exit = match (a["state"].as_str(), a["exitCode"].as_i64()) {
        (Some("exited"), Some(code)) => format!(
            ", exit {code}{}",
            if a["oomKilled"] == true {
                " (OOM killed)"
            } else {
                ""
            }
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        o,
        "  state    {} (pid {}{exit}), restarts {}",
        s(&a["state"]),
        s(&a["pid"]),
        s(&a["restarts"])
    );
    if let Some(lines) = a["lastLines"].as_array().filter(|l| !l.is_empty()) {
        let _ = writeln!(o, "  output   (last {})", lines.len());
        for l in lines {
            let _ = writeln!(o, "    {} | {}", s(&l["stream"]), s(&l["text"]));
        }
    }
    let c = &d["container"];
    let _ = writeln!(o, "Container  image {}", s(&c["image"]));
    if let Some(ns) = c["namespaces"].as_array() {
        for n in ns {
            let shared = if n["host"] == true { " (host's)" } else { "" };
            let _ = writeln!(
                o,
                "  ns {:<7}{}{shared}   {}",
                s(&n["type"]),
                s(&n["inode"]),
                s(&n["enter"])
            );
        }
    }
    let cg = &c["cgroup"];
    let _ = writeln!(o, "  cgroup   {}", s(&cg["path"]));
    let f = &cg["facts"];
    if c["inGuest"] == true {
        let _ = writeln!(o, "           (in the guest, under its kernel's cgroup v2)");
    } else if f.is_null() {
        let _ = writeln!(o, "           (removed when the container stopped)");
    } else {
        if !f["memory"].is_null() {
            let m = &f["memory"];
            let _ = writeln!(
                o,
                "  memory   {} / {}, OOM kills {}",
                bytes(&m["current"]),
                bytes(&m["max"]),
                s(&m["oomKills"])
            );
        }
        if !f["pids"].is_null() {
            let _ = writeln!(
                o,
                "  pids     {} / {}",
                s(&f["pids"]["current"]),
                s(&f["pids"]["max"])
            );
        }
        if !f["cpu"].is_null() {
            let p = &f["cpu"];
            let _ = writeln!(
                o,
                "  cpu      quota {} per {}, throttled {} periods",
                s(&p["quota"]),
                s(&p["period"]),
                s(&p["throttledPeriods"])
            );
        }
    }
    if c["inGuest"] == true {
        let _ = writeln!(
            o,
            "  process  in the guest (on the host: its VM's shim, pid {}); as its config asks:",
            s(&d["app"]["pid"])
        );
    }
    if !c["security"].is_null() {
        let sec = &c["security"];
        let _ = writeln!(o, "  caps     {}", s(&sec["capabilities"]["effective"]));
        let _ = writeln!(
            o,
            "  seccomp  {}, no_new_privs {}",
            s(&sec["seccomp"]),
            s(&sec["noNewPrivileges"])
        );
    }
    let r = &c["rootfs"];
    let _ = writeln!(
        o,
        "  rootfs   {} (overlay, upper {}, {} lower layer(s){})",
        s(&r["mount"]),
        s(&r["upper"]),
        r["lowers"].as_array().map_or(0, |l| l.len()),
        if r["readonly"] == true {
            ", read-only"
        } else {
            ""
        }
    );
    for m in c["mounts"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "  mount    {} -> {} ({}{})",
            s(&m["Source"]),
            s(&m["Destination"]),
            s(&m["Type"]),
            if m["RW"] == false { ", ro" } else { "" }
        );
    }
    if !c["monitor"].is_null() {
        let _ = writeln!(
            o,
            "  monitor  pid {}, rss {}",
            s(&c["monitor"]["pid"]),
            s(&c["monitor"]["rss"])
        );
    }
    match d["pod"].as_object() {
        Some(p) => {
            let _ = writeln!(
                o,
                "Pod        {}",
                p.get("name").or(p.get("id")).map(s).unwrap_or_default()
            );
            for (k, v) in p.iter().filter(|(k, _)| *k != "name" && *k != "id") {
                let _ = writeln!(o, "  {k:<8} {}", s(v));
            }
        }
        None => {
            let _ = writeln!(o, "Pod        none");
        }
    }
    let n = &d["node"];
    let _ = writeln!(o, "Node       {}", s(&n["kernel"]));
    let _ = writeln!(
        o,
        "  cgroups  {} ({})",
        s(&n["cgroups"]["layout"]),
        s(&n["cgroups"]["driver"])
    );
    let _ = writeln!(o, "  runtime  {}", s(&n["runtime"]));
    let net = &n["network"];
    // A named network's mode is its name: said once.
    let name = match net["mode"] == net["network"] {
        true => s(&net["mode"]),
        false => format!("{} {}", s(&net["mode"]), s(&net["network"])),
    };
    let _ = writeln!(
        o,
        "  network  {name} ip {} gw {}",
        s(&net["ip"]),
        s(&net["gateway"])
    );
    for x in net["others"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "  network  {} ip {} ({})",
            s(&x["network"]),
            s(&x["ip"]),
            s(&x["interface"])
        );
    }
    if let Some(p) = net["ports"].as_object().filter(|p| !p.is_empty()) {
        for (k, v) in p {
            for b in v.as_array().into_iter().flatten() {
                let _ = writeln!(
                    o,
                    "  port     {}:{} -> {k}",
                    s(&b["HostIp"]),
                    s(&b["HostPort"])
                );
            }
        }
    }
    let _ = writeln!(o, "VM         {}", s(&d["vm"]));
    let _ = writeln!(o, "Hypervisor {}", s(&d["hypervisor"]));
    if let Some(ev) = d["events"].as_array().filter(|e| !e.is_empty()) {
        let _ = writeln!(o, "Events");
        for e in ev {
            let attrs = e["attributes"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", s(v)))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let _ = writeln!(o, "  {} {} {attrs}", s(&e["time"]), s(&e["action"]));
        }
    }
    o
}
