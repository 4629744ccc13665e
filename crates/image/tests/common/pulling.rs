//! Shared pieces of the pull tests: a store in a temporary directory, registry options
//! for the test registries, and the check that a failed pull is one line and changes nothing.

use super::tree;
use std::sync::Arc;
use strata_image::progress::NoProgress;
use strata_image::pull::pull;
use strata_image::registry::RegistryOptions;
use strata_image::store::Store;

/// A fresh store (root and runroot) in a temporary directory, kept while the guard lives.
pub fn store() -> (tempfile::TempDir, Arc<Store>) {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(&d.path().join("root"), &d.path().join("run")).unwrap();
    (d, Arc::new(s))
}

/// Registry options for the loopback test registries: no TLS verification, no auth file.
pub fn opts() -> RegistryOptions {
    let mut o = RegistryOptions::new();
    o.tls_verify = Some(false);
    o.auth_file = std::env::temp_dir().join("strata-test-no-auth.json");
    o
}

/// Pulls `img`, which must fail with a one-line error naming the image and containing
/// `want`, leaving the store's files unchanged; returns the error text.
pub async fn assert_fails_cleanly(
    st: &Arc<Store>,
    o: &RegistryOptions,
    img: &str,
    want: &str,
) -> String {
    let before = tree(&st.root);
    let e = pull(st.clone(), o, img, Arc::new(NoProgress))
        .await
        .unwrap_err()
        .to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    assert!(
        e.starts_with(&format!("pull {img}: ")),
        "names the image: {e}"
    );
    assert!(e.contains(want), "{e} should contain {want}");
    assert_eq!(tree(&st.root), before, "store unchanged after: {e}");
    e
}
