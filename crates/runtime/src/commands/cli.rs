//! runc's command line, flag for flag.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Strata's OCI runtime (runc-compatible).
///
/// Runs containers from OCI bundles (a directory with config.json and a root filesystem) the
/// way runc does, so podman (`--runtime /path/to/strata-runc`) and containerd (runc option
/// `BinaryName`) can use it unchanged.
#[derive(Parser, Debug)]
#[command(name = "strata-runc", version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0"), about, long_about)]
pub struct Cli {
    /// Directory for container state (runc: /run/runc).
    #[arg(long, global = true, default_value = strata_runtime::state::DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Log file (containerd and conmon read errors from it).
    #[arg(long, global = true)]
    pub log: Option<String>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Also log debug detail.
    #[arg(long, global = true)]
    pub debug: bool,
    /// cgroupsPath uses systemd's slice:prefix:name form (placed with the cgroupfs driver).
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility (rootless mode is detected).
    #[arg(long = "rootless", id = "global_rootless", num_args = 0..=1, default_missing_value = "auto")]
    pub global_rootless: Option<String>,
    /// Accepted for runc compatibility (checkpointing is not supported).
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container: everything up to the user program, which waits for `start`.
    Create(CreateArgs),
    /// Start the user program of a created container.
    Start(IdArg),
    /// Create and start a container, wait for it and delete it (unless --detach).
    Run(RunArgs),
    /// Print a container's OCI state as JSON.
    State(IdArg),
    /// Send a signal (default SIGTERM) to a container's init, or to all its processes.
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
    #[command(alias = "ls")]
    List(ListArgs),
    /// Write a default config.json into a bundle.
    Spec(SpecArgs),
    /// Print what this runtime supports (OCI features document).
    Features,
    /// Print shell completions.
    Completion(CompletionArgs),
    /// Run the embedded demo container (busybox-static): prints its hostname, PID 1 and limits.
    Demo,
}

/// A container id.
#[derive(Args, Debug)]
pub struct IdArg {
    /// Container id.
    pub id: String,
}

/// Flags shared by create and run.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Bundle directory (default: the current directory).
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the init's pid here.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (process.terminal).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Use chroot instead of pivot_root (for ramdisk roots).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many extra descriptors (from 3) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Container id.
    pub id: String,
}

/// Flags of run.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return once the container runs.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep the container after it exits.
    #[arg(long)]
    pub keep: bool,
    /// Accepted for runc compatibility.
    #[arg(long = "no-subreaper", hide = true)]
    pub no_subreaper: bool,
}

/// Flags of kill.
#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal every process of the container.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Container id.
    pub id: String,
    /// Signal name or number.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

/// Flags of delete.
#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Kill the container first if it still runs.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Container id.
    pub id: String,
}

/// Flags of exec.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Process JSON (the spec's `process` object); `-` reads stdin.
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Return once the process runs.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Allocate a pty (needs --console-socket).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Unix socket that receives the pty master.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Write the process's pid here.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Add a capability (repeatable).
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Set an environment variable NAME=VALUE (repeatable).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory.
    #[arg(long)]
    pub cwd: Option<String>,
    /// UID[:GID].
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional gids (repeatable).
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Set no_new_privs.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// AppArmor profile.
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label.
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// Pass this many extra descriptors (from 3).
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Allow exec in a paused container.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Accepted for runc compatibility (sub-cgroup to join).
    #[arg(long, hide = true)]
    pub cgroup: Vec<String>,
    /// Container id.
    pub id: String,
    /// Command and arguments (unless --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Flags of ps.
#[derive(Args, Debug)]
pub struct PsArgs {
    /// table or json.
    #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Container id.
    pub id: String,
    /// Options for ps(1) (table format; default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// Flags of update.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Resources JSON (the spec's linux.resources); `-` reads stdin.
    #[arg(short = 'r', long)]
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes.
    #[arg(long)]
    pub memory: Option<i64>,
    /// Memory soft limit in bytes.
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<i64>,
    /// Memory+swap limit in bytes (-1: unlimited).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,
    /// CPU shares.
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// CFS period in microseconds.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CFS quota in microseconds (-1: unlimited).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs allowed (cpuset).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed (cpuset).
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of pids (-1 or 0: unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Container id.
    pub id: String,
}

/// Flags of list.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// table or json.
    #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Print only the ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// Flags of spec.
#[derive(Args, Debug)]
pub struct SpecArgs {
    /// Bundle directory to write config.json into.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// A spec for rootless containers (user namespace mapping the caller).
    #[arg(long)]
    pub rootless: bool,
}

/// Flags of completion.
#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}
