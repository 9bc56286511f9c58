//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Sync an ActiveCampaign account's users, permission groups, group membership and admin
/// rights through the sandboxed connector component, and write them to a JSON file.
#[derive(Parser)]
#[command(name = "baton-activecampaign", version, max_term_width = 100)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,

    /// Log filter for stderr, such as `info`, `debug` or `baton_activecampaign=trace`.
    #[arg(long, global = true, env = "BATON_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

/// The commands.
#[derive(Subcommand)]
pub enum Command {
    /// Sync an account (or, with no credentials, the built-in demo account) to a file.
    Sync(SyncArgs),
}

/// Flags of `sync`.
#[derive(Args)]
pub struct SyncArgs {
    /// The account's API Access URL, from Settings > Developer, such as
    /// https://myaccount.api-us1.com. Omit it and the token to sync the demo account.
    #[arg(long, env = "BATON_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,

    /// The API token of an account admin. Prefer --api-token-file, which keeps the token
    /// out of the process list and shell history.
    #[arg(
        long,
        env = "BATON_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub api_token: Option<String>,

    /// Read the API token from this file, or from standard input when PATH is `-`. It
    /// takes precedence over --api-token and BATON_API_TOKEN.
    #[arg(long, value_name = "PATH")]
    pub api_token_file: Option<PathBuf>,

    /// File to write the result to. It is replaced only when the sync succeeds.
    #[arg(long, short, default_value = "sync.json", value_name = "FILE")]
    pub output: PathBuf,

    /// Run this connector component instead of the one built into this binary.
    #[arg(long, value_name = "PATH")]
    pub component: Option<PathBuf>,

    /// Requests per second to the API, at most the account's limit of 5.
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=5))]
    pub rate_limit: u32,

    /// Send requests without pacing. Accepted only for an API on this machine (tests).
    #[arg(long, hide = true)]
    pub no_rate_limit: bool,

    /// Component instances calling the API at once.
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,

    /// Most attempts of one call before the sync fails, the first included.
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,

    /// Wait before the first retry, in milliseconds; later waits double, with jitter.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub retry_base_ms: u64,

    /// Seconds to wait for a connection to the API.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub connect_timeout: f64,

    /// Seconds to wait for the start of a response.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub first_byte_timeout: f64,

    /// Seconds to wait between two chunks of a response body.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub between_bytes_timeout: f64,

    /// Largest response body accepted, in MiB.
    #[arg(long, default_value_t = 16, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub max_response_mib: u64,

    /// Memory limit of each component instance, in MiB.
    #[arg(long, default_value_t = 128, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_memory_mib: u64,

    /// Time limit of each call into the component, in seconds.
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS")]
    pub call_timeout: f64,

    /// Most bytes each component instance may write to stderr, in KiB.
    #[arg(long, default_value_t = 64, value_name = "KIB")]
    pub max_guest_stderr_kib: u64,

    /// Directory of the compiled-component cache [default: the user's cache directory].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Compile the component on every start instead of using the cache.
    #[arg(long)]
    pub no_cache: bool,

    /// Continue an interrupted sync from its checkpoint (FILE.checkpoint, written next to
    /// the output after every page), with the same base URL and component.
    #[arg(long)]
    pub resume: bool,
}
