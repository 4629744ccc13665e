//! `--tls-verify=false` against a registry served over https with a self-signed
//! certificate: accepted without verification; refused (one clear line) with it.

mod common;

use common::pulling::*;
use common::*;
use std::sync::Arc;
use strata_image::progress::NoProgress;
use strata_image::pull::pull;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_registry_needs_tls_verify_false() {
    if !registry_prereqs() || !prereqs(&["openssl"]) {
        return;
    }
    let reg = Registry::start_with(false, true);
    reg.push("busybox", "busybox:latest");
    let img = format!("{}/busybox:latest", reg.addr);

    // Verified (the default, and explicitly): refused, the store untouched.
    let (_d, st) = store();
    for verify in [None, Some(true)] {
        let mut o = opts();
        o.tls_verify = verify;
        let e = assert_fails_cleanly(&st, &o, &img, "certificate").await;
        assert!(e.contains("--tls-verify=false"), "names the way out: {e}");
    }

    // Not verified: https without verification (not a plain http fallback: the registry
    // only speaks TLS).
    let r = pull(st.clone(), &opts(), &img, Arc::new(NoProgress))
        .await
        .unwrap();
    assert!(!r.already_present);
    let rec = st.meta().find(&img).unwrap().expect("recorded");
    assert!(st
        .snapshots
        .path(&rec.layers[0].chain_id)
        .join("bin/busybox")
        .is_file());
    let r2 = pull(st.clone(), &opts(), &img, Arc::new(NoProgress))
        .await
        .unwrap();
    assert!(r2.already_present);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_verify_false_falls_back_to_plain_http() {
    if !registry_prereqs() {
        return;
    }
    let reg = Registry::start(false);
    reg.push("busybox", "busybox:latest");
    let img = format!("{}/busybox:latest", reg.addr);
    let (_d, st) = store();
    // Verified: https only, which a plain http registry cannot serve.
    let mut o = opts();
    o.tls_verify = None;
    assert_fails_cleanly(&st, &o, &img, "https://").await;
    // --tls-verify=false: the https attempt fails, plain http works.
    pull(st.clone(), &opts(), &img, Arc::new(NoProgress))
        .await
        .unwrap();
    assert!(st.meta().find(&img).unwrap().is_some());
}
