//! The reference peer itself works here: Debian's dockerd on a private socket runs a
//! locally imported busybox image, and leaves no mounts behind when dropped.

use testbed::{DockerdOptions, RefDockerd};

#[test]
fn reference_dockerd_runs_a_locally_imported_busybox() {
    let dir;
    {
        let d = RefDockerd::start(DockerdOptions::default());
        d.import_busybox("busybox:latest");
        let out = d.docker(&["run", "--rm", "--network=none", "busybox", "echo", "hi"]);
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            d.log()
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
        dir = d.dir.path().to_path_buf();
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !info.contains(dir.to_str().unwrap()),
        "mounts left under {}",
        dir.display()
    );
}
