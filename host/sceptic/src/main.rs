//! `sceptic`: a SCEP server (RFC 8894) whose decisions are WebAssembly components.
//!
//! This binary is the operator's entry point: it creates a data directory, runs the
//! server, and manages services and secrets. Changes made with it while a server
//! runs take effect there within a second, without a restart.

mod cli;
mod datadir;
mod lifecycle;
mod operate;
mod policy_test;
mod trust;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    if !cli.serves() {
        // Rust ignores SIGPIPE, so `println!` to a closed pipe panics. Outside
        // the server, take the default: the command ends as `head` closes it,
        // like any other Unix tool.
        // SAFETY: called once, before any thread starts; SIG_DFL is a valid handler.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
        // A full disk under `> file` makes `println!` panic; say so as an
        // error instead of a backtrace. Every other panic keeps its report.
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or_default();
            if let Some(why) = text.strip_prefix("failed printing to stdout: ") {
                eprintln!("error: cannot write to standard output: {why}");
                std::process::exit(1);
            }
            report(info);
        }));
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SCEPTIC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
