//! The component's sandbox: an empty WASI context, settings through `wasi:config`, the
//! outbound HTTP hooks, a memory cap, a per-call deadline and a cap on stderr.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::error::Context as _;
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::outbound::{OutboundHooks, OutboundPolicy};

/// Epoch ticks per second: the granularity of the per-call deadline.
pub const EPOCH_TICKS_PER_SECOND: u64 = 100;

/// Resource limits of one component instance.
#[derive(Debug, Clone, Copy)]
pub struct GuestLimits {
    /// Maximum bytes of memory one instance may use: all its linear memories and its GC
    /// heap together.
    pub max_memory_bytes: usize,
    /// Maximum run time of a single call into the component.
    pub call_timeout: Duration,
    /// Most bytes the component may write to stderr per instance.
    pub max_stderr_bytes: usize,
}

/// A sandbox limit a component instance broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    /// The component tried to grow its memory past the cap.
    Memory,
    /// The component wrote more to stderr than allowed.
    Stderr,
}

/// Everything one component instance's store holds.
pub struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
    config: WasiConfigVariables,
    limiter: GuestLimiter,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for GuestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl GuestState {
    /// Returns the limit this instance broke, if any.
    pub fn limit_hit(&self) -> Option<LimitHit> {
        *self.limiter.hit.lock().expect("limit lock")
    }
}

/// Adds every import a connector component may use: the WASI 0.2 interfaces Rust's
/// standard library links (backed by an empty context), `wasi:http` and `wasi:config`.
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<GuestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).context("failed to link WASI")?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .context("failed to link wasi:http")?;
    wasmtime_wasi_config::add_to_linker(&mut linker, |state: &mut GuestState| {
        WasiConfig::from(&state.config)
    })
    .context("failed to link wasi:config")?;
    Ok(linker)
}

/// Creates the store of one component instance, with `settings` as its config.
pub fn store(
    engine: &Engine,
    policy: Arc<OutboundPolicy>,
    settings: &[(String, String)],
    limits: GuestLimits,
) -> Store<GuestState> {
    let hit = Arc::new(Mutex::new(None));

    // No preopened directories, environment variables, arguments, stdin or sockets: the
    // component reaches the outside only through wasi:http.
    let wasi = WasiCtx::builder()
        .stderr(CappedStderr::new(limits.max_stderr_bytes, Arc::clone(&hit)))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();

    let state = GuestState {
        wasi,
        table: ResourceTable::new(),
        http: WasiHttpCtx::new(),
        hooks: OutboundHooks::new(policy),
        config: settings.iter().cloned().collect(),
        limiter: GuestLimiter {
            max_memory_bytes: limits.max_memory_bytes,
            memory_bytes: 0,
            pending_memory_bytes: 0,
            table_elements: 0,
            pending_table_elements: 0,
            hit,
        },
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store
}

/// Maximum number of table elements of one instance, all tables together. Each element
/// takes a pointer's worth of host memory, so tables stay under 8 MB on a 64-bit host.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// Maximum numbers of core instances, linear memories and tables one component instance
/// may create. A Rust component has a few of each, and without a cap each empty memory
/// would still reserve host address space.
const MAX_CORE_INSTANCES: usize = 100;
const MAX_MEMORIES: usize = 16;
const MAX_TABLES: usize = 100;

/// Caps the memory and tables of one component instance, every core instance's linear
/// memories and its GC heap counted together, and records which limit was hit so the
/// error can name it.
struct GuestLimiter {
    max_memory_bytes: usize,
    /// Bytes of all memories together, as last allowed to grow.
    memory_bytes: usize,
    /// Bytes the last allowed growth added, taken back if that growth fails.
    pending_memory_bytes: usize,
    /// Elements of all tables together, as last allowed to grow.
    table_elements: usize,
    /// Elements the last allowed table growth added, taken back if it fails.
    pending_table_elements: usize,
    hit: Arc<Mutex<Option<LimitHit>>>,
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Wasmtime calls this before it creates a memory too (with `current` 0), so the sum
        // covers every memory of the instance.
        let added = desired.saturating_sub(current);
        let total = self.memory_bytes.saturating_add(added);
        if total > self.max_memory_bytes {
            *self.hit.lock().expect("limit lock") = Some(LimitHit::Memory);
            wasmtime::bail!(
                "the component tried to grow its memory to {total} bytes in all, past its limit \
                 of {} bytes",
                self.max_memory_bytes
            );
        }
        self.memory_bytes = total;
        self.pending_memory_bytes = added;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_bytes -= std::mem::take(&mut self.pending_memory_bytes);
        tracing::debug!(error = %format!("{error:#}"), "a memory of the component failed to grow");
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let added = desired.saturating_sub(current);
        let total = self.table_elements.saturating_add(added);
        if total > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.table_elements = total;
        self.pending_table_elements = added;
        Ok(true)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_elements -= std::mem::take(&mut self.pending_table_elements);
        tracing::debug!(error = %format!("{error:#}"), "a table of the component failed to grow");
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_CORE_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

/// The component's stderr: complete lines go to the host log at debug level, and a
/// write past the cap traps the component.
#[derive(Clone)]
struct CappedStderr {
    state: Arc<Mutex<StderrState>>,
    hit: Arc<Mutex<Option<LimitHit>>>,
}

struct StderrState {
    written: usize,
    max_bytes: usize,
    line: Vec<u8>,
}

impl CappedStderr {
    fn new(max_bytes: usize, hit: Arc<Mutex<Option<LimitHit>>>) -> Self {
        CappedStderr {
            state: Arc::new(Mutex::new(StderrState {
                written: 0,
                max_bytes,
                line: Vec::new(),
            })),
            hit,
        }
    }
}

impl IsTerminal for CappedStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedStderr {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only WASI 0.2 components run here, and they use `p2_stream`.
        Box::new(tokio::io::sink())
    }
}

#[async_trait::async_trait]
impl Pollable for CappedStderr {
    async fn ready(&mut self) {}
}

impl OutputStream for CappedStderr {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        let mut state = self.state.lock().expect("stderr lock");
        state.written += bytes.len();
        if state.written > state.max_bytes {
            *self.hit.lock().expect("limit lock") = Some(LimitHit::Stderr);
            return Err(StreamError::Trap(wasmtime::format_err!(
                "the component wrote more than its stderr limit of {} bytes",
                state.max_bytes
            )));
        }

        for byte in bytes {
            if byte == b'\n' {
                let line = String::from_utf8_lossy(&state.line).into_owned();
                tracing::debug!(target: "guest", "{line}");
                state.line.clear();
            } else if state.line.len() < 4096 {
                state.line.push(byte);
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::Origin;
    use crate::outbound::{RequestLimits, TrafficStats};
    use crate::rate_limit::RateLimiter;

    const MIB: usize = 1024 * 1024;

    fn limits(max_memory_mib: usize) -> GuestLimits {
        GuestLimits {
            max_memory_bytes: max_memory_mib * MIB,
            call_timeout: Duration::from_secs(5),
            max_stderr_bytes: 4096,
        }
    }

    /// Creates a guest store with `limits` and compiles a core module from WAT.
    fn guest_store(
        engine: &Engine,
        wat: &str,
        limits: GuestLimits,
    ) -> (Store<GuestState>, wasmtime::Module) {
        let origin = Origin::from_base_url("http://127.0.0.1:9").expect("origin");
        let request_limits = RequestLimits {
            connect_timeout: Duration::from_secs(1),
            first_byte_timeout: Duration::from_secs(1),
            between_bytes_timeout: Duration::from_secs(1),
            max_body_bytes: 1024,
        };
        let policy = OutboundPolicy::new(
            origin,
            None,
            Arc::new(RateLimiter::new(None)),
            request_limits,
            Arc::new(TrafficStats::default()),
        )
        .expect("policy");
        let mut store = store(engine, Arc::new(policy), &[], limits);
        store.set_epoch_deadline(u64::MAX / 2);
        let module = wasmtime::Module::new(engine, wat).expect("valid WAT");
        (store, module)
    }

    /// Instantiates a core module from WAT in a guest store with `limits`, and returns
    /// the result and the limit hit.
    async fn instantiate(
        wat: &str,
        limits: GuestLimits,
    ) -> (wasmtime::Result<()>, Option<LimitHit>) {
        let engine = crate::component::engine().expect("engine");
        let (mut store, module) = guest_store(&engine, wat, limits);
        let result = wasmtime::Instance::new_async(&mut store, &module, &[])
            .await
            .map(drop);
        (result, store.data().limit_hit())
    }

    #[tokio::test]
    async fn memory_limit_counts_every_memory() {
        // Four memories of 5 MiB each: each is under the 16 MiB limit, together they are not.
        let wat = "(module (memory 80) (memory 80) (memory 80) (memory 80))";

        let (result, hit) = instantiate(wat, limits(16)).await;

        assert!(result.is_err(), "20 MiB of memories fit a 16 MiB limit");
        assert_eq!(hit, Some(LimitHit::Memory));
    }

    #[tokio::test]
    async fn memory_growth_past_limit_traps() {
        let wat = r#"(module
            (memory 1)
            (func (export "grow") (result i32) (memory.grow (i32.const 400))))"#;
        let engine = crate::component::engine().expect("engine");
        let (mut store, module) = guest_store(&engine, wat, limits(16));
        let instance = wasmtime::Instance::new_async(&mut store, &module, &[])
            .await
            .expect("instantiate");
        let grow = instance
            .get_typed_func::<(), i32>(&mut store, "grow")
            .expect("grow export");

        let result = grow.call_async(&mut store, ()).await;

        assert!(result.is_err(), "25 MiB fit a 16 MiB limit");
        assert_eq!(store.data().limit_hit(), Some(LimitHit::Memory));
    }

    #[test]
    fn failed_growth_is_not_counted() {
        let mut limiter = GuestLimiter {
            max_memory_bytes: 16 * MIB,
            memory_bytes: 0,
            pending_memory_bytes: 0,
            table_elements: 0,
            pending_table_elements: 0,
            hit: Arc::new(Mutex::new(None)),
        };
        assert!(limiter.memory_growing(0, 10 * MIB, None).expect("allowed"));

        limiter
            .memory_grow_failed(wasmtime::format_err!("out of host memory"))
            .expect("ignored");

        assert!(limiter.memory_growing(0, 10 * MIB, None).expect("allowed"));
        assert_eq!(limiter.memory_bytes, 10 * MIB);
    }

    #[tokio::test]
    async fn memories_within_limit_instantiate() {
        let wat = "(module (memory 80) (memory 80) (memory 80))";

        let (result, hit) = instantiate(wat, limits(16)).await;

        result.expect("15 MiB of memories fit a 16 MiB limit");
        assert_eq!(hit, None);
    }
}
