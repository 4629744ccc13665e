//! Pulls from fake registries (a small HTTP server in the test) for what the real one
//! will not do: malformed documents, cut connections, stalls, bearer tokens, redirects.

mod common;

use common::pulling::*;
use common::*;
use std::sync::Arc;
use strata_image::progress::NoProgress;
use strata_image::pull::pull;
use strata_image::registry::Credentials;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_manifest_is_one_line_error() {
    let mock = Mock::start(
        200,
        "application/vnd.oci.image.manifest.v1+json",
        b"{\"schemaVersion\": 2, \"layers\": [".to_vec(),
    );
    let (_d, st) = store();
    let img = format!("{}/broken:latest", mock.addr);
    assert_fails_cleanly(
        &st,
        &opts(),
        &img,
        "manifest: invalid manifest: malformed json",
    )
    .await;
}

/// A fake registry serving one single-layer image whose blob connection is cut halfway
/// on the first request; `honour_range` decides whether the retry gets a 206 or a 200.
fn cutting_registry(honour_range: bool) -> (Mock, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::Write;
    let mut b = tar::Builder::new(Vec::new());
    let data: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "big.bin", &data[..]).unwrap();
    let raw = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    let blob = gz.finish().unwrap();
    let ld = strata_image::Digest::of(&blob);
    let cfg = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [strata_image::Digest::of(&raw)]}}))
    .unwrap();
    let cd = strata_image::Digest::of(&cfg);
    let m = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": strata_image::oci::OCI_MANIFEST,
        "config": {"mediaType": strata_image::oci::OCI_CONFIG, "digest": cd, "size": cfg.len()},
        "layers": [{"mediaType": strata_image::oci::OCI_LAYER_GZIP, "digest": ld, "size": blob.len()}]}))
    .unwrap();
    let blob_hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let hits = blob_hits.clone();
    let resp = |status: &str, ct: &str, len: usize, body: &[u8]| {
        let mut r = format!("HTTP/1.1 {status}\r\nContent-Type: {ct}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
            .into_bytes();
        r.extend_from_slice(body);
        r
    };
    let mock = Mock::with(move |head| {
        let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
        if path.contains("/manifests/") {
            resp("200 OK", strata_image::oci::OCI_MANIFEST, m.len(), &m)
        } else if path.contains(cd.hex()) {
            resp("200 OK", "application/octet-stream", cfg.len(), &cfg)
        } else if path.contains(ld.hex()) {
            let n = hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let range = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("range: bytes=")
                    .map(|r| r.trim().to_string())
            });
            match (n, range) {
                (0, _) => resp(
                    "200 OK",
                    "application/octet-stream",
                    blob.len(),
                    &blob[..blob.len() / 2],
                ),
                (_, Some(r)) if honour_range => {
                    let from: usize = r.trim_end_matches('-').parse().unwrap();
                    resp(
                        "206 Partial Content",
                        "application/octet-stream",
                        blob.len() - from,
                        &blob[from..],
                    )
                }
                _ => resp("200 OK", "application/octet-stream", blob.len(), &blob),
            }
        } else {
            resp("404 Not Found", "text/plain", 0, b"")
        }
    });
    (mock, blob_hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_blob_downloads_resume_with_ranges() {
    for honour_range in [true, false] {
        let (mock, hits) = cutting_registry(honour_range);
        let (_d, st) = store();
        let img = format!("{}/cut:latest", mock.addr);
        let r = pull(st.clone(), &opts(), &img, Arc::new(NoProgress))
            .await
            .unwrap();
        assert_eq!(
            hits.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "one resumption"
        );
        let rec = st.meta().find(&r.id.to_string()).unwrap().unwrap();
        let f = st.snapshots.path(&rec.layers[0].chain_id).join("big.bin");
        assert_eq!(
            std::fs::metadata(f).unwrap().len(),
            1_200_000,
            "range honoured: {honour_range}"
        );
    }
}

/// A fake registry with bearer-token auth (the token endpoint checks basic credentials)
/// that redirects blob requests to a "storage" path, as registries backed by object
/// stores do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_and_blob_redirects() {
    let raw = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, "etc/hi", &b"hi\n"[..]).unwrap();
        b.into_inner().unwrap()
    };
    let ld = strata_image::Digest::of(&raw);
    let cfg = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [ld]}}))
    .unwrap();
    let cd = strata_image::Digest::of(&cfg);
    let m = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": strata_image::oci::OCI_MANIFEST,
        "config": {"mediaType": strata_image::oci::OCI_CONFIG, "digest": cd, "size": cfg.len()},
        "layers": [{"mediaType": strata_image::oci::OCI_LAYER_TAR, "digest": ld, "size": raw.len()}]}))
    .unwrap();
    let port = free_port();
    let realm = format!("http://127.0.0.1:{port}/token");
    let basic = Credentials::parse("alice:pw").unwrap().basic();
    let resp = |status: &str, extra: &str, body: &[u8]| {
        let mut r = format!(
            "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    let (m2, cfg2, raw2) = (m.clone(), cfg.clone(), raw.clone());
    let (cd2, ld2) = (cd.clone(), ld.clone());
    let mock = Mock::with_listener(
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap(),
        move |head| {
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            let auth = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("authorization: ")
                        .or_else(|| l.strip_prefix("Authorization: "))
                })
                .unwrap_or("")
                .trim()
                .to_string();
            if path.starts_with("/token") {
                assert!(path.contains("scope=repository%3Atok%3Apull"), "{path}");
                return if auth == basic {
                    resp(
                        "200 OK",
                        "Content-Type: application/json\r\n",
                        br#"{"token":"t0k"}"#,
                    )
                } else {
                    resp("401 Unauthorized", "", b"")
                };
            }
            if path.starts_with("/storage/") {
                assert!(
                    auth.is_empty(),
                    "no registry credentials sent to the storage"
                );
                return resp("200 OK", "", &raw2);
            }
            if auth != "Bearer t0k" {
                let ch = format!(
                "WWW-Authenticate: Bearer realm=\"{realm}\",service=\"mock\",scope=\"repository:tok:pull\"\r\n"
            );
                return resp("401 Unauthorized", &ch, b"");
            }
            if path.contains("/manifests/") {
                resp(
                    "200 OK",
                    &format!("Content-Type: {}\r\n", strata_image::oci::OCI_MANIFEST),
                    &m2,
                )
            } else if path.contains(cd2.hex()) {
                resp("200 OK", "", &cfg2)
            } else if path.contains(ld2.hex()) {
                // Another host name for the same loopback server: credentials must not follow.
                let loc = format!(
                    "Location: http://localhost:{port}/storage/{}\r\n",
                    ld2.hex()
                );
                resp("307 Temporary Redirect", &loc, b"")
            } else {
                resp("404 Not Found", "", b"")
            }
        },
    );
    let (_d, st) = store();
    let img = format!("{}/tok:latest", mock.addr);
    let e = pull(st.clone(), &opts(), &img, Arc::new(NoProgress))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("token request refused"), "{e}");
    let mut o = opts();
    o.creds = Some(Credentials::parse("alice:pw").unwrap());
    let r = pull(st.clone(), &o, &img, Arc::new(NoProgress))
        .await
        .unwrap();
    let rec = st.meta().find(&r.id.to_string()).unwrap().unwrap();
    let f = st.snapshots.path(&rec.layers[0].chain_id).join("etc/hi");
    assert_eq!(std::fs::read_to_string(f).unwrap(), "hi\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_digest_must_match_what_the_registry_sends() {
    let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#;
    let mock = Mock::start(
        200,
        "application/vnd.oci.image.manifest.v1+json",
        body.to_vec(),
    );
    let (_d, st) = store();
    let asked = strata_image::Digest::of(b"the manifest we pinned");
    let img = format!("{}/pinned@{asked}", mock.addr);
    let e = assert_fails_cleanly(&st, &opts(), &img, "manifest: digest mismatch").await;
    assert!(e.contains(asked.as_str()), "{e}");
}

/// A fake registry serving one image made of the uncompressed tars `layers` (gzipped
/// here), bottom first.
fn serving(layers: &[Vec<u8>]) -> Mock {
    use std::io::Write;
    let mut blobs = Vec::new();
    let mut descs = Vec::new();
    let mut diffs = Vec::new();
    for raw in layers {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(raw).unwrap();
        let blob = gz.finish().unwrap();
        let d = strata_image::Digest::of(&blob);
        descs.push(
            serde_json::json!({"mediaType": strata_image::oci::OCI_LAYER_GZIP,
            "digest": d, "size": blob.len()}),
        );
        diffs.push(strata_image::Digest::of(raw));
        blobs.push((d, blob));
    }
    let cfg = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diffs}}))
    .unwrap();
    let cd = strata_image::Digest::of(&cfg);
    let m = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": strata_image::oci::OCI_MANIFEST,
        "config": {"mediaType": strata_image::oci::OCI_CONFIG, "digest": cd, "size": cfg.len()},
        "layers": descs}))
    .unwrap();
    blobs.push((cd, cfg));
    Mock::with(move |head| {
        let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
        let (status, body): (&str, &[u8]) = if path.contains("/manifests/") {
            ("200 OK", &m)
        } else if let Some((_, b)) = blobs.iter().find(|(d, _)| path.contains(d.hex())) {
            ("200 OK", b)
        } else {
            ("404 Not Found", b"")
        };
        let mut r = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            strata_image::oci::OCI_MANIFEST,
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    })
}

/// A tar entry: name, content, an xattr (name, value) set on it if any.
type Entry<'a> = (&'a str, &'a [u8], Option<(&'a str, &'a [u8])>);

/// A tar of `entries`.
fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data, xattr) in entries {
        if let Some((k, v)) = xattr {
            // A PAX header with one SCHILY.xattr record for the next entry.
            let kv = format!(" SCHILY.xattr.{k}=");
            let len = kv.len() + v.len() + 1;
            let mut total = len + len.to_string().len();
            if total.to_string().len() != len.to_string().len() {
                total += 1;
            }
            let mut rec = format!("{total}{kv}").into_bytes();
            rec.extend_from_slice(v);
            rec.push(b'\n');
            let mut h = tar::Header::new_ustar();
            h.set_path("PaxHeaders/x").unwrap();
            h.set_entry_type(tar::EntryType::XHeader);
            h.set_size(rec.len() as u64);
            h.set_cksum();
            b.append(&h, &rec[..]).unwrap();
        }
        let mut h = tar::Header::new_gnu();
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
        } else {
            h.set_mode(0o644);
        }
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A layer the unpacker refuses reports the refusal itself: not an HTTP error, not the
/// failure it causes in the layer above (which waits for it to resolve a parent
/// directory), not a cancelled download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_unpack_reports_its_cause_not_an_http_error() {
    let lower = tar_of(&[
        ("base/", b"", None),
        (
            "base/evil",
            b"x",
            Some(("trusted.overlay.redirect", b"/etc")),
        ),
    ]);
    // `base` is only in the lower layer: this layer needs it to be unpacked first.
    let upper = tar_of(&[("base/sub/file", b"data", None)]);
    let mock = serving(&[lower, upper]);
    let (_d, st) = store();
    let img = format!("{}/refused:latest", mock.addr);
    let msg =
        assert_fails_cleanly(&st, &opts(), &img, "xattr trusted.overlay.redirect refused").await;
    assert!(
        !msg.contains("lower layer failed") && !msg.contains("cancelled"),
        "{msg}"
    );
    for _ in 0..5 {
        let e = pull(st.clone(), &opts(), &img, Arc::new(NoProgress))
            .await
            .unwrap_err();
        assert!(
            matches!(e.root(), strata_image::Error::Unsafe { .. }),
            "typed as the unpacker's refusal: {e:?}"
        );
    }
}
