//! Exec sessions: `POST /containers/{id}/exec` records what to run, `POST /exec/{id}/start`
//! runs it as a session of the container's monitor (as `strata exec` does), on a hijacked
//! connection unless detached, and `GET /exec/{id}/json` tells whether it runs and its exit
//! code (the docker CLI asks once the stream ends). Sessions live in the server's memory.

use crate::body::{empty, full, json, json_status, Body};
use crate::containers::load_running;
use crate::error::ApiError;
use crate::hijack::{self, Streams};
use crate::query::Query;
use crate::router::parse_json;
use crate::state::Api;
use hyper::body::Incoming;
use hyper::{header, Request, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use strata_monitor::protocol::{exec_failure_status, ExecRequest, Request as MonitorRequest};

/// What happened to a session.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    /// It runs.
    pub running: bool,
    /// Its exit code, once it ended.
    pub exit_code: Option<i32>,
    /// Its pid (the monitor's session id, for resizes).
    pub pid: i32,
    /// When it ended (ended sessions are forgotten a while later).
    pub ended: Option<std::time::Instant>,
}

/// How long an ended session's exit code stays to be asked for.
const KEEP_ENDED: std::time::Duration = std::time::Duration::from_secs(300);

/// One exec session.
#[derive(Debug)]
pub struct Session {
    /// Its id.
    pub id: String,
    /// The container's id.
    pub container: String,
    /// What the monitor runs.
    pub req: ExecRequest,
    /// `User` as given.
    pub user: String,
    /// Streams asked for.
    pub stdout: bool,
    /// Streams asked for.
    pub stderr: bool,
    /// Whether it is privileged.
    pub privileged: bool,
    /// Its progress.
    pub progress: Mutex<Progress>,
}

impl Session {
    fn update(&self, f: impl FnOnce(&mut Progress)) {
        if let Ok(mut p) = self.progress.lock() {
            f(&mut p);
        }
    }

    fn snapshot(&self) -> Progress {
        self.progress.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

fn find(api: &Api, id: &str) -> Result<Arc<Session>, ApiError> {
    api.execs
        .lock()
        .ok()
        .and_then(|m| m.get(id).cloned())
        .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id} [layer: api]")))
}

fn strings(v: &Value, field: &str) -> Result<Vec<String>, ApiError> {
    match v {
        Value::Null => Ok(vec![]),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "exec: {field}: expected a list of strings [layer: api]"
                    ))
                })
            })
            .collect(),
        _ => Err(ApiError::bad_request(format!(
            "exec: {field}: expected a list of strings [layer: api]"
        ))),
    }
}

/// `POST /containers/{id}/exec`.
pub async fn create(api: &Arc<Api>, key: &str, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let v = parse_json(body)?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "exec: the body must be a JSON object [layer: api]",
        ));
    }
    let cmd = strings(&v["Cmd"], "Cmd")?;
    if cmd.is_empty() {
        return Err(ApiError::bad_request("exec: Cmd is required [layer: api]"));
    }
    let flag = |k: &str| v[k].as_bool().unwrap_or(false);
    let user = v["User"].as_str().unwrap_or("").to_string();
    let mut req = ExecRequest {
        args: cmd,
        env: strings(&v["Env"], "Env")?,
        cwd: v["WorkingDir"]
            .as_str()
            .filter(|w| !w.is_empty())
            .map(str::to_string),
        tty: flag("Tty"),
        stdin: flag("AttachStdin"),
        ..Default::default()
    };
    let privileged = flag("Privileged");
    if privileged {
        req.caps = strata_engine::spec::security::host_caps();
    }
    let (stdout, stderr) = (flag("AttachStdout"), flag("AttachStderr"));
    let key = key.to_string();
    let u = user.clone();
    let (container, req) = api
        .blocking(move |e| {
            let c = load_running(e, &key)?;
            if !u.is_empty() {
                let r = strata_engine::spec::user::resolve_with_groups(
                    &e.paths.rootfs(&c.id),
                    &u,
                    &c.config.group_add,
                )?;
                (req.uid, req.gid, req.additional_gids) =
                    (Some(r.uid), Some(r.gid), r.additional_gids);
            }
            Ok((c.id, req))
        })
        .await?;
    let id = strata_engine::ids::new_id();
    let s = Arc::new(Session {
        id: id.clone(),
        container,
        req,
        user,
        stdout,
        stderr,
        privileged,
        progress: Mutex::new(Progress::default()),
    });
    if let Ok(mut m) = api.execs.lock() {
        m.retain(|_, x| x.snapshot().ended.is_none_or(|t| t.elapsed() < KEEP_ENDED));
        m.insert(id.clone(), s);
    }
    Ok(json_status(StatusCode::CREATED, &json!({"Id": id})))
}

/// `POST /exec/{id}/start` (`{"Detach": bool, "Tty": bool}`).
pub async fn start(
    api: &Arc<Api>,
    id: &str,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let s = find(api, id)?;
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    let on = hyper::upgrade::on(&mut req);
    let body = crate::router::read_body(req).await?;
    let v = parse_json(&body)?;
    let detach = v["Detach"].as_bool().unwrap_or(false);
    if s.snapshot().running || s.snapshot().exit_code.is_some() {
        return Err(ApiError::conflict(format!(
            "exec {id}: already started [layer: api]"
        )));
    }
    let mut r = s.req.clone();
    r.detach = detach;
    let sess = Arc::clone(&s);
    if detach {
        api.blocking(move |e| {
            let dir = e.paths.monitor(&sess.container);
            let answer = strata_monitor::protocol::call(&dir, &MonitorRequest::Exec(r), None)
                .map_err(|err| {
                    ApiError::conflict(format!(
                        "exec {}: {err} (is the container running?) [layer: monitor]",
                        sess.id
                    ))
                })?;
            if !answer.ok {
                let msg = answer.error.unwrap_or_default();
                sess.update(|p| p.exit_code = Some(exec_failure_status(&msg)));
                return Err(ApiError::internal(format!(
                    "exec {}: {msg} [layer: runtime]",
                    sess.id
                )));
            }
            sess.update(|p| {
                p.running = true;
                p.pid = answer.pid.unwrap_or(0);
            });
            Ok(())
        })
        .await?;
        return Ok(empty(StatusCode::OK));
    }
    if !upgrade {
        return Err(ApiError::bad_request(
            "exec start: the connection must be upgraded (Upgrade: tcp) [layer: api]",
        ));
    }
    let tty = r.tty;
    let opened = api
        .blocking(move |e| {
            let dir = e.paths.monitor(&sess.container);
            match strata_monitor::attach::exec(&dir, r) {
                Ok(x) => Ok(Ok(x)),
                Err(err) if err.kind() == std::io::ErrorKind::Other => Ok(Err(err.to_string())),
                Err(err) => Err(ApiError::conflict(format!(
                    "exec {}: {err} (is the container running?) [layer: monitor]",
                    sess.id
                ))),
            }
        })
        .await?;
    let streams = Streams {
        stdout: s.stdout,
        stderr: s.stderr,
        stdin: s.req.stdin,
        tty,
    };
    match opened {
        Ok((att, pid)) => {
            s.update(|p| {
                p.running = true;
                p.pid = pid;
            });
            let guard = crate::state::StreamGuard::new(api);
            tokio::spawn(async move {
                let _guard = guard;
                match on.await {
                    Ok(up) => {
                        let done = Arc::clone(&s);
                        hijack::relay(up, att, streams, move |exit| {
                            done.update(|p| {
                                p.running = false;
                                p.exit_code = Some(exit.map_or(255, |x| x.exit_code));
                                p.ended = Some(std::time::Instant::now());
                            })
                        })
                        .await
                    }
                    Err(e) => tracing::debug!("exec: upgrade: {e}"),
                }
            });
        }
        Err(msg) => {
            s.update(|p| {
                p.exit_code = Some(exec_failure_status(&msg));
                p.ended = Some(std::time::Instant::now());
            });
            let text = format!("exec failed: {msg} [layer: runtime]");
            tokio::spawn(async move {
                if let Ok(up) = on.await {
                    hijack::reply_error(up, text, tty).await;
                }
            });
        }
    }
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(
            header::CONTENT_TYPE,
            "application/vnd.docker.multiplexed-stream",
        )
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .body(full(""))
        .expect("static headers"))
}

/// `GET /exec/{id}/json`.
pub async fn inspect(api: &Arc<Api>, id: &str) -> Result<Response<Body>, ApiError> {
    let s = find(api, id)?;
    let p = s.snapshot();
    Ok(json(&json!({
        "ID": s.id,
        "Running": p.running,
        "ExitCode": p.exit_code,
        "ProcessConfig": {
            "entrypoint": s.req.args.first(),
            "arguments": s.req.args.iter().skip(1).collect::<Vec<_>>(),
            "tty": s.req.tty,
            "privileged": s.privileged,
            "user": s.user,
        },
        "OpenStdin": s.req.stdin,
        "OpenStdout": s.stdout,
        "OpenStderr": s.stderr,
        "CanRemove": false,
        "ContainerID": s.container,
        "DetachKeys": "",
        "Pid": p.pid,
    })))
}

/// `POST /exec/{id}/resize?h=R&w=C`.
pub async fn resize(api: &Arc<Api>, id: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let s = find(api, id)?;
    let rows = q.int("h")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    let cols = q.int("w")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    let session = s.snapshot().pid;
    if s.req.tty && session > 0 {
        api.blocking(move |e| {
            let r = MonitorRequest::Resize {
                rows,
                cols,
                session: Some(session),
            };
            let _ = strata_monitor::protocol::call(
                &e.paths.monitor(&s.container),
                &r,
                Some(std::time::Duration::from_secs(5)),
            );
            Ok(())
        })
        .await?;
    }
    Ok(Response::builder()
        .status(StatusCode::CREATED)
        .body(full(""))
        .expect("static headers"))
}
