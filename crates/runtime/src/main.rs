//! `strata-runc`: Strata's OCI runtime with runc's command-line interface, so podman
//! (`--runtime`) and containerd (runc `BinaryName`) use it unchanged.

mod commands;

use clap::Parser;
use commands::cli::{Cli, Command};
use strata_runtime::logging;

fn main() {
    let cli = Cli::parse();
    let format = if cli.log_format == "json" {
        logging::Format::Json
    } else {
        logging::Format::Text
    };
    logging::init(cli.log.clone(), format, cli.debug);
    // CVE-2019-5736: commands that put a process into a container run from a sealed copy.
    if matches!(
        cli.command,
        Command::Create(_) | Command::Run(_) | Command::Exec(_)
    ) {
        if let Err(e) = strata_runtime::cloned_binary::ensure_cloned() {
            fail(&format!("re-exec from a sealed copy of the runtime: {e}"));
        }
    }
    match commands::dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => fail(&e.to_string()),
    }
}

/// Prints the error as one line (and to the log file, where containerd and conmon read it) and
/// exits 1, as runc does.
fn fail(msg: &str) -> ! {
    if logging::has_file() {
        logging::log(logging::Level::Error, msg);
    }
    eprintln!("strata-runc: {msg}");
    std::process::exit(1)
}
