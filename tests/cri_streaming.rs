//! The CRI streaming server end to end: Exec, Attach and PortForward URLs opened over
//! WebSocket (a tokio-tungstenite client, remote-command v5 and port-forward v4) and over
//! SPDY/3.1 (tests/spdy-client: spdy-transport under Node.js, remote-command v4 and
//! port-forward as kubectl speaks them).

mod common;

use common::cri::*;
use common::{prerequisites, Engine};
use k8s_cri::v1::*;
use std::time::{Duration, Instant};
use tonic::Code;

/// Opens a streaming URL as kubectl does (WebSocket, remote-command v5); sends `input` on
/// stdin then closes it; returns (stdout, stderr, the error channel's status).
async fn stream(url: &str, input: &[u8]) -> (Vec<u8>, Vec<u8>, serde_json::Value) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let mut req = url
        .replace("http://", "ws://")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "v5.channel.k8s.io".parse().unwrap(),
    );
    let (ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    assert_eq!(
        resp.headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.to_str().unwrap()),
        Some("v5.channel.k8s.io")
    );
    let (mut tx, mut rx) = ws.split();
    if !input.is_empty() {
        let mut m = vec![0u8];
        m.extend_from_slice(input);
        tx.send(Message::Binary(m)).await.unwrap();
    }
    tx.send(Message::Binary(vec![255, 0])).await.unwrap();
    let (mut out, mut err, mut status) = (Vec::new(), Vec::new(), serde_json::Value::Null);
    while let Some(Ok(m)) = rx.next().await {
        match m {
            Message::Binary(b) if !b.is_empty() => match b[0] {
                1 => out.extend_from_slice(&b[1..]),
                2 => err.extend_from_slice(&b[1..]),
                3 => status = serde_json::from_slice(&b[1..]).unwrap(),
                _ => {}
            },
            Message::Close(_) => break,
            _ => {}
        }
    }
    (out, err, status)
}

#[test]
fn exec_and_attach_stream_over_websocket() {
    if !prerequisites() {
        return;
    }
    exec_and_attach_over_websocket("");
}

/// The same in a pod of the `strata-vm` runtime handler: the container runs in the pod's VM,
/// and kubectl's exec and attach reach it there.
#[test]
fn exec_and_attach_stream_over_websocket_into_a_strata_vm_pod() {
    if !prerequisites() {
        return;
    }
    exec_and_attach_over_websocket("strata-vm");
}

fn exec_and_attach_over_websocket(handler: &str) {
    let e = Engine::new();
    let server = Server::start_env(
        &e,
        std::path::Path::new("/nonexistent/cri.toml"),
        &[("STRATA_AGENT", common::vm_agent())],
    );
    let logs = e.dir.path().join("pod-logs");
    let sandbox = pod_config("ws", &logs);
    rt().block_on(async {
        let mut c = clients(&server).await;
        let pod = run_pod_with(&mut c, sandbox.clone(), handler).await;
        let mut cfg = container_config("app", "cat; echo after-stdin; sleep 100");
        cfg.stdin = true;
        let id = create(&mut c, &pod, &sandbox, cfg).await;
        c.rt.start_container(StartContainerRequest {
            container_id: id.clone(),
        })
        .await
        .unwrap();
        let exec = |cmd: &[&str]| ExecRequest {
            container_id: id.clone(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            stdin: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let url =
            c.rt.exec(exec(&["sh", "-c", "tr a-z A-Z; echo err >&2"]))
                .await
                .unwrap()
                .into_inner()
                .url;
        let (out, err, status) = stream(&url, b"hello\n").await;
        assert_eq!(
            (out.as_slice(), err.as_slice()),
            (&b"HELLO\n"[..], &b"err\n"[..]),
            "{status}"
        );
        assert_eq!(status["status"], "Success", "{status}");
        let url =
            c.rt.exec(exec(&["sh", "-c", "exit 3"]))
                .await
                .unwrap()
                .into_inner()
                .url;
        let (_, _, status) = stream(&url, b"").await;
        assert_eq!(status["status"], "Failure", "{status}");
        assert_eq!(status["details"]["causes"][0]["message"], "3", "{status}");
        // A URL is good once.
        let url = c.rt.exec(exec(&["true"])).await.unwrap().into_inner().url;
        stream(&url, b"").await;
        let again = tokio_tungstenite::connect_async(url.replace("http://", "ws://")).await;
        if let Ok((ws, _)) = again {
            use futures_util::StreamExt;
            let (_, mut rx) = ws.split();
            let first = rx.next().await;
            assert!(
                !matches!(
                    first,
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(_)))
                ),
                "a used URL streams nothing"
            );
        }
        // Attach: the container's own stdin and output.
        let url = attach_url(&mut c, &id).await;
        let attach = tokio::spawn(async move { stream(&url, b"via attach\n").await });
        let (out, _, _) = tokio::time::timeout(Duration::from_secs(20), async {
            // The container ends its `cat` at stdin's end, then sleeps: stop it.
            tokio::time::sleep(Duration::from_millis(500)).await;
            c.rt.stop_container(StopContainerRequest {
                container_id: id.clone(),
                timeout: 0,
            })
            .await
            .unwrap();
            attach.await.unwrap()
        })
        .await
        .expect("attach ended");
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("via attach\nafter-stdin\n"), "{out}");
        // Bad input.
        let err =
            c.rt.exec(ExecRequest {
                container_id: id.clone(),
                cmd: vec!["true".into()],
                tty: true,
                stderr: true,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        let err = c.rt.exec(exec(&["true"])).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "stopped: {err:?}");
        remove_pod(&mut c, &pod).await;
    });
    drop(server);
}

/// One port-forward round trip: `request` to the pod's port, what came back (data channel),
/// and the error channel's text.
async fn forward(url: &str, request: &[u8]) -> (Vec<u8>, String) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let mut req = url
        .replace("http://", "ws://")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "v4.channel.k8s.io".parse().unwrap(),
    );
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    let (mut tx, mut rx) = ws.split();
    let (mut data, mut err, mut announced) = (Vec::new(), String::new(), 0);
    while let Some(Ok(m)) = rx.next().await {
        match m {
            Message::Binary(b) if b.len() == 3 && announced < 2 => {
                assert_eq!(
                    u16::from_le_bytes([b[1], b[2]]),
                    8080,
                    "the port, announced"
                );
                announced += 1;
                if announced == 2 {
                    let mut m = vec![0u8];
                    m.extend_from_slice(request);
                    tx.send(Message::Binary(m)).await.unwrap();
                }
            }
            Message::Binary(b) if b.first() == Some(&0) => data.extend_from_slice(&b[1..]),
            Message::Binary(b) if b.first() == Some(&1) => {
                err.push_str(&String::from_utf8_lossy(&b[1..]))
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    (data, err)
}

#[test]
fn port_forward_reaches_the_pods_localhost() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let server = Server::start(&e);
    let logs = e.dir.path().join("pod-logs");
    let sandbox = pod_config("pf", &logs);
    rt().block_on(async {
        let mut c = clients(&server).await;
        let pod = run_pod(&mut c, sandbox.clone()).await;
        let cfg = container_config(
            "web",
            "mkdir -p /www && echo hello-pf > /www/index.html && exec httpd -f -p 8080 -h /www",
        );
        let id = create(&mut c, &pod, &sandbox, cfg).await;
        start(&mut c, &id).await;
        let t0 = Instant::now();
        loop {
            let url = port_forward_url(&mut c, &pod, 8080).await;
            let (data, err) = forward(&url, b"GET / HTTP/1.0\r\n\r\n").await;
            let text = String::from_utf8_lossy(&data);
            if text.contains("hello-pf") {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "no answer through the forward: {text} {err}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Asked for no port (critest's way): the WebSocket URL's `port=` names it.
        let url = port_forward_url_any(&mut c, &pod).await;
        let (data, err) = forward(&format!("{url}?port=8080"), b"GET / HTTP/1.0\r\n\r\n").await;
        let text = String::from_utf8_lossy(&data);
        assert!(text.contains("hello-pf"), "{text} {err}");
        remove_pod(&mut c, &pod).await;
    });
    drop(server);
}

/// A PortForward URL asked for no port: any port of the pod, named by the client.
async fn port_forward_url_any(c: &mut Clients, pod: &str) -> String {
    c.rt.port_forward(PortForwardRequest {
        pod_sandbox_id: pod.into(),
        port: vec![],
    })
    .await
    .expect("PortForward")
    .into_inner()
    .url
}

/// The SPDY client (Node.js and spdy-transport, installed by scripts/install-deps).
fn spdy_client(args: &[&str]) -> (bool, String, String) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("spdy-client");
    assert!(
        dir.join("node_modules/spdy-transport").is_dir(),
        "the SPDY test client is not installed: run scripts/install-deps"
    );
    let out = std::process::Command::new("node")
        .arg(dir.join("client.js"))
        .args(args)
        .output()
        .expect("node (scripts/install-deps installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A remote-command session through the SPDY client; its JSON report.
fn spdy_exec(url: &str, opts: &[&str]) -> serde_json::Value {
    let mut args = vec!["exec", url];
    args.extend_from_slice(opts);
    let (ok, out, err) = spdy_client(&args);
    assert!(ok, "spdy exec {opts:?}: {err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out} {err}"))
}

#[test]
fn exec_attach_and_port_forward_over_spdy() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let server = Server::start(&e);
    let logs = e.dir.path().join("pod-logs");
    let sandbox = pod_config("spdy", &logs);
    rt().block_on(async {
        let mut c = clients(&server).await;
        let pod = run_pod(&mut c, sandbox.clone()).await;
        let mut cfg = container_config(
            "app",
            "mkdir -p /www && echo hello-spdy > /www/index.html && httpd -p 8080 -h /www && \
             cat && echo after-stdin && sleep 100",
        );
        cfg.stdin = true;
        let id = create(&mut c, &pod, &sandbox, cfg).await;
        start(&mut c, &id).await;
        let exec = |cmd: &[&str], tty: bool| ExecRequest {
            container_id: id.clone(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            stdin: true,
            stdout: true,
            stderr: !tty,
            tty,
        };
        let mut url_of = async |r: ExecRequest| c.rt.exec(r).await.unwrap().into_inner().url;
        // stdin, stdout, stderr and a success.
        let url = url_of(exec(&["sh", "-c", "tr a-z A-Z; echo err >&2"], false)).await;
        let r = spdy_exec(&url, &["--stdin", "hello\n"]);
        assert_eq!(
            (&r["stdout"], &r["stderr"]),
            (&"HELLO\n".into(), &"err\n".into())
        );
        assert_eq!(r["status"]["status"], "Success", "{r}");
        // An exit status, as kubectl reads it.
        let url = url_of(exec(&["sh", "-c", "exit 3"], false)).await;
        let r = spdy_exec(&url, &["--stdin", ""]);
        assert_eq!(r["status"]["status"], "Failure", "{r}");
        assert_eq!(r["status"]["details"]["causes"][0]["message"], "3", "{r}");
        // More output than a SPDY window (64 KiB) holds, in order.
        let url = url_of(exec(&["sh", "-c", "seq 1 100000"], false)).await;
        let r = spdy_exec(&url, &["--stdin", ""]);
        let lines: Vec<&str> = r["stdout"].as_str().unwrap().lines().collect();
        assert_eq!(lines.len(), 100000);
        assert_eq!((lines[0], lines[99999]), ("1", "100000"));
        // A terminal: the resize stream sets its size; no stderr stream.
        let url = url_of(exec(&["sh", "-c", "sleep 1; stty size"], true)).await;
        let r = spdy_exec(&url, &["--tty", "--resize", "123x45", "--stdin", ""]);
        assert!(r["stdout"].as_str().unwrap().contains("45 123"), "{r}");
        // A URL is good once; a client without the v4 protocol is refused.
        let url = url_of(exec(&["true"], false)).await;
        spdy_exec(&url, &["--stdin", ""]);
        let (_, status, _) = spdy_client(&["upgrade", &url, "v4.channel.k8s.io"]);
        assert!(status.contains(" 404 "), "{status}");
        let url = url_of(exec(&["true"], false)).await;
        let (_, status, _) = spdy_client(&["upgrade", &url, "v3.channel.k8s.io"]);
        assert!(status.contains(" 403 "), "{status}");
        // Port-forward: two connections to the pod's localhost:8080 on one SPDY connection.
        let t0 = Instant::now();
        loop {
            let url = port_forward_url(&mut c, &pod, 8080).await;
            let get = "GET / HTTP/1.0\r\n\r\n";
            let (ok, out, err) = spdy_client(&["portforward", &url, "8080", get, get]);
            assert!(ok, "{err}");
            let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
            let answered = |i: usize| r[i]["data"].as_str().unwrap().contains("hello-spdy");
            if answered(0) && answered(1) {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "no answer through the forward: {r}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Asked for no port: each SPDY stream names its own.
        let url = port_forward_url_any(&mut c, &pod).await;
        let get = "GET / HTTP/1.0\r\n\r\n";
        let (ok, out, err) = spdy_client(&["portforward", &url, "8080", get]);
        assert!(ok && out.contains("hello-spdy"), "{out} {err}");
        // A port nobody listens on: the error stream says so.
        let url = port_forward_url(&mut c, &pod, 9).await;
        let (ok, out, err) = spdy_client(&["portforward", &url, "9", "x"]);
        assert!(ok, "{err}");
        assert!(out.contains("port 9") && out.contains("refused"), "{out}");
        // Attach: the container's own stdin (its `cat`) and output.
        let url = attach_url(&mut c, &id).await;
        let attach =
            tokio::task::spawn_blocking(move || spdy_exec(&url, &["--stdin", "via spdy attach\n"]));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        c.rt.stop_container(StopContainerRequest {
            container_id: id.clone(),
            timeout: 0,
        })
        .await
        .unwrap();
        let r = tokio::time::timeout(Duration::from_secs(20), attach)
            .await
            .expect("attach ended")
            .unwrap();
        let out = r["stdout"].as_str().unwrap();
        assert!(out.contains("via spdy attach\nafter-stdin\n"), "{r}");
        remove_pod(&mut c, &pod).await;
    });
    drop(server);
}
