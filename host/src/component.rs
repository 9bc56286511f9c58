//! The wasmtime engine, the connector component and its compiled-code cache.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};
use wasmtime::component::Component;
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine};

use crate::sandbox::{self, GuestState};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "connector-component",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use conductorone::connector::types;

/// The connector component built from `connector/` by this crate's build script.
pub static EMBEDDED_COMPONENT: &[u8] = include_bytes!(env!("CONNECTOR_COMPONENT_PATH"));

/// Creates the engine, with epoch interruption for per-call deadlines.
pub fn engine() -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    Engine::new(&config).context("failed to create the wasmtime engine")
}

/// A compiled connector component, ready to instantiate many times.
pub struct LoadedComponent {
    /// Pre-linked instance factory; a new instance takes microseconds.
    pub pre: ConnectorComponentPre<GuestState>,
    /// SHA-256 of the component's bytes, hex encoded.
    pub digest: String,
}

/// Loads the component at `path`, or the embedded one, using the compiled-code cache in
/// `cache_dir` when given.
pub fn load(
    engine: &Engine,
    path: Option<&Path>,
    cache_dir: Option<&Path>,
) -> wasmtime::Result<LoadedComponent> {
    let bytes = match path {
        Some(path) => std::fs::read(path)
            .with_context(|| format!("failed to read the component `{}`", path.display()))?,
        None => EMBEDDED_COMPONENT.to_vec(),
    };
    // Only a binary component is compiled: wasmtime would also parse a text file as WAT,
    // and its parse errors quote the file, which could be a mistyped path to a secret.
    if !bytes.starts_with(b"\0asm") {
        wasmtime::bail!(
            "`{}` is not a WebAssembly component: it does not start with the `\\0asm` magic \
             bytes; pass the .wasm file built from connector/",
            path.map_or_else(
                || "the embedded component".to_owned(),
                |p| p.display().to_string()
            )
        );
    }
    let digest = hex(&Sha256::digest(&bytes));

    let component = match cache_dir {
        Some(dir) => load_cached(engine, &bytes, &digest, dir)?,
        None => compile(engine, &bytes)?,
    };

    let linker = sandbox::linker(engine)?;
    let instance_pre = linker.instantiate_pre(&component).context(
        "the component imports an interface this host does not offer; it may import only \
         wasi:http, wasi:config and the WASI 0.2 interfaces Rust's standard library uses",
    )?;
    let pre = ConnectorComponentPre::new(instance_pre)
        .context("the component does not export the conductorone:connector interface")?;
    Ok(LoadedComponent { pre, digest })
}

fn compile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
    let started = Instant::now();
    let component = Component::new(engine, bytes).context("failed to compile the component")?;
    debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "compiled the component"
    );
    Ok(component)
}

/// Loads compiled code from the cache, keyed on the component's digest and the wasmtime
/// version, or compiles and stores it. A broken cache entry is replaced, never fatal.
fn load_cached(
    engine: &Engine,
    bytes: &[u8],
    digest: &str,
    dir: &Path,
) -> wasmtime::Result<Component> {
    let entry = cache_entry(engine, dir, digest);
    if entry.exists() {
        // SAFETY: the cache directory belongs to this user and holds only files this
        // function wrote with `Component::serialize`. The file name carries the engine's
        // compatibility hash, and wasmtime checks the version and settings again.
        match unsafe { Component::deserialize_file(engine, &entry) } {
            Ok(component) => {
                debug!(path = %entry.display(), "loaded compiled component from the cache");
                return Ok(component);
            }
            Err(error) => {
                warn!(path = %entry.display(), error = %error, "ignoring an unusable cache entry")
            }
        }
    }

    let component = compile(engine, bytes)?;
    if let Err(error) = store_entry(&component, dir, &entry) {
        warn!(path = %entry.display(), error = %format!("{error:#}"), "failed to cache the compiled component");
    } else {
        info!(path = %entry.display(), "cached the compiled component");
    }
    Ok(component)
}

fn store_entry(component: &Component, dir: &Path, entry: &Path) -> wasmtime::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create `{}`", dir.display()))?;
    let serialized = component
        .serialize()
        .context("failed to serialize the component")?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut file, &serialized)?;
    file.persist(entry)?;
    Ok(())
}

// TODO: old cache entries are never pruned, so each new build of a component leaves one
// file of about 1 MB in the cache directory.
/// Returns the cache file of a component: its digest plus a hash of what makes compiled
/// code compatible (the wasmtime version and the engine settings).
fn cache_entry(engine: &Engine, dir: &Path, digest: &str) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    dir.join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
}

/// Returns the default cache directory, such as `~/.cache/baton-activecampaign`.
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|dir| dir.join("baton-activecampaign"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
