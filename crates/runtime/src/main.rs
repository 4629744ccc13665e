//! `strata-runc`: Strata's OCI runtime with runc's command-line interface, so podman
//! (`--runtime`) and containerd (runc `BinaryName`) use it unchanged.

mod commands;

use commands::cli::{self, Command, Parsed};
use strata_runtime::logging;

/// The subcommand, found without the full parser: runc's global flags that take a value are
/// skipped with their value.
fn subcommand(args: &[String]) -> Option<&str> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--root" | "--log" | "--log-format" | "--criu" => {
                it.next();
            }
            s if s.starts_with('-') => {}
            s => return Some(s),
        }
    }
    None
}

fn main() {
    // CVE-2019-5736: commands that put a process into a container run from a protected copy.
    // Checked before parsing, so the full parse is done once, by the copy.
    let args: Vec<String> = std::env::args().collect();
    let reexec = if matches!(subcommand(&args), Some("create" | "run" | "exec")) {
        strata_runtime::cloned_binary::ensure_cloned().err()
    } else {
        None
    };
    let cli = match cli::parse(&args) {
        Ok(Parsed::Run(cli)) => *cli,
        Ok(Parsed::Print(text)) => {
            print!("{text}");
            std::process::exit(0)
        }
        Err(e) => {
            // runc's convention for usage errors: a message and status 1.
            let hint = match e.command {
                Some(c) => format!("{} {c} --help", cli::BIN),
                None => format!("{} --help", cli::BIN),
            };
            eprintln!("{}: {} (see '{hint}')", cli::BIN, e.msg);
            std::process::exit(1)
        }
    };
    // The quick look above can be fooled by unusual flag spellings: check again after the full
    // parse (cheap once protected).
    let enters = matches!(
        cli.command,
        Command::Create(_) | Command::Run(_) | Command::Exec(_)
    );
    let reexec = match reexec {
        None if enters && !strata_runtime::cloned_binary::is_protected() => {
            strata_runtime::cloned_binary::ensure_cloned().err()
        }
        r => r,
    };
    let format = if cli.log_format == "json" {
        logging::Format::Json
    } else {
        logging::Format::Text
    };
    logging::init(cli.log.clone(), format, cli.debug);
    if let Some(e) = reexec {
        fail(&format!(
            "re-exec from a protected copy of the runtime: {e}"
        ));
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

#[cfg(test)]
mod tests {
    use super::subcommand;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn subcommand_skips_global_flags_and_their_values() {
        let a = v(&[
            "r",
            "--root",
            "/x",
            "--log",
            "l",
            "--log-format",
            "json",
            "create",
            "id",
        ]);
        assert_eq!(subcommand(&a), Some("create"));
        let a = v(&["r", "--root=/x", "--debug", "exec", "id", "sh"]);
        assert_eq!(subcommand(&a), Some("exec"));
        assert_eq!(
            subcommand(&v(&["r", "--systemd-cgroup", "state", "id"])),
            Some("state")
        );
        assert_eq!(subcommand(&v(&["r", "--version"])), None);
    }
}
