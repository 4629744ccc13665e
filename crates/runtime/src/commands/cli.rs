//! runc's command line, flag for flag: the typed arguments each command gets, parsed with the
//! grammar of the command table (`table.rs`).

use super::argparse::{self, Matches, UsageError};
pub use super::table::{find, help, version, BIN, COMMANDS, GLOBAL_FLAGS};
use std::path::{Path, PathBuf};
use strata_runtime::container::CreateOpts;

/// What the command line asks for.
pub enum Parsed {
    /// Run a command.
    Run(Box<Cli>),
    /// Print this text to stdout and exit 0 (`--help`, `--version`, `help`).
    Print(String),
}

/// Global options and the command.
#[derive(Debug)]
pub struct Cli {
    /// Directory for container state.
    pub root: PathBuf,
    /// Log file (containerd and conmon read errors from it).
    pub log: Option<String>,
    /// Log format: text or json.
    pub log_format: String,
    /// Also log debug detail.
    pub debug: bool,
    /// The command (`--systemd-cgroup` is in create's and run's options).
    pub command: Command,
}

/// Commands.
#[derive(Debug)]
pub enum Command {
    /// Create a container: everything up to the user program, which waits for `start`.
    Create(CreateOpts),
    /// Start the user program of a created container.
    Start(IdArg),
    /// Create and start a container, wait for it and delete it (unless --detach).
    Run(RunArgs),
    /// Print a container's OCI state as JSON.
    State(IdArg),
    /// Send a signal to a container's init, or to all its processes.
    Kill(KillArgs),
    /// Delete a stopped container (or any, with --force).
    Delete(DeleteArgs),
    /// Run a new process inside a running container.
    Exec(ExecArgs),
    /// List the processes of a container.
    Ps(PsArgs),
    /// Freeze every process of a container.
    Pause(IdArg),
    /// Thaw a paused container.
    Resume(IdArg),
    /// Change a running container's resource limits.
    Update(UpdateArgs),
    /// List the containers under --root.
    List(ListArgs),
    /// Write a default config.json into a bundle.
    Spec(SpecArgs),
    /// Print what this runtime supports (OCI features document).
    Features,
    /// Print shell completions.
    Completion(CompletionArgs),
    /// Run the embedded demo container.
    Demo,
}

/// A container id.
#[derive(Debug)]
pub struct IdArg {
    /// Container id.
    pub id: String,
}

/// Flags of run.
#[derive(Debug)]
pub struct RunArgs {
    /// What create takes.
    pub create: CreateOpts,
    /// Return once the container runs.
    pub detach: bool,
    /// Keep the container after it exits.
    pub keep: bool,
}

/// Flags of kill.
#[derive(Debug)]
pub struct KillArgs {
    /// Signal every process of the container.
    pub all: bool,
    /// Container id.
    pub id: String,
    /// Signal name or number.
    pub signal: String,
}

/// Flags of delete.
#[derive(Debug)]
pub struct DeleteArgs {
    /// Kill the container first if it still runs.
    pub force: bool,
    /// Container id.
    pub id: String,
}

/// Flags of exec.
#[derive(Debug)]
pub struct ExecArgs {
    /// Process JSON (the spec's `process` object); `-` reads stdin.
    pub process: Option<PathBuf>,
    /// Return once the process runs.
    pub detach: bool,
    /// Allocate a pty (needs --console-socket).
    pub tty: bool,
    /// Unix socket that receives the pty master.
    pub console_socket: Option<PathBuf>,
    /// Write the process's pid here.
    pub pid_file: Option<PathBuf>,
    /// Capabilities to add.
    pub cap: Vec<String>,
    /// Environment variables NAME=VALUE.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: Option<String>,
    /// UID[:GID].
    pub user: Option<String>,
    /// Additional gids.
    pub additional_gids: Vec<u32>,
    /// Set no_new_privs.
    pub no_new_privs: bool,
    /// AppArmor profile.
    pub apparmor: Option<String>,
    /// SELinux label.
    pub process_label: Option<String>,
    /// Pass this many extra descriptors (from 3).
    pub preserve_fds: u32,
    /// Allow exec in a paused container.
    pub ignore_paused: bool,
    /// Container id.
    pub id: String,
    /// Command and arguments (unless --process).
    pub command: Vec<String>,
}

/// Flags of ps.
#[derive(Debug)]
pub struct PsArgs {
    /// table or json.
    pub format: String,
    /// Container id.
    pub id: String,
    /// Options for ps(1) (table format; default -ef).
    pub ps_args: Vec<String>,
}

/// Flags of update.
#[derive(Debug, Default)]
pub struct UpdateArgs {
    /// Resources JSON (the spec's linux.resources); `-` reads stdin.
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes.
    pub memory: Option<i64>,
    /// Memory soft limit in bytes.
    pub memory_reservation: Option<i64>,
    /// Memory+swap limit in bytes (-1: unlimited).
    pub memory_swap: Option<i64>,
    /// CPU shares.
    pub cpu_share: Option<u64>,
    /// CFS period in microseconds.
    pub cpu_period: Option<u64>,
    /// CFS quota in microseconds (-1: unlimited).
    pub cpu_quota: Option<i64>,
    /// CPUs allowed (cpuset).
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed (cpuset).
    pub cpuset_mems: Option<String>,
    /// Maximum number of pids (-1 or 0: unlimited).
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000).
    pub blkio_weight: Option<u16>,
    /// Realtime period in microseconds.
    pub cpu_rt_period: Option<u64>,
    /// Realtime runtime in microseconds.
    pub cpu_rt_runtime: Option<i64>,
    /// cpu.idle.
    pub cpu_idle: Option<i64>,
    /// Kernel TCP buffer limit in bytes.
    pub kernel_memory_tcp: Option<i64>,
    /// Container id.
    pub id: String,
}

/// Flags of list.
#[derive(Debug)]
pub struct ListArgs {
    /// table or json.
    pub format: String,
    /// Print only the ids.
    pub quiet: bool,
}

/// Flags of spec.
#[derive(Debug)]
pub struct SpecArgs {
    /// Bundle directory to write config.json into.
    pub bundle: PathBuf,
    /// A spec for rootless containers.
    pub rootless: bool,
}

/// Flags of completion.
#[derive(Debug)]
pub struct CompletionArgs {
    /// The shell.
    pub shell: super::completion::Shell,
}

/// Global option values as they are found.
#[derive(Default)]
struct Globals {
    m: Matches,
    values: Vec<(&'static str, String)>,
    version: bool,
}

impl Globals {
    /// Takes `word` if it is a global flag (with its value from `rest`); false if it is not one.
    fn take(
        &mut self,
        word: &str,
        rest: &mut dyn Iterator<Item = &String>,
    ) -> Result<bool, UsageError> {
        let body = word.trim_start_matches('-');
        if !word.starts_with('-') || body.is_empty() {
            return Ok(false);
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let Some(f) = GLOBAL_FLAGS
            .iter()
            .find(|f| f.long == name || (name.len() == 1 && f.short == name.chars().next()))
        else {
            return Ok(false);
        };
        if f.long == "version" {
            self.version = true;
            return Ok(true);
        }
        // --rootless takes its value only when it is spelled inline (runc's callers do).
        let v = match (f.value, inline) {
            (_, Some(v)) => v,
            (None, None) | (Some(_), None) if f.long == "rootless" => "auto".into(),
            (None, None) => "true".into(),
            (Some(_), None) => rest
                .next()
                .ok_or_else(|| UsageError::new(None, format!("--{} needs a value", f.long)))?
                .clone(),
        };
        self.values.push((f.long, v));
        Ok(true)
    }

    fn value(&self, long: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| *k == long)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the whole command line (`args[0]` is the program).
pub fn parse(args: &[String]) -> Result<Parsed, UsageError> {
    let mut g = Globals::default();
    let mut i = 1;
    let mut command = None;
    while i < args.len() {
        let w = &args[i];
        i += 1;
        if w == "--help" || w == "-h" {
            g.m.help = true;
            continue;
        }
        let mut rest = args[i..].iter();
        let before = rest.len();
        if g.take(w, &mut rest)? {
            i += before - rest.len();
            continue;
        }
        if w.starts_with('-') {
            return Err(UsageError::new(None, format!("unknown global flag {w}")));
        }
        command = Some(w.as_str());
        break;
    }
    if g.version {
        return Ok(Parsed::Print(version()));
    }
    let Some(name) = command else {
        return if g.m.help {
            Ok(Parsed::Print(help()))
        } else {
            Err(UsageError::new(None, "no command given"))
        };
    };
    if name == "help" || name == "h" {
        return Ok(Parsed::Print(match args.get(i).and_then(|n| find(n)) {
            Some(c) => argparse::command_help(BIN, c, ""),
            None => help(),
        }));
    }
    let spec =
        find(name).ok_or_else(|| UsageError::new(None, format!("unknown command {name:?}")))?;
    let m = argparse::parse(spec, &args[i..], &mut |w, rest| g.take(w, rest))?;
    if g.version {
        return Ok(Parsed::Print(version()));
    }
    if m.help || g.m.help {
        return Ok(Parsed::Print(argparse::command_help(BIN, spec, "")));
    }
    let log_format = g.value("log-format").unwrap_or("text").to_string();
    if log_format != "text" && log_format != "json" {
        return Err(UsageError::new(
            None,
            format!("--log-format {log_format:?}: use text or json"),
        ));
    }
    let systemd_cgroup = g.value("systemd-cgroup") == Some("true");
    Ok(Parsed::Run(Box::new(Cli {
        root: PathBuf::from(
            g.value("root")
                .unwrap_or(strata_runtime::state::DEFAULT_ROOT),
        ),
        log: g.value("log").map(str::to_string),
        log_format,
        debug: g.value("debug") == Some("true"),
        command: typed(spec.name, m, systemd_cgroup)?,
    })))
}

/// A `--format` value checked against table|json.
fn format(cmd: &'static str, m: &Matches) -> Result<String, UsageError> {
    match m.value("format").unwrap_or("table") {
        f @ ("table" | "json") => Ok(f.to_string()),
        f => Err(UsageError::new(
            Some(cmd),
            format!("--format {f:?}: use table or json"),
        )),
    }
}

/// create's and run's options (the library's own type: the command line adds nothing).
fn create_opts(cmd: &'static str, m: &Matches, systemd: bool) -> Result<CreateOpts, UsageError> {
    Ok(CreateOpts {
        id: m.positionals[0].clone(),
        bundle: PathBuf::from(m.value("bundle").unwrap_or(".")),
        pid_file: m.value("pid-file").map(|p| absolute(Path::new(p))),
        console_socket: m.value("console-socket").map(PathBuf::from),
        no_pivot: m.is_set("no-pivot"),
        no_new_keyring: m.is_set("no-new-keyring"),
        preserve_fds: m.parsed(cmd, "preserve-fds")?.unwrap_or(0),
        systemd_cgroup: systemd,
    })
}

/// `p` made absolute against the current directory (the pid file is written after a chdir).
fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Turns a command's matches into its typed arguments.
fn typed(name: &'static str, mut m: Matches, systemd: bool) -> Result<Command, UsageError> {
    let id = || IdArg {
        id: m.positionals[0].clone(),
    };
    Ok(match name {
        "create" => Command::Create(create_opts(name, &m, systemd)?),
        "start" => Command::Start(id()),
        "run" => Command::Run(RunArgs {
            create: create_opts(name, &m, systemd)?,
            detach: m.is_set("detach"),
            keep: m.is_set("keep"),
        }),
        "state" => Command::State(id()),
        "pause" => Command::Pause(id()),
        "resume" => Command::Resume(id()),
        "kill" => Command::Kill(KillArgs {
            all: m.is_set("all"),
            id: m.positionals[0].clone(),
            signal: m
                .positionals
                .get(1)
                .cloned()
                .unwrap_or_else(|| "SIGTERM".into()),
        }),
        "delete" => Command::Delete(DeleteArgs {
            force: m.is_set("force"),
            id: m.positionals[0].clone(),
        }),
        "exec" => {
            let command = m.positionals.split_off(1);
            Command::Exec(ExecArgs {
                process: m.value("process").map(PathBuf::from),
                detach: m.is_set("detach"),
                tty: m.is_set("tty"),
                console_socket: m.value("console-socket").map(PathBuf::from),
                pid_file: m.value("pid-file").map(PathBuf::from),
                cap: m.values("cap"),
                env: m.values("env"),
                cwd: m.value("cwd").map(str::to_string),
                user: m.value("user").map(str::to_string),
                additional_gids: m.all_parsed(name, "additional-gids")?,
                no_new_privs: m.is_set("no-new-privs"),
                apparmor: m.value("apparmor").map(str::to_string),
                process_label: m.value("process-label").map(str::to_string),
                preserve_fds: m.parsed(name, "preserve-fds")?.unwrap_or(0),
                ignore_paused: m.is_set("ignore-paused"),
                id: m.positionals[0].clone(),
                command,
            })
        }
        "ps" => {
            let ps_args = m.positionals.split_off(1);
            Command::Ps(PsArgs {
                format: format(name, &m)?,
                id: m.positionals[0].clone(),
                ps_args,
            })
        }
        "update" => Command::Update(UpdateArgs {
            resources: m.value("resources").map(PathBuf::from),
            memory: m.parsed(name, "memory")?,
            memory_reservation: m.parsed(name, "memory-reservation")?,
            memory_swap: m.parsed(name, "memory-swap")?,
            cpu_share: m.parsed(name, "cpu-share")?,
            cpu_period: m.parsed(name, "cpu-period")?,
            cpu_quota: m.parsed(name, "cpu-quota")?,
            cpuset_cpus: m.value("cpuset-cpus").map(str::to_string),
            cpuset_mems: m.value("cpuset-mems").map(str::to_string),
            pids_limit: m.parsed(name, "pids-limit")?,
            blkio_weight: m.parsed(name, "blkio-weight")?,
            cpu_rt_period: m.parsed(name, "cpu-rt-period")?,
            cpu_rt_runtime: m.parsed(name, "cpu-rt-runtime")?,
            cpu_idle: m.parsed(name, "cpu-idle")?,
            kernel_memory_tcp: m.parsed(name, "kernel-memory-tcp")?,
            id: m.positionals[0].clone(),
        }),
        "list" => Command::List(ListArgs {
            format: format(name, &m)?,
            quiet: m.is_set("quiet"),
        }),
        "spec" => Command::Spec(SpecArgs {
            bundle: PathBuf::from(m.value("bundle").unwrap_or(".")),
            rootless: m.is_set("rootless"),
        }),
        "features" => Command::Features,
        "completion" => Command::Completion(CompletionArgs {
            shell: m.positionals[0]
                .parse()
                .map_err(|e| UsageError::new(Some(name), e))?,
        }),
        "demo" => Command::Demo,
        other => unreachable!("command {other} is in the table but has no arguments"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Parsed, UsageError> {
        let v: Vec<String> = std::iter::once("strata-runc")
            .chain(a.iter().copied())
            .map(String::from)
            .collect();
        parse(&v)
    }

    fn cli(a: &[&str]) -> Cli {
        match p(a) {
            Ok(Parsed::Run(c)) => *c,
            Ok(Parsed::Print(t)) => panic!("{a:?}: printed {t}"),
            Err(e) => panic!("{a:?}: {}", e.msg),
        }
    }

    #[test]
    fn containerd_and_conmon_command_lines() {
        let c = cli(&[
            "--root",
            "/run/r",
            "--log",
            "/l.json",
            "--log-format",
            "json",
            "--systemd-cgroup",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "--console-socket",
            "/s",
            "id1",
        ]);
        assert_eq!(c.root, PathBuf::from("/run/r"));
        assert_eq!(c.log.as_deref(), Some("/l.json"));
        assert_eq!(c.log_format, "json");
        let Command::Create(a) = c.command else {
            panic!()
        };
        assert!(a.systemd_cgroup);
        assert_eq!((a.bundle, a.id), (PathBuf::from("/b"), "id1".to_string()));
        assert_eq!(a.console_socket, Some(PathBuf::from("/s")));
        let c = cli(&[
            "--rootless=auto",
            "exec",
            "--detach",
            "--pid-file",
            "/p",
            "--process",
            "/pj",
            "id",
        ]);
        let Command::Exec(a) = c.command else {
            panic!()
        };
        assert!(a.detach && a.command.is_empty());
        assert_eq!(a.process, Some(PathBuf::from("/pj")));
    }

    #[test]
    fn globals_after_the_command_and_defaults() {
        let c = cli(&["kill", "--all", "id", "9", "--debug"]);
        assert!(c.debug);
        assert_eq!(c.root, PathBuf::from(strata_runtime::state::DEFAULT_ROOT));
        let Command::Kill(k) = c.command else {
            panic!()
        };
        assert!(k.all);
        assert_eq!((k.id.as_str(), k.signal.as_str()), ("id", "9"));
        let Command::Kill(k) = cli(&["kill", "id"]).command else {
            panic!()
        };
        assert_eq!(k.signal, "SIGTERM");
    }

    #[test]
    fn update_numbers_and_exec_command() {
        let Command::Update(u) = cli(&[
            "update",
            "--memory",
            "1048576",
            "--memory-swap",
            "-1",
            "--cpu-quota=-1",
            "id",
        ])
        .command
        else {
            panic!()
        };
        assert_eq!(
            (u.memory, u.memory_swap, u.cpu_quota),
            (Some(1048576), Some(-1), Some(-1))
        );
        assert!(p(&["update", "--memory", "lots", "id"]).is_err());
        let Command::Exec(e) = cli(&[
            "exec", "-e", "A=1", "-u", "1:2", "-g", "5", "id", "sh", "-c", "echo -n",
        ])
        .command
        else {
            panic!()
        };
        assert_eq!(e.command, vec!["sh", "-c", "echo -n"]);
        assert_eq!(
            (e.env, e.user, e.additional_gids),
            (vec!["A=1".to_string()], Some("1:2".into()), vec![5])
        );
    }

    #[test]
    fn help_version_and_errors() {
        assert!(
            matches!(p(&["--help"]), Ok(Parsed::Print(t)) if t.contains("COMMANDS:") && t.contains("exec"))
        );
        assert!(
            matches!(p(&["run", "--help"]), Ok(Parsed::Print(t)) if t.contains("--bundle dir, -b dir"))
        );
        assert!(matches!(p(&["help", "kill"]), Ok(Parsed::Print(t)) if t.contains("[signal]")));
        assert!(matches!(p(&["--version"]), Ok(Parsed::Print(t)) if t.contains("spec: 1.2.0")));
        assert!(matches!(p(&["ls", "-q"]), Ok(Parsed::Run(_))));
        for bad in [
            &["start"][..],
            &["nope"],
            &["--nope", "list"],
            &["list", "--format", "xml"],
            &["--log-format", "yaml", "list"],
            &[],
        ] {
            let e = p(bad).err().unwrap_or_else(|| panic!("{bad:?} parsed"));
            assert!(!e.msg.contains('\n'), "{}", e.msg);
        }
    }

    #[test]
    fn every_table_command_has_typed_arguments() {
        for c in COMMANDS {
            let mut a = vec![c.name];
            let id = ["x"; 1];
            if c.name == "completion" {
                a.push("bash");
            } else if c.min_args == 1 {
                a.extend(id);
            }
            let _ = cli(&a);
        }
    }
}
