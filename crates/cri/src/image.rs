//! ImageService on the image store: list, status (an empty answer for an absent image),
//! pull with the client's credentials through the registries file's mirrors, idempotent
//! remove by id, tag or digest, and the image filesystem's usage.

use crate::state::Cri;
use crate::status::{image as image_err, invalid};
use k8s_cri::v1::{
    AuthConfig, FilesystemIdentifier, FilesystemUsage, Image, ImageSpec, Int64Value, UInt64Value,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use strata_image::registry::RegistryOptions;
use strata_image::registry::{Credentials, RegistriesConfig};
use strata_image::store::{ImageRecord, Store};
use tonic::Status;

/// The CRI view of a stored image.
pub fn to_cri(store: &Store, r: &ImageRecord) -> Image {
    let user = strata_image::ops::config(store, r)
        .ok()
        .and_then(|d| d["config"]["User"].as_str().map(str::to_string))
        .unwrap_or_default();
    let name = user.split(':').next().unwrap_or("");
    let (uid, username) = match name.parse::<i64>() {
        Ok(n) => (Some(Int64Value { value: n }), String::new()),
        Err(_) if name.is_empty() => (Some(Int64Value { value: 0 }), String::new()),
        Err(_) => (None, name.to_string()),
    };
    Image {
        id: r.id.to_string(),
        repo_tags: r
            .names
            .iter()
            .filter(|n| !n.contains('@'))
            .cloned()
            .collect(),
        repo_digests: r.repo_digests.clone(),
        size: r.size,
        uid,
        username,
        spec: Some(ImageSpec {
            image: r.id.to_string(),
            ..Default::default()
        }),
        pinned: false,
    }
}

fn key(spec: Option<ImageSpec>) -> Result<String, Status> {
    spec.map(|s| s.image)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("no image given"))
}

impl Cri {
    fn default_registry(&self) -> String {
        RegistriesConfig::load(&self.registries)
            .map(|c| c.default_registry)
            .unwrap_or_else(|_| "docker.io".into())
    }

    /// ListImages (with an image filter: that image only).
    pub fn list_images(&self, filter: Option<ImageSpec>) -> Result<Vec<Image>, Status> {
        let want = filter.map(|s| s.image).filter(|s| !s.is_empty());
        if let Some(w) = want {
            return Ok(self.image_status(&w)?.into_iter().collect());
        }
        let all = self
            .store
            .meta()
            .list()
            .map_err(|e| image_err("ListImages", e))?;
        Ok(all.iter().map(|r| to_cri(&self.store, r)).collect())
    }

    /// ImageStatus: `None` when the image is not in the store.
    pub fn image_status(&self, image: &str) -> Result<Option<Image>, Status> {
        match strata_image::ops::lookup(&self.store, image, &self.default_registry()) {
            Ok(r) => Ok(Some(to_cri(&self.store, &r))),
            Err(e) if crate::status::image_code(&e) == tonic::Code::NotFound => Ok(None),
            Err(strata_image::Error::Invalid { .. }) => Ok(None),
            Err(e) => Err(image_err(&format!("ImageStatus {image}"), e)),
        }
    }

    /// ImageStatus's verbose info.
    pub fn image_info(&self, image: &str) -> HashMap<String, String> {
        let mut info = HashMap::new();
        if let Ok(r) = strata_image::ops::lookup(&self.store, image, &self.default_registry()) {
            if let Ok(doc) = strata_image::ops::inspect(&self.store, &r) {
                info.insert("info".to_string(), doc.to_string());
            }
        }
        info
    }

    /// PullImage: the image id (its config digest).
    pub async fn pull_image(
        self: &Arc<Self>,
        spec: Option<ImageSpec>,
        auth: Option<AuthConfig>,
    ) -> Result<String, Status> {
        let image = key(spec)?;
        let what = format!("PullImage {image}");
        let mut opts = RegistryOptions::new();
        opts.config = RegistriesConfig::load(&self.registries)
            .map_err(|e| Status::failed_precondition(format!("{what}: {e} [layer: image]")))?;
        if let Some(a) = auth {
            opts.creds = credentials(&a).map_err(|m| invalid(format!("{what}: {m}")))?;
        }
        let r = strata_image::pull::pull(
            Arc::clone(&self.store),
            &opts,
            &image,
            Arc::new(strata_image::progress::NoProgress),
        )
        .await
        .map_err(|e| image_err(&what, e))?;
        Ok(r.id.to_string())
    }

    /// RemoveImage by id, tag or digest; an absent image is not an error.
    pub fn remove_image(&self, spec: Option<ImageSpec>) -> Result<(), Status> {
        let image = key(spec)?;
        let reg = self.default_registry();
        // By id: every name goes with it (kubelet removes by id).
        let target = match strata_image::ops::lookup(&self.store, &image, &reg) {
            Ok(r) => r,
            Err(_) => return Ok(()),
        };
        let keys: Vec<String> =
            if image.starts_with("sha256:") || target.id.hex().starts_with(&image) {
                vec![target.id.to_string()]
            } else {
                vec![image.clone()]
            };
        for k in keys {
            match strata_image::ops::remove(&self.store, &k, &reg) {
                Ok(_) => {}
                Err(e) if crate::status::image_code(&e) == tonic::Code::NotFound => {}
                Err(e) => return Err(image_err(&format!("RemoveImage {image}"), e)),
            }
        }
        Ok(())
    }

    /// ImageFsInfo: the bytes and inodes under the store root.
    pub fn image_fs_info(&self) -> Vec<FilesystemUsage> {
        let (bytes, inodes) = usage(&self.store.root);
        vec![FilesystemUsage {
            timestamp: strata_os::clock::now_nanos(),
            fs_id: Some(FilesystemIdentifier {
                mountpoint: self.store.root.display().to_string(),
            }),
            used_bytes: Some(UInt64Value { value: bytes }),
            inodes_used: Some(UInt64Value { value: inodes }),
        }]
    }
}

/// Credentials from a CRI AuthConfig (user and password, or `auth` as base64 `user:pass`).
fn credentials(a: &AuthConfig) -> Result<Option<Credentials>, String> {
    if !a.username.is_empty() {
        return Ok(Some(Credentials {
            username: a.username.clone(),
            password: a.password.clone(),
        }));
    }
    if !a.auth.is_empty() {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(a.auth.trim())
            .map_err(|_| "auth is not base64")?;
        let s = String::from_utf8(raw).map_err(|_| "auth is not UTF-8")?;
        let (u, p) = s.split_once(':').ok_or("auth is not user:password")?;
        return Ok(Some(Credentials {
            username: u.into(),
            password: p.into(),
        }));
    }
    Ok(None)
}

/// Bytes allocated and inodes used under `dir` (not following links, one filesystem).
fn usage(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut bytes, mut inodes) = (0u64, 0u64);
    let Ok(top) = std::fs::symlink_metadata(dir) else {
        return (0, 0);
    };
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.dev() != top.dev() {
                continue;
            }
            bytes += m.blocks() * 512;
            inodes += 1;
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    (bytes, inodes)
}
