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
    /// Largest linear memory, in bytes.
    pub max_memory_bytes: usize,
    /// Longest a single call into the component may run.
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
            hit,
        },
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store
}

/// Caps memory growth and records which limit was hit, so the error can name it.
struct GuestLimiter {
    max_memory_bytes: usize,
    hit: Arc<Mutex<Option<LimitHit>>>,
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory_bytes {
            *self.hit.lock().expect("limit lock") = Some(LimitHit::Memory);
            wasmtime::bail!(
                "the component tried to grow its memory from {current} to {desired} bytes, past \
                 its limit of {} bytes",
                self.max_memory_bytes
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
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
