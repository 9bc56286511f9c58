//! Builds the connector component for `wasm32-wasip2` and hands its path to the host,
//! which embeds it, so one `cargo build` produces a host that runs without other files.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ is inside the workspace");
    let target_dir = workspace.join("target").join("wasm-guest");

    for path in ["connector/src", "connector/Cargo.toml", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }

    // A nested cargo with its own target directory: sharing the outer one deadlocks, and
    // the outer build's flags (clippy's wrapper, host RUSTFLAGS) must not reach the guest.
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--package", "activecampaign-connector"])
        .args(["--target", "wasm32-wasip2", "--profile", "guest"])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .output()
        .expect("failed to run cargo to build the connector component");
    if !output.status.success() {
        panic!(
            "failed to build the connector component for wasm32-wasip2 (run `rustup target add \
             wasm32-wasip2` if the target is missing):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let component = target_dir
        .join("wasm32-wasip2")
        .join("guest")
        .join("activecampaign_connector.wasm");
    let size = std::fs::metadata(&component)
        .unwrap_or_else(|error| panic!("missing {}: {error}", component.display()))
        .len();
    println!(
        "cargo:rustc-env=CONNECTOR_COMPONENT_PATH={}",
        component.display()
    );
    println!(
        "cargo:warning=embedded connector component: {} ({size} bytes)",
        component.display()
    );
}
