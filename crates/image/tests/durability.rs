//! Snapshots committed unsynced by a pull: after a restart (another boot id in the marker)
//! the store drops them before any use, and the next pull fetches the layer again.

mod common;

use common::pulling::*;
use common::*;
use std::sync::Arc;
use strata_image::progress::NoProgress;
use strata_image::pull::pull;
use strata_image::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_unsynced_before_a_restart_are_dropped_and_pulled_again() {
    if !registry_prereqs() {
        return;
    }
    let reg = Registry::start(false);
    reg.push("busybox", "busybox:latest");
    let (d, st) = store();
    let img = format!("{}/busybox:latest", reg.addr);
    pull(st.clone(), &opts(), &img, Arc::new(NoProgress))
        .await
        .unwrap();
    let rec = st.meta().find(&img).unwrap().expect("recorded");
    let chain = rec.layers[0].chain_id.clone();
    let marker = st.root.join("unsynced").join(chain.hex());
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().trim(),
        boot.trim(),
        "committed unsynced, marked with this boot"
    );
    drop(st);

    // Same boot: reopening keeps everything.
    let (root, run) = (d.path().join("root"), d.path().join("run"));
    let st = Arc::new(Store::open(&root, &run).unwrap());
    assert!(st.snapshots.has(&chain));
    drop(st);

    // "After a restart": the snapshot may be torn; it is removed on open.
    std::fs::write(&marker, "00000000-0000-0000-0000-000000000000\n").unwrap();
    let st = Arc::new(Store::open(&root, &run).unwrap());
    assert!(!st.snapshots.has(&chain), "dropped before any use");
    assert!(!marker.exists());
    let rec = st.meta().find(&img).unwrap().expect("record kept");
    assert!(!st.complete(&rec));
    let r = pull(st.clone(), &opts(), &img, Arc::new(NoProgress))
        .await
        .unwrap();
    assert!(!r.already_present);
    assert_eq!(r.layers_fetched, 1);
    assert!(st.snapshots.path(&chain).join("bin/busybox").is_file());
}
