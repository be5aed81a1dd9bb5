//! The Go types behind `inspect -f`: the real CLI decodes the daemon's JSON into its
//! API structs before running the template, so a `null` or absent slice prints `[]`,
//! a map `map[]` and a pointer `<nil>`, and a map whose keys look like field names
//! still prints as a map. These tables name the slice, map and pointer fields of each
//! object so the JSON can be typed the same way.

use serde_json::Value as Json;

use crate::template::Val;

#[derive(Clone, Copy)]
enum Shape {
    Slice,
    Map,
    Ptr,
}
use Shape::{Map, Ptr, Slice};

/// `container.Config`, shared by containers and images.
const CONFIG: &[(&str, Shape)] = &[
    ("Cmd", Slice),
    ("Entrypoint", Slice),
    ("Env", Slice),
    ("OnBuild", Slice),
    ("Shell", Slice),
    ("Volumes", Map),
    ("Labels", Map),
    ("ExposedPorts", Map),
    ("Healthcheck", Ptr),
];

const CONTAINER: &[(&str, Shape)] = &[
    ("Args", Slice),
    ("ExecIDs", Slice),
    ("Mounts", Slice),
    ("Node", Ptr),
    ("SizeRw", Ptr),
    ("SizeRootFs", Ptr),
    ("ImageManifestDescriptor", Ptr),
    ("State.Health", Ptr),
    ("GraphDriver.Data", Map),
    ("HostConfig.Binds", Slice),
    ("HostConfig.PortBindings", Map),
    ("HostConfig.VolumesFrom", Slice),
    ("HostConfig.Annotations", Map),
    ("HostConfig.CapAdd", Slice),
    ("HostConfig.CapDrop", Slice),
    ("HostConfig.Dns", Slice),
    ("HostConfig.DnsOptions", Slice),
    ("HostConfig.DnsSearch", Slice),
    ("HostConfig.ExtraHosts", Slice),
    ("HostConfig.GroupAdd", Slice),
    ("HostConfig.Links", Slice),
    ("HostConfig.SecurityOpt", Slice),
    ("HostConfig.StorageOpt", Map),
    ("HostConfig.Tmpfs", Map),
    ("HostConfig.Sysctls", Map),
    ("HostConfig.BlkioWeightDevice", Slice),
    ("HostConfig.BlkioDeviceReadBps", Slice),
    ("HostConfig.BlkioDeviceWriteBps", Slice),
    ("HostConfig.BlkioDeviceReadIOps", Slice),
    ("HostConfig.BlkioDeviceWriteIOps", Slice),
    ("HostConfig.Devices", Slice),
    ("HostConfig.DeviceCgroupRules", Slice),
    ("HostConfig.DeviceRequests", Slice),
    ("HostConfig.Ulimits", Slice),
    ("HostConfig.MemorySwappiness", Ptr),
    ("HostConfig.OomKillDisable", Ptr),
    ("HostConfig.PidsLimit", Ptr),
    ("HostConfig.Mounts", Slice),
    ("HostConfig.MaskedPaths", Slice),
    ("HostConfig.ReadonlyPaths", Slice),
    ("HostConfig.Init", Ptr),
    ("HostConfig.LogConfig.Config", Map),
    ("NetworkSettings.Ports", Map),
    ("NetworkSettings.SecondaryIPAddresses", Slice),
    ("NetworkSettings.SecondaryIPv6Addresses", Slice),
    ("NetworkSettings.Networks", Map),
    ("NetworkSettings.Networks.*.IPAMConfig", Ptr),
    ("NetworkSettings.Networks.*.Links", Slice),
    ("NetworkSettings.Networks.*.Aliases", Slice),
    ("NetworkSettings.Networks.*.DriverOpts", Map),
    ("NetworkSettings.Networks.*.DNSNames", Slice),
];

const IMAGE: &[(&str, Shape)] = &[
    ("RepoTags", Slice),
    ("RepoDigests", Slice),
    ("ContainerConfig", Ptr),
    ("Descriptor", Ptr),
    ("Manifests", Slice),
    ("GraphDriver.Data", Map),
    ("RootFS.Layers", Slice),
];

const VOLUME: &[(&str, Shape)] = &[
    ("Labels", Map),
    ("Options", Map),
    ("Status", Map),
    ("UsageData", Ptr),
    ("ClusterVolume", Ptr),
];

const NETWORK: &[(&str, Shape)] = &[
    ("IPAM.Config", Slice),
    ("IPAM.Options", Map),
    ("Containers", Map),
    ("Options", Map),
    ("Labels", Map),
    ("Peers", Slice),
    ("Services", Map),
];

/// Which API struct an inspected object decodes into.
#[derive(Clone, Copy, PartialEq)]
pub enum Object {
    Container,
    Image,
    Network,
    Volume,
}

/// The daemon's JSON for `object`, typed as the real CLI's structs would hold it.
pub fn typed(json: &Json, object: Object) -> Val {
    let mut v = Val::from_json(json);
    let (own, config): (&[(&str, Shape)], bool) = match object {
        Object::Container => (CONTAINER, true),
        Object::Image => (IMAGE, true),
        Object::Network => (NETWORK, false),
        Object::Volume => (VOLUME, false),
    };
    for (path, shape) in own {
        apply(&mut v, &path.split('.').collect::<Vec<_>>(), *shape);
    }
    if config {
        for (path, shape) in CONFIG {
            apply(&mut v, &["Config", path], *shape);
            if object == Object::Image {
                apply(&mut v, &["ContainerConfig", path], *shape);
            }
        }
    }
    v
}

fn apply(v: &mut Val, path: &[&str], shape: Shape) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let fields = match v {
        Val::Struct(f) | Val::Map(f) => f,
        _ => return,
    };
    if *first == "*" {
        for (_, child) in fields.iter_mut() {
            apply(child, rest, shape);
        }
        return;
    }
    if rest.is_empty() {
        match fields.iter_mut().find(|(k, _)| k == first) {
            Some((_, leaf)) => shape_leaf(leaf, shape),
            // omitempty fields the daemon left out are zero values in the struct.
            None => fields.push((first.to_string(), Val::Absent(Box::new(nil_of(shape))))),
        }
        return;
    }
    if let Some((_, child)) = fields.iter_mut().find(|(k, _)| k == first) {
        apply(child, rest, shape);
    }
}

fn shape_leaf(leaf: &mut Val, shape: Shape) {
    match (&*leaf, shape) {
        (Val::Nil, _) => *leaf = nil_of(shape),
        (Val::Struct(f), Shape::Map) => *leaf = Val::Map(f.clone()),
        _ => {}
    }
}

fn nil_of(shape: Shape) -> Val {
    match shape {
        Shape::Slice => Val::NilSlice,
        Shape::Map => Val::NilMap,
        Shape::Ptr => Val::Nil,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_and_absent_fields_take_their_go_zero_values() {
        let json = serde_json::json!({
            "Args": null,
            "State": {"Status": "running"},
            "GraphDriver": {"Data": {"MergedDir": "/m", "UpperDir": "/u"}},
            "Config": {"Volumes": null, "Labels": {"Tier": "web"}},
            "HostConfig": {"Dns": []},
        });
        let v = typed(&json, Object::Container);
        let field = |v: &Val, path: &[&str]| {
            let mut cur = v.clone();
            for p in path {
                let (Val::Struct(f) | Val::Map(f)) = cur else {
                    panic!("{p}")
                };
                cur = f.iter().find(|(k, _)| k == p).unwrap().1.clone().present();
            }
            cur.print()
        };
        assert_eq!(field(&v, &["Args"]), "[]");
        assert_eq!(field(&v, &["State", "Health"]), "<nil>");
        assert_eq!(field(&v, &["Config", "Volumes"]), "map[]");
        assert_eq!(field(&v, &["Config", "ExposedPorts"]), "map[]");
        assert_eq!(field(&v, &["Config", "Labels"]), "map[Tier:web]");
        assert_eq!(
            field(&v, &["GraphDriver", "Data"]),
            "map[MergedDir:/m UpperDir:/u]"
        );
        assert_eq!(field(&v, &["HostConfig", "Tmpfs"]), "map[]");
        assert_eq!(Val::NilMap.to_json(), serde_json::Value::Null);
        // `json .State` leaves out what the daemon left out.
        let Val::Struct(top) = &v else { panic!() };
        let state = &top.iter().find(|(k, _)| k == "State").unwrap().1;
        assert_eq!(state.to_json().to_string(), r#"{"Status":"running"}"#);
    }
}
