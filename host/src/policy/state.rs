//! What a component's store holds: an empty WASI context (the plumbing Rust's std links, with no
//! files, environment, arguments or network), resource limits, and the `host` interface the
//! component may call — a log tagged with the component's hash, and the clock.

use super::bindings::host::{self, Field, Level};
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Most log lines a component may write in one call; more would let a policy flood the host's log.
const MAX_LOG_LINES_PER_CALL: u32 = 32;
/// Longest message or field value kept from a component log line.
const MAX_LOG_TEXT: usize = 1024;

/// Per-store state of one component instance.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    /// Short hash of the component, so every log line says which component wrote it.
    component: String,
    /// Log lines written during the current call.
    pub(crate) log_lines: u32,
}

impl HostState {
    /// State for a component identified by `component` (its sha256), limited by `limits`.
    pub(crate) fn new(component: &str, limits: StoreLimits) -> Self {
        Self {
            // Deliberately empty: no preopened directories, no env, no args, no inherited stdio.
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits,
            component: component.chars().take(12).collect(),
            log_lines: 0,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl host::Host for HostState {
    fn log(&mut self, level: Level, message: String, fields: Vec<Field>) {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES_PER_CALL {
            if self.log_lines == MAX_LOG_LINES_PER_CALL + 1 {
                tracing::warn!(component = %self.component, "policy component log limit reached; dropping lines for this call");
            }
            return;
        }
        let message = clip(&message);
        let fields = fields
            .iter()
            .map(|f| format!("{}={}", clip(&f.key), clip(&f.value)))
            .collect::<Vec<_>>()
            .join(" ");
        let component = &self.component;
        match level {
            Level::Debug => {
                tracing::debug!(target: "ghmesh::component", %component, %fields, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "ghmesh::component", %component, %fields, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "ghmesh::component", %component, %fields, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "ghmesh::component", %component, %fields, "{message}")
            }
        }
    }

    fn now_unix_seconds(&mut self) -> u64 {
        crate::clock::unix_now()
    }
}

/// Cuts component-supplied text to a bounded length on a character boundary.
fn clip(text: &str) -> &str {
    match text.char_indices().nth(MAX_LOG_TEXT) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}
