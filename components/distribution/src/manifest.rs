//! The manifest formats a pull accepts (docker schema2 and OCI, single-platform and
//! lists/indexes) and the choice of one platform from a list.
//!
//! Only the fields the client acts on are modelled; the raw bytes are kept alongside
//! because a manifest's digest is the hash of exactly those bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// The `Accept` header of a manifest GET: every format [`Manifest`] understands.
pub(crate) const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// A content descriptor: what a manifest says about one blob or sub-manifest. Fields
/// are in docker's order so a serialized manifest reads as docker writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub size: u64,
    pub digest: Digest,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// `os/architecture[/variant]` of a list entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

impl Platform {
    /// The platform this engine runs: linux/amd64.
    pub fn linux_amd64() -> Platform {
        Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
            os_version: None,
        }
    }
    fn matches(&self, want: &Platform) -> bool {
        self.os == want.os
            && self.architecture == want.architecture
            && (want.variant.is_none() || self.variant == want.variant)
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

/// A single-platform image manifest (docker schema2 or OCI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// A manifest list / OCI index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// A parsed manifest of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Image(ImageManifest),
    Index(ImageIndex),
}

/// Why a manifest could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("unsupported manifest media type and no default available: {0}")]
    UnsupportedMediaType(String),
    #[error("unsupported schema version {0}")]
    SchemaVersion(u32),
    #[error("invalid manifest: {0}")]
    Json(#[from] serde_json::Error),
}

impl Manifest {
    /// Parse `bytes` served with Content-Type `media_type` (falling back on the
    /// document's own `mediaType`, then on its shape, as registries are lax about it).
    pub fn parse(media_type: &str, bytes: &[u8]) -> Result<Manifest, ManifestError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            schema_version: Option<u32>,
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(bytes)?;
        if let Some(v) = probe.schema_version {
            if v != 2 {
                return Err(ManifestError::SchemaVersion(v));
            }
        }
        let mt = match media_type.split(';').next().unwrap_or("").trim() {
            m @ (DOCKER_MANIFEST | OCI_MANIFEST | DOCKER_MANIFEST_LIST | OCI_INDEX) => {
                m.to_string()
            }
            _ => match probe.media_type {
                Some(m) => m,
                None if probe.manifests.is_some() => OCI_INDEX.into(),
                None => OCI_MANIFEST.into(),
            },
        };
        match mt.as_str() {
            DOCKER_MANIFEST | OCI_MANIFEST => Ok(Manifest::Image(serde_json::from_slice(bytes)?)),
            DOCKER_MANIFEST_LIST | OCI_INDEX => Ok(Manifest::Index(serde_json::from_slice(bytes)?)),
            other => Err(ManifestError::UnsupportedMediaType(other.into())),
        }
    }
}

impl ImageIndex {
    /// The entry for `want`; docker's wording when there is none.
    pub fn select(&self, want: &Platform) -> Option<&Descriptor> {
        self.manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| p.matches(want)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(arch: &str, variant: Option<&str>) -> serde_json::Value {
        let mut p = serde_json::json!({"architecture": arch, "os": "linux"});
        if let Some(v) = variant {
            p["variant"] = v.into();
        }
        serde_json::json!({"mediaType": OCI_MANIFEST, "size": 7,
            "digest": Digest::of(arch.as_bytes()).to_string(), "platform": p})
    }

    #[test]
    fn picks_linux_amd64_from_an_index() {
        let idx = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [desc("arm", Some("v7")), desc("amd64", None), desc("arm64", Some("v8"))]});
        let bytes = serde_json::to_vec(&idx).unwrap();
        let Manifest::Index(i) = Manifest::parse(OCI_INDEX, &bytes).unwrap() else {
            panic!("not an index")
        };
        let d = i.select(&Platform::linux_amd64()).unwrap();
        assert_eq!(d.digest, Digest::of(b"amd64"));
        let only_arm = ImageIndex {
            manifests: vec![serde_json::from_value(desc("arm64", None)).unwrap()],
            ..i
        };
        assert!(only_arm.select(&Platform::linux_amd64()).is_none());
    }

    #[test]
    fn media_type_from_header_body_or_shape() {
        let m = serde_json::json!({"schemaVersion": 2,
            "config": {"mediaType": DOCKER_CONFIG, "size": 2, "digest": Digest::of(b"{}").to_string()},
            "layers": []});
        let bytes = serde_json::to_vec(&m).unwrap();
        for ct in [DOCKER_MANIFEST, "application/json", ""] {
            assert!(matches!(
                Manifest::parse(ct, &bytes).unwrap(),
                Manifest::Image(_)
            ));
        }
        let v1 = br#"{"schemaVersion": 1, "name": "x"}"#;
        assert!(matches!(
            Manifest::parse(
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
                v1
            ),
            Err(ManifestError::SchemaVersion(1))
        ));
    }
}
