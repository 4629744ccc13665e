//! OCI hooks: run with the container state on stdin, killed at their timeout.

use crate::error::{Error, Result};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `hooks` in order with `state` (the OCI state JSON) on stdin. The first failure stops
/// the list and is returned, naming the hook kind and path.
pub fn run(kind: &str, hooks: &[Hook], state: &str) -> Result<()> {
    for h in hooks {
        run_one(kind, h, state)?;
    }
    Ok(())
}

/// Runs `hooks` in order for a kind whose failures must not stop the rest nor the lifecycle
/// (poststart, poststop): each failure is logged as a warning.
pub fn run_warn(kind: &str, hooks: &[Hook], state: &str) {
    for h in hooks {
        if let Err(e) = run_one(kind, h, state) {
            crate::logging::warn(&e.to_string());
        }
    }
}

fn run_one(kind: &str, h: &Hook, state: &str) -> Result<()> {
    let path = h.path().display().to_string();
    let fail = |m: String| Error::Other(format!("{kind} hook {path}: {m}"));
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(h.path());
    if let Some(a0) = args.first() {
        use std::os::unix::process::CommandExt;
        cmd.arg0(a0);
    }
    cmd.args(args.iter().skip(1))
        .env_clear()
        .envs(h.env().iter().flatten().filter_map(|e| e.split_once('=')))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine (EPIPE ignored).
        let _ = stdin.write_all(state.as_bytes());
    }
    let deadline = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        match child.try_wait().map_err(|e| fail(e.to_string()))? {
            Some(st) => {
                if st.success() {
                    return Ok(());
                }
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                return Err(fail(format!("{st}: {}", err.trim())));
            }
            None => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(fail(format!(
                        "timed out after {}s",
                        h.timeout().unwrap_or(0)
                    )));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(v: serde_json::Value) -> Hook {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn state_reaches_stdin_and_failure_is_named() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        let h = hook(serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}", out.display())]
        }));
        run("prestart", &[h], "{\"id\":\"x\"}").unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"id\":\"x\"}");
        let bad = hook(
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 3"]}),
        );
        let e = run("poststop", &[bad], "{}").unwrap_err().to_string();
        assert!(
            e.contains("poststop hook /bin/sh") && e.contains("nope"),
            "{e}"
        );
    }

    #[test]
    fn timeout_kills_the_hook() {
        let h =
            hook(serde_json::json!({"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}));
        let t0 = Instant::now();
        let e = run("createRuntime", &[h], "{}").unwrap_err().to_string();
        assert!(e.contains("timed out"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}
