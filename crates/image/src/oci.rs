//! OCI image-spec and Docker schema2 documents: descriptors, manifests, indexes, configs,
//! and platform selection.

use crate::digest::Digest;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI layer, gzip.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI layer, zstd.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI layer, uncompressed.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Docker schema2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config media type.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker layer (gzip).
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The `Accept` header sent for manifests.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// A platform (os, architecture, variant).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (GOARCH spelling: amd64, arm64, ...).
    pub architecture: String,
    /// Operating system (linux).
    pub os: String,
    /// CPU variant (v8, v7, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// OS version (windows only).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

impl Platform {
    /// The platform this binary runs on.
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: None,
            os_version: None,
        }
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(Error::invalid(
                "platform",
                format!("{s:?}: expected os/arch[/variant]"),
            ));
        }
        Ok(Platform {
            os: parts[0].into(),
            architecture: parts[1].into(),
            variant: parts.get(2).map(|v| v.to_string()),
            os_version: None,
        })
    }

    /// Whether a descriptor's platform satisfies this wanted platform
    /// (a wanted variant must match; an unset wanted variant accepts any).
    pub fn matches(&self, other: &Platform) -> bool {
        let norm = |v: &Option<String>, arch: &str| match (arch, v.as_deref()) {
            ("arm64", None) => Some("v8".to_string()),
            _ => v.clone(),
        };
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none()
                || norm(&self.variant, &self.architecture)
                    == norm(&other.variant, &other.architecture))
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Platform (in indexes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Alternative URLs (foreign layers); never followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

/// An image manifest (OCI or Docker schema2; same shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// Media type (optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config.
    pub config: Descriptor,
    /// Layers, bottom first.
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// Media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The parts of an image config the store needs; the full JSON is kept as a blob.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfigView {
    /// Architecture.
    #[serde(default)]
    pub architecture: String,
    /// OS.
    #[serde(default)]
    pub os: String,
    /// Variant.
    #[serde(default)]
    pub variant: Option<String>,
    /// Creation time (RFC 3339).
    #[serde(default)]
    pub created: Option<String>,
    /// The layer diff ids.
    pub rootfs: RootFs,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Digests of the uncompressed layers, bottom first.
    pub diff_ids: Vec<Digest>,
}

/// A parsed manifest document of either kind.
#[derive(Debug, Clone)]
pub enum Document {
    /// A single-platform manifest.
    Manifest(Box<Manifest>),
    /// An index or manifest list.
    Index(Index),
}

impl Document {
    /// Parses a manifest body, using the Content-Type if given, else the body's `mediaType`
    /// (or the presence of `manifests`).
    pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| Error::invalid("manifest", format!("malformed json: {e}")))?;
        let mt = v
            .get("mediaType")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .or_else(|| content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_string()))
            .unwrap_or_default();
        let is_index =
            mt == OCI_INDEX || mt == DOCKER_LIST || (mt.is_empty() && v.get("manifests").is_some());
        if is_index {
            let idx: Index = serde_json::from_value(v).map_err(|e| Error::invalid("index", e))?;
            return Ok(Document::Index(idx));
        }
        if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) {
            return Err(Error::invalid(
                "manifest",
                "docker schema1 manifests are not supported",
            ));
        }
        if !(mt.is_empty() || mt == OCI_MANIFEST || mt == DOCKER_MANIFEST) {
            return Err(Error::invalid(
                "manifest",
                format!("unsupported media type {mt:?}"),
            ));
        }
        let m: Manifest = serde_json::from_value(v).map_err(|e| Error::invalid("manifest", e))?;
        Ok(Document::Manifest(Box::new(m)))
    }
}

impl Index {
    /// Picks the manifest for `want` (the first match, as containerd and podman do).
    pub fn select(&self, want: &Platform) -> Result<&Descriptor> {
        self.manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
            .ok_or_else(|| {
                let have: Vec<String> = self
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                    .collect();
                Error::NotFound(format!("platform {want} (index has {})", have.join(", ")))
            })
    }
}

/// Layer compression, from the media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// The compression a layer media type announces.
    pub fn from_media_type(mt: &str) -> Result<Self> {
        Ok(match mt {
            OCI_LAYER_GZIP
            | DOCKER_LAYER_GZIP
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => Compression::Gzip,
            OCI_LAYER_ZSTD | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => {
                Compression::Zstd
            }
            OCI_LAYER_TAR | "application/vnd.docker.image.rootfs.diff.tar" => Compression::None,
            other => {
                return Err(Error::invalid(
                    "layer",
                    format!("unsupported media type {other:?}"),
                ))
            }
        })
    }

    /// Detects compression from the first bytes of a stream (for docker-archive layers).
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// containerd's chain ids: `chain(0) = diff(0)`, `chain(n) = sha256(chain(n-1) + " " + diff(n))`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = chain_id(out.last(), d);
        out.push(next);
    }
    out
}

/// The chain id of a layer with diff id `diff` over the chain `parent` (none: the bottom
/// layer, whose chain id is its diff id).
pub fn chain_id(parent: Option<&Digest>, diff: &Digest) -> Digest {
    match parent {
        None => diff.clone(),
        Some(p) => Digest::of(format!("{p} {diff}").as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_matching() {
        let idx = Index {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: vec![
                Descriptor {
                    media_type: OCI_MANIFEST.into(),
                    digest: Digest::of(b"a"),
                    size: 1,
                    platform: Some(Platform::parse("linux/amd64").unwrap()),
                    annotations: None,
                    urls: None,
                },
                Descriptor {
                    media_type: OCI_MANIFEST.into(),
                    digest: Digest::of(b"b"),
                    size: 1,
                    platform: Some(Platform::parse("linux/arm64/v8").unwrap()),
                    annotations: None,
                    urls: None,
                },
            ],
            annotations: None,
        };
        assert_eq!(
            idx.select(&Platform::parse("linux/arm64").unwrap())
                .unwrap()
                .digest,
            Digest::of(b"b")
        );
        assert_eq!(
            idx.select(&Platform::parse("linux/arm64/v8").unwrap())
                .unwrap()
                .digest,
            Digest::of(b"b")
        );
        assert_eq!(
            idx.select(&Platform::parse("linux/amd64").unwrap())
                .unwrap()
                .digest,
            Digest::of(b"a")
        );
        let e = idx
            .select(&Platform::parse("linux/s390x").unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux/s390x"), "{e}");
    }

    #[test]
    fn malformed_manifest() {
        assert!(Document::parse(b"{not json", None)
            .unwrap_err()
            .to_string()
            .contains("malformed json"));
        assert!(Document::parse(br#"{"schemaVersion":2,"layers":[]}"#, None).is_err());
    }

    #[test]
    fn chain_id_formula() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], Digest::of(format!("{a} {b}").as_bytes()));
    }
}
