//! Between the image JSON an engine stores (`config` as dockerd writes it) and the
//! Dockerfile evaluator's [`ImageConfig`]: a base image's config read in, each step's
//! config written back over the base's other fields.

use std::time::Duration;

use dockerfile::{HealthcheckArgs, ImageConfig};
use serde_json::{json, Map, Value};

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    })
}

fn keys(v: Option<&Value>) -> impl Iterator<Item = String> + '_ {
    v.and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.keys().cloned())
}

/// What the evaluator needs from a base image's config JSON (`config` object).
pub fn from_json(config: &Value, author: &str) -> ImageConfig {
    let c = config;
    let nanos = |k: &str| {
        c.pointer(&format!("/Healthcheck/{k}"))
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
            .map(Duration::from_nanos)
    };
    ImageConfig {
        env: strings(c.get("Env")).unwrap_or_default(),
        cmd: strings(c.get("Cmd")),
        entrypoint: strings(c.get("Entrypoint")),
        working_dir: c
            .get("WorkingDir")
            .and_then(Value::as_str)
            .unwrap_or("")
            .into(),
        user: c.get("User").and_then(Value::as_str).unwrap_or("").into(),
        labels: c
            .get("Labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        exposed_ports: keys(c.get("ExposedPorts")).collect(),
        volumes: keys(c.get("Volumes")).collect(),
        stop_signal: c
            .get("StopSignal")
            .and_then(Value::as_str)
            .map(String::from),
        healthcheck: c
            .get("Healthcheck")
            .filter(|h| h.is_object())
            .map(|_| HealthcheckArgs {
                test: strings(c.pointer("/Healthcheck/Test")).unwrap_or_default(),
                interval: nanos("Interval"),
                timeout: nanos("Timeout"),
                start_period: nanos("StartPeriod"),
                start_interval: nanos("StartInterval"),
                retries: c.pointer("/Healthcheck/Retries").and_then(Value::as_i64),
            }),
        shell: strings(c.get("Shell")),
        on_build: strings(c.get("OnBuild")).unwrap_or_default(),
        author: author.to_string(),
    }
}

fn list(v: &Option<Vec<String>>) -> Value {
    match v {
        Some(v) => json!(v),
        None => Value::Null,
    }
}

fn set(v: &std::collections::BTreeSet<String>) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    Value::Object(v.iter().map(|k| (k.clone(), json!({}))).collect())
}

/// `cfg` written over `base` (a base image's `config` object, or `{}`), as dockerd's
/// container config: fields the Dockerfile does not touch keep the base's values.
pub fn to_json(cfg: &ImageConfig, base: &Value) -> Value {
    let mut m: Map<String, Value> = base.as_object().cloned().unwrap_or_default();
    for (k, v) in [
        ("Hostname", json!("")),
        ("Domainname", json!("")),
        ("User", json!("")),
        ("AttachStdin", json!(false)),
        ("AttachStdout", json!(false)),
        ("AttachStderr", json!(false)),
        ("Tty", json!(false)),
        ("OpenStdin", json!(false)),
        ("StdinOnce", json!(false)),
        ("Image", json!("")),
    ] {
        m.entry(k).or_insert(v);
    }
    m.insert("Env".into(), json!(cfg.env));
    m.insert("Cmd".into(), list(&cfg.cmd));
    m.insert("Entrypoint".into(), list(&cfg.entrypoint));
    m.insert("WorkingDir".into(), json!(cfg.working_dir));
    m.insert("User".into(), json!(cfg.user));
    m.insert(
        "Labels".into(),
        if cfg.labels.is_empty() && m.get("Labels").is_none_or(Value::is_null) {
            Value::Null
        } else {
            json!(cfg.labels)
        },
    );
    m.insert("ExposedPorts".into(), set(&cfg.exposed_ports));
    m.insert("Volumes".into(), set(&cfg.volumes));
    m.insert(
        "OnBuild".into(),
        if cfg.on_build.is_empty() {
            Value::Null
        } else {
            json!(cfg.on_build)
        },
    );
    for (k, v) in [
        ("StopSignal", cfg.stop_signal.as_ref().map(|s| json!(s))),
        ("Shell", cfg.shell.as_ref().map(|s| json!(s))),
        (
            "Healthcheck",
            cfg.healthcheck.as_ref().map(|h| {
                let mut o = json!({ "Test": h.test });
                let d = |x: Option<Duration>| x.map(|d| json!(d.as_nanos() as u64));
                for (k, v) in [
                    ("Interval", d(h.interval)),
                    ("Timeout", d(h.timeout)),
                    ("StartPeriod", d(h.start_period)),
                    ("StartInterval", d(h.start_interval)),
                    ("Retries", h.retries.map(|r| json!(r))),
                ] {
                    if let Some(v) = v {
                        o[k] = v;
                    }
                }
                o
            }),
        ),
    ] {
        match v {
            Some(v) => {
                m.insert(k.into(), v);
            }
            None => {
                m.remove(k);
            }
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_what_the_dockerfile_set() {
        let base = json!({"Env": ["PATH=/bin"], "Cmd": ["sh"], "Hostname": "x"});
        let mut cfg = from_json(&base, "");
        cfg.env.push("A=b".into());
        cfg.exposed_ports.insert("80/tcp".into());
        let out = to_json(&cfg, &base);
        assert_eq!(out["Env"], json!(["PATH=/bin", "A=b"]));
        assert_eq!(out["Cmd"], json!(["sh"]));
        assert_eq!(out["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(out["Hostname"], json!("x"));
        assert_eq!(out["Volumes"], Value::Null);
    }
}
