//! `baton-activecampaign`: runs the ActiveCampaign connector component in a wasmtime
//! sandbox and writes what it syncs to a file.

mod check;
mod checkpoint;
mod cli;
mod component;
mod demo;
mod driver;
mod exit;
mod origin;
mod outbound;
mod output;
mod rate_limit;
mod retry;
mod sandbox;
mod secret;
mod sync;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let filter = match EnvFilter::try_new(&cli.log_level) {
        Ok(filter) => filter,
        Err(error) => {
            eprintln!(
                "error: invalid --log-level `{}`: {error}; use a level such as `info` or \
                 `debug`, or a filter such as `baton_activecampaign=trace`",
                cli.log_level
            );
            return ExitCode::from(exit::FailureKind::Configuration.exit_code());
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::from(exit::FailureKind::Internal.exit_code());
        }
    };

    let result = match cli.command {
        cli::Command::Sync(args) => runtime.block_on(sync::run(args)),
    };
    // When a sync fails, another component instance may still be computing on a worker
    // thread. Its epoch deadline stops advancing once the sync returns, so dropping the
    // runtime would wait for it forever. The process ends it on exit instead.
    runtime.shutdown_background();
    match result {
        Ok(summary) => {
            summary.print();
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.kind.exit_code())
        }
    }
}
