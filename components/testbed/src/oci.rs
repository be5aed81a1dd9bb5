//! Images made locally: an OCI image layout tarball of a busybox rootfs (no registry is
//! reachable here), as `ctr images import` and `docker load` take it.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The name the busybox image is imported as.
pub const BUSYBOX_IMAGE: &str = "docker.io/library/busybox:latest";

/// An uncompressed tar of a busybox rootfs.
pub fn busybox_layer() -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let tar = tmp.path().join("l.tar");
    crate::busybox_tar(&tar);
    std::fs::read(tar).unwrap()
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// Write an OCI image layout tarball of one gzip layer, named [`BUSYBOX_IMAGE`].
pub fn oci_image_tar(path: &Path, layer_tar: &[u8]) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(layer_tar).unwrap();
    let layer = gz.finish().unwrap();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(layer_tar)]}
    })
    .to_string()
    .into_bytes();
    write_layout(
        path,
        &layer,
        "application/vnd.oci.image.layer.v1.tar+gzip",
        &config,
        serde_json::json!({"io.containerd.image.name": BUSYBOX_IMAGE, "org.opencontainers.image.ref.name": "latest"}),
    );
}

/// Write an OCI image layout tarball of one image: `layer` (compressed as
/// `layer_media_type` says), its `config`, the manifest of both, and an index whose one
/// entry carries `annotations` (the name importers give the image).
pub fn write_layout(
    path: &Path,
    layer: &[u8],
    layer_media_type: &str,
    config: &[u8],
    annotations: serde_json::Value,
) {
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": config.len()},
        "layers": [{"mediaType": layer_media_type, "digest": sha(layer), "size": layer.len()}]
    })
    .to_string()
    .into_bytes();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha(&manifest), "size": manifest.len(),
            "annotations": annotations
        }]
    })
    .to_string()
    .into_bytes();
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", &index);
    for blob in [layer, config, &manifest[..]] {
        add(&format!("blobs/sha256/{}", &sha(blob)[7..]), blob);
    }
    b.into_inner().unwrap();
}
