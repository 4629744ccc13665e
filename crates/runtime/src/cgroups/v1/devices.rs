//! v1 devices: deny everything, then the spec's rules in order, plus the devices every
//! container needs (runc's default allow list).

use crate::cgroups::fs::write;
use crate::error::Result;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::path::Path;

/// A device rule in the kernel's text form: `c 1:3 rwm`.
pub fn rule_text(d: &LinuxDeviceCgroup) -> String {
    let t = match d.typ() {
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => 'c',
        Some(LinuxDeviceType::B) => 'b',
        Some(LinuxDeviceType::P) => 'p',
        _ => 'a',
    };
    let n = |x: Option<i64>| {
        x.filter(|v| *v >= 0)
            .map_or("*".to_string(), |v| v.to_string())
    };
    let access = d
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    format!("{t} {}:{} {access}", n(d.major()), n(d.minor()))
}

/// Devices every container may use, whatever the spec says.
pub const DEFAULT_ALLOW: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

/// Writes the spec's rules in order, then the default allow list (as runc appends it). FIFO
/// rules are skipped: `devices.allow` takes only a, b and c.
pub fn apply(p: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    for d in rules.iter().filter(|d| d.typ() != Some(LinuxDeviceType::P)) {
        let text = rule_text(d);
        let text = if text.starts_with("a ") {
            "a".to_string()
        } else {
            text
        };
        write(
            p,
            if d.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            },
            &text,
        )?;
    }
    for r in DEFAULT_ALLOW {
        write(p, "devices.allow", r)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_texts() {
        let d: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}"#)
                .unwrap();
        assert_eq!(rule_text(&d), "c 1:3 rw");
        let d: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":false,"access":"rwm"}"#).unwrap();
        assert_eq!(rule_text(&d), "a *:* rwm");
        let d: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"b","major":8}"#).unwrap();
        assert_eq!(rule_text(&d), "b 8:* rwm");
    }
}
