//! The dev container end to end, against Debian's dockerd on a private socket (no
//! registry is reachable here, so the base image is bootstrapped): `xtask image`,
//! `xtask build` in the container as the invoking user, `xtask shell -- CMD`, and the
//! cache hits of an unchanged image and an unchanged tree; podman in docker's place; and
//! the one-line errors of a missing engine or a stopped daemon.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use testbed::{DockerdOptions, RefDockerd};

fn xtask(dockerd: Option<&RefDockerd>, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args).env_remove("WORKSPACE_MIRROR");
    // The pipeline under test picks its engine from the environment, as a user's would.
    cmd.env_remove("WORKSPACE_CONTAINER_ENGINE");
    if let Some(d) = dockerd {
        cmd.env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.dir.path().join("cli-config"));
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run xtask")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn bundle_binary(name: &str) -> PathBuf {
    let version = std::fs::read_to_string(root().join("VERSION")).unwrap();
    root()
        .join("bundles")
        .join(version.trim())
        .join("binary")
        .join(name)
}

/// The commit and the local changes of the tree: what the version stamp depends on.
fn tree_state() -> String {
    let git = |args: &[&str]| {
        text(
            &Command::new("git")
                .args(args)
                .current_dir(root())
                .output()
                .unwrap()
                .stdout,
        )
    };
    git(&["rev-parse", "HEAD"]) + &git(&["status", "--porcelain"])
}

#[test]
fn dev_container_builds_and_runs_our_binaries() {
    testbed::require_root();
    let dockerd = RefDockerd::start(DockerdOptions::default());
    let upstream = [("WORKSPACE_MIRROR", "upstream")];

    // The image, from a bootstrapped base: no registry answers here.
    let first = xtask(Some(&dockerd), &["image"], &upstream);
    assert!(
        first.status.success(),
        "xtask image failed:\n{}",
        text(&first.stderr)
    );
    let tag = text(&first.stdout).trim().to_owned();
    assert!(tag.starts_with("workspace-dev:"), "{tag}");
    let base = dockerd.docker(&["image", "inspect", "debian:bookworm"]);
    assert!(
        base.status.success(),
        "the bootstrapped base was not imported as debian:bookworm"
    );
    let again = xtask(Some(&dockerd), &["image"], &upstream);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout).trim(), tag);
    assert!(
        text(&again.stderr).contains("is up to date"),
        "an unchanged image was rebuilt:\n{}",
        text(&again.stderr)
    );

    // A build as someone else (as under sudo): the outputs are theirs, not root's.
    let caller = [
        ("WORKSPACE_MIRROR", "upstream"),
        ("SUDO_UID", "4321"),
        ("SUDO_GID", "4322"),
    ];
    let tree_before_build = tree_state();
    let build = xtask(Some(&dockerd), &["build", "-p", "runc"], &caller);
    assert!(
        build.status.success(),
        "xtask build failed:\n{}",
        text(&build.stderr)
    );
    let runc = bundle_binary("runc");
    let meta = std::fs::metadata(&runc).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (4321, 4322), "{}", runc.display());
    let host_run = Command::new(&runc).arg("--version").output().unwrap();
    assert!(host_run.status.success());
    let stamp = text(&host_run.stdout);
    assert!(stamp.starts_with("runc version"), "{stamp}");

    // Again: the registry and the target dir come from the volumes. With the tree
    // unchanged nothing compiles; when the tree moved meanwhile (a new commit changes
    // the version stamp) only the workspace's own crates may, never a dependency.
    let tree_after_build = tree_state();
    let rebuild = xtask(Some(&dockerd), &["build", "-p", "runc"], &caller);
    assert!(rebuild.status.success(), "{}", text(&rebuild.stderr));
    let log = text(&rebuild.stderr);
    assert!(log.contains("Finished"), "{log}");
    let compiled: Vec<&str> = log
        .lines()
        .filter(|l| l.trim_start().starts_with("Compiling"))
        .collect();
    if tree_state() == tree_after_build && tree_before_build == tree_after_build {
        assert!(compiled.is_empty(), "the rebuild compiled again:\n{log}");
    }
    let root = root().display().to_string();
    assert!(
        compiled.iter().all(|l| l.contains(&root)),
        "the rebuild compiled dependencies again (cache volumes lost):\n{log}"
    );

    // Our runc, on PATH inside the dev container.
    let shell = xtask(
        Some(&dockerd),
        &["shell", "--", "runc", "--version"],
        &upstream,
    );
    assert!(shell.status.success(), "{}", text(&shell.stderr));
    // The same binary, run on the host now (the rebuild above may have restamped it).
    let now = Command::new(&runc).arg("--version").output().unwrap();
    assert_eq!(text(&shell.stdout), text(&now.stdout));
    assert!(text(&shell.stdout).starts_with("runc version"), "{stamp}");

    // A failing command's exit code comes back.
    let fail = xtask(
        Some(&dockerd),
        &["shell", "--", "sh", "-c", "exit 7"],
        &upstream,
    );
    assert_eq!(fail.status.code(), Some(7));
}

#[test]
fn a_stopped_daemon_or_missing_engine_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let socket = format!("unix://{}", dir.path().join("none.sock").display());
    let out = xtask(None, &["image"], &[("DOCKER_HOST", &socket)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("docker daemon is not reachable"), "{err}");
    assert!(err.contains("start it with"), "{err}");

    // No engine on PATH at all.
    let empty = dir.path().to_str().unwrap();
    for (engine, package) in [("docker", "docker.io"), ("podman", "podman")] {
        let out = xtask(None, &["shell", "--engine", engine], &[("PATH", empty)]);
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "the container engine {engine} is not installed; install it with `apt-get install {package}`"
            )),
            "{err}"
        );
    }
}

/// Podman in docker's place, chosen by `WORKSPACE_CONTAINER_ENGINE` as a user would,
/// with its storage in the test's own directory: the image from the bootstrapped base,
/// then the shell, with the source at its path and the caller's open-files limit (podman
/// would ask for more than a host without CAP_SYS_RESOURCE can give).
#[test]
fn podman_serves_as_the_engine() {
    testbed::require_root();
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage.conf");
    std::fs::write(
        &storage,
        format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{0}/graph\"\nrunroot = \"{0}/run\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let storage = storage.display().to_string();
    let env = [
        ("WORKSPACE_CONTAINER_ENGINE", "podman"),
        ("WORKSPACE_MIRROR", "upstream"),
        ("CONTAINERS_STORAGE_CONF", storage.as_str()),
    ];
    let image = xtask(None, &["image"], &env);
    assert!(
        image.status.success(),
        "xtask image under podman failed:\n{}",
        text(&image.stderr)
    );
    assert!(
        text(&image.stdout).trim().starts_with("workspace-dev:"),
        "{}",
        text(&image.stdout)
    );

    let cargo_toml = root().join("Cargo.toml").display().to_string();
    let script = format!("test -f {cargo_toml} && ulimit -n");
    let shell = xtask(None, &["shell", "--", "sh", "-c", &script], &env);
    assert!(
        shell.status.success(),
        "xtask shell under podman failed:\n{}",
        text(&shell.stderr)
    );
    let ours = Command::new("sh")
        .args(["-c", "ulimit -n"])
        .output()
        .unwrap();
    assert_eq!(text(&shell.stdout), text(&ours.stdout));

    let fail = xtask(None, &["shell", "--", "sh", "-c", "exit 7"], &env);
    assert_eq!(fail.status.code(), Some(7), "{}", text(&fail.stderr));
    testbed::unmount_under(dir.path());
}
