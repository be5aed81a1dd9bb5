//! Random identifiers and names: 64-hex container/exec ids and docker's
//! `adjective_surname` container names.

use std::io::Read;

/// 32 random bytes from the kernel, hex encoded: a container, exec or volume id.
pub fn random_id() -> String {
    let mut buf = [0u8; 32];
    let mut f = std::fs::File::open("/dev/urandom").expect("/dev/urandom");
    f.read_exact(&mut buf).expect("read /dev/urandom");
    hex(&buf)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const LEFT: &[&str] = &[
    "admiring",
    "adoring",
    "affectionate",
    "amazing",
    "awesome",
    "blissful",
    "bold",
    "brave",
    "charming",
    "clever",
    "compassionate",
    "competent",
    "cool",
    "dazzling",
    "determined",
    "eager",
    "ecstatic",
    "elastic",
    "elegant",
    "epic",
    "festive",
    "focused",
    "friendly",
    "gallant",
    "gifted",
    "happy",
    "hopeful",
    "inspiring",
    "jolly",
    "keen",
    "kind",
    "laughing",
    "loving",
    "lucid",
    "modest",
    "nice",
    "nifty",
    "optimistic",
    "peaceful",
    "pensive",
    "practical",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "trusting",
    "upbeat",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
];

const RIGHT: &[&str] = &[
    "albattani",
    "babbage",
    "bardeen",
    "bell",
    "bohr",
    "brattain",
    "carson",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euclid",
    "euler",
    "faraday",
    "fermat",
    "feynman",
    "galileo",
    "gauss",
    "goldberg",
    "hamilton",
    "hawking",
    "hopper",
    "hypatia",
    "kepler",
    "knuth",
    "lamarr",
    "lovelace",
    "maxwell",
    "mcclintock",
    "meitner",
    "newton",
    "noether",
    "pascal",
    "pasteur",
    "ritchie",
    "shannon",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "wozniak",
    "wright",
    "yonath",
];

/// A docker-style name; `retry` > 0 appends a digit as dockerd does after a clash.
pub fn random_name(retry: u32) -> String {
    let id = random_id();
    let n = u64::from_str_radix(&id[..12], 16).unwrap_or(0);
    let left = LEFT[(n % LEFT.len() as u64) as usize];
    let right = RIGHT[((n / 997) % RIGHT.len() as u64) as usize];
    if retry > 0 {
        format!("{left}_{right}{}", n % 10)
    } else {
        format!("{left}_{right}")
    }
}

/// RFC 3339 timestamp with nanoseconds, as the Engine API writes times.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
