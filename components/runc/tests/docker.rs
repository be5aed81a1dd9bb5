//! Debian's dockerd 20.10 (through Debian's containerd and its runc shim) with our
//! runtime as the default: the path every `docker run` on a host with this runc takes.

use std::process::Output;

use testbed::{DockerdOptions, RefDockerd};

fn dockerd() -> RefDockerd {
    let runc = testbed::workspace_bin("runc");
    let d = RefDockerd::start(DockerdOptions {
        args: vec![
            format!("--add-runtime=ours={}", runc.display()),
            "--default-runtime=ours".into(),
        ],
        ..Default::default()
    });
    d.import_busybox("busybox:latest");
    d
}

fn ok(d: &RefDockerd, out: Output) -> String {
    assert!(
        out.status.success(),
        "docker failed ({:?}): {}\n--- dockerd log ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn run_rm_echo() {
    let d = dockerd();
    let out = d.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(ok(&d, out), "hi\n");
    // It really went through our runtime.
    let info = d.docker(&["info", "--format", "{{.DefaultRuntime}}"]);
    assert_eq!(ok(&d, info).trim(), "ours");
}
