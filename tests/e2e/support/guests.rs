//! The hostile test component in `tests/guests/hostile`, built for `wasm32-wasip2` on first
//! use in each test process.
//!
//! One build picks its misbehaviour from the path of `base-url` ([`hostile_url`] builds
//! that URL). `metadata` gets no settings, so each of [`METADATA_BEHAVIOURS`] has a build
//! of its own that misbehaves in `metadata`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use super::FakeServer;

/// Behaviours that [`hostile_metadata_component`] offers in `metadata`.
pub const METADATA_BEHAVIOURS: [&str; 2] = ["loop-forever", "block-forever"];

/// The built components.
struct HostileBuilds {
    /// Misbehaves as the `base-url` path names.
    by_url: PathBuf,
    /// Misbehaves in `metadata`, per behaviour name.
    in_metadata: BTreeMap<&'static str, PathBuf>,
}

/// Returns the path of the hostile component that misbehaves as the `base-url` path
/// names, building every hostile component on the first call.
pub fn hostile_component() -> &'static Path {
    &builds().by_url
}

/// Returns the path of a hostile component whose `metadata` misbehaves as `behaviour`,
/// one of [`METADATA_BEHAVIOURS`].
pub fn hostile_metadata_component(behaviour: &str) -> &'static Path {
    builds()
        .in_metadata
        .get(behaviour)
        .unwrap_or_else(|| panic!("no hostile build misbehaves as `{behaviour}` in metadata"))
}

/// Returns a `base-url` for `server` whose path makes the hostile component misbehave, such
/// as `read-files` or `list-resources/loop-forever`.
pub fn hostile_url(server: &FakeServer, behaviour: &str) -> String {
    format!("{}/{behaviour}", server.base_url())
}

/// Builds every hostile component once per test process.
///
/// A file lock makes test binaries that start at the same time build one after another.
/// Each build overwrites cargo's output file, so each is copied to a name of its own
/// while the lock is held.
fn builds() -> &'static HostileBuilds {
    static BUILDS: OnceLock<HostileBuilds> = OnceLock::new();
    BUILDS.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("host/ is inside the workspace");
        let target_dir = workspace.join("target").join("hostile-guests");
        std::fs::create_dir_all(&target_dir).expect("create the hostile guest target dir");
        let lock = File::create(target_dir.join("test-build.lock")).expect("create the build lock");
        lock.lock().expect("take the build lock");

        let started = Instant::now();
        let by_url = build(workspace, &target_dir, None);
        let in_metadata = METADATA_BEHAVIOURS
            .into_iter()
            .map(|behaviour| (behaviour, build(workspace, &target_dir, Some(behaviour))))
            .collect();
        eprintln!(
            "built the hostile components in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        HostileBuilds {
            by_url,
            in_metadata,
        }
    })
}

/// Builds the hostile component, misbehaving in `metadata` as `in_metadata` when given,
/// and returns the path of its copy.
fn build(workspace: &Path, target_dir: &Path, in_metadata: Option<&str>) -> PathBuf {
    let manifest = workspace.join("tests/guests/hostile/Cargo.toml");

    // A nested cargo with its own target directory and none of the outer build's flags,
    // as host/build.rs runs it for the real connector.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--locked", "--release", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(target_dir);
    for name in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "HOSTILE_METADATA",
    ] {
        command.env_remove(name);
    }
    if let Some(behaviour) = in_metadata {
        command.env("HOSTILE_METADATA", behaviour);
    }
    let output = command
        .output()
        .expect("failed to run cargo to build the hostile component");
    assert!(
        output.status.success(),
        "failed to build the hostile component (run `rustup target add wasm32-wasip2` if the \
         target is missing):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let built = target_dir.join("wasm32-wasip2/release/hostile_guest.wasm");
    let name = match in_metadata {
        Some(behaviour) => format!("hostile-metadata-{behaviour}.wasm"),
        None => "hostile.wasm".to_owned(),
    };
    let copy = target_dir.join(name);
    std::fs::copy(&built, &copy)
        .unwrap_or_else(|error| panic!("failed to copy {}: {error}", built.display()));
    copy
}
