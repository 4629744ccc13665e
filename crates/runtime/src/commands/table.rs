//! The command table: every command with its flags and help, the source of the parser's
//! grammar, of `--help` and of the shell completions.

use super::argparse::{self, flag, hidden, opt, CommandSpec, Flag};

/// The program name in help and completions.
pub const BIN: &str = "strata-runc";

/// Global options (before or after the command).
pub const GLOBAL_FLAGS: &[Flag] = &[
    flag("debug", None, "enable debug logging"),
    opt(
        "log",
        None,
        "path",
        "log file (containerd and conmon read errors from it; default stderr)",
    ),
    opt(
        "log-format",
        None,
        "text|json",
        "log format (default: text)",
    ),
    opt(
        "root",
        None,
        "dir",
        "directory for container state, best on tmpfs (default: /run/strata-runc)",
    ),
    flag(
        "systemd-cgroup",
        None,
        "cgroupsPath is systemd's \"slice:prefix:name\" (placed with the cgroupfs driver)",
    ),
    opt(
        "rootless",
        None,
        "true|false|auto",
        "accepted for runc compatibility (rootless mode is detected)",
    ),
    hidden("criu", true),
    flag("version", Some('v'), "print the version"),
];

const CREATE_FLAGS: [Flag; 6] = [
    opt(
        "bundle",
        Some('b'),
        "dir",
        "bundle directory (default: the current directory)",
    ),
    opt(
        "console-socket",
        None,
        "path",
        "unix socket that receives the pty master (process.terminal)",
    ),
    opt("pid-file", None, "path", "write the init's pid here"),
    flag(
        "no-pivot",
        None,
        "use chroot instead of pivot_root (for ramdisk roots)",
    ),
    flag(
        "no-new-keyring",
        None,
        "do not create a new session keyring",
    ),
    opt(
        "preserve-fds",
        None,
        "n",
        "pass this many extra descriptors (from 3) to the container",
    ),
];

/// create's flags and run's own.
const RUN_FLAGS: [Flag; 9] = {
    let extra = [
        flag("detach", Some('d'), "return once the container runs"),
        flag("keep", None, "keep the container after it exits"),
        hidden("no-subreaper", false),
    ];
    let mut out = [extra[0]; 9];
    let mut i = 0;
    while i < 9 {
        out[i] = if i < 6 { CREATE_FLAGS[i] } else { extra[i - 6] };
        i += 1;
    }
    out
};

const EXEC_FLAGS: &[Flag] = &[
    opt(
        "process",
        Some('p'),
        "file",
        "process JSON (the spec's process object); - reads stdin",
    ),
    flag("detach", Some('d'), "return once the process runs"),
    flag("tty", Some('t'), "allocate a pty (needs --console-socket)"),
    opt(
        "console-socket",
        None,
        "path",
        "unix socket that receives the pty master",
    ),
    opt("pid-file", None, "path", "write the process's pid here"),
    opt("cap", Some('c'), "CAP", "add a capability (repeatable)"),
    opt(
        "env",
        Some('e'),
        "NAME=VALUE",
        "set an environment variable (repeatable)",
    ),
    opt("cwd", None, "dir", "working directory"),
    opt("user", Some('u'), "UID[:GID]", "user to run as"),
    opt(
        "additional-gids",
        Some('g'),
        "gid",
        "additional group (repeatable)",
    ),
    flag("no-new-privs", None, "set no_new_privs"),
    opt("apparmor", None, "profile", "AppArmor profile"),
    opt("process-label", None, "label", "SELinux label"),
    opt(
        "preserve-fds",
        None,
        "n",
        "pass this many extra descriptors (from 3)",
    ),
    flag("ignore-paused", None, "allow exec in a paused container"),
    hidden("cgroup", true),
];

const UPDATE_FLAGS: &[Flag] = &[
    opt(
        "resources",
        Some('r'),
        "file",
        "resources JSON (the spec's linux.resources); - reads stdin",
    ),
    opt("memory", None, "bytes", "memory limit"),
    opt("memory-reservation", None, "bytes", "memory soft limit"),
    opt(
        "memory-swap",
        None,
        "bytes",
        "memory+swap limit (-1: unlimited)",
    ),
    opt("cpu-share", None, "n", "CPU shares"),
    opt("cpu-period", None, "us", "CFS period"),
    opt("cpu-quota", None, "us", "CFS quota (-1: unlimited)"),
    opt("cpuset-cpus", None, "list", "CPUs allowed"),
    opt("cpuset-mems", None, "list", "memory nodes allowed"),
    opt(
        "pids-limit",
        None,
        "n",
        "maximum number of pids (-1 or 0: unlimited)",
    ),
    opt("blkio-weight", None, "n", "block IO weight (10-1000)"),
    opt("cpu-rt-period", None, "us", "realtime scheduling period"),
    opt("cpu-rt-runtime", None, "us", "realtime runtime per period"),
    opt("cpu-idle", None, "0|1", "SCHED_IDLE for the cgroup"),
    opt(
        "kernel-memory-tcp",
        None,
        "bytes",
        "kernel TCP buffer limit (cgroup v1)",
    ),
    hidden("kernel-memory", true),
];

const FORMAT_FLAG: Flag = opt(
    "format",
    Some('f'),
    "table|json",
    "output format (default: table)",
);

/// A command with one required `<container-id>` and no flags.
const fn id_only(name: &'static str, about: &'static str) -> CommandSpec {
    CommandSpec {
        name,
        aliases: &[],
        about,
        args_usage: "<container-id>",
        min_args: 1,
        max_args: 1,
        trailing: false,
        flags: &[],
    }
}

/// Every command, in help order.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "create",
        aliases: &[],
        about: "create a container: everything up to the user program, which waits for start",
        args_usage: "<container-id>",
        min_args: 1,
        max_args: 1,
        trailing: false,
        flags: &CREATE_FLAGS,
    },
    id_only("start", "start the user program of a created container"),
    CommandSpec {
        name: "run",
        aliases: &[],
        about: "create and start a container, wait for it and delete it (unless --detach)",
        args_usage: "<container-id>",
        min_args: 1,
        max_args: 1,
        trailing: false,
        flags: &RUN_FLAGS,
    },
    id_only("state", "print a container's OCI state as JSON"),
    CommandSpec {
        name: "kill",
        aliases: &[],
        about: "send a signal (default SIGTERM) to a container's init, or to all its processes",
        args_usage: "<container-id> [signal]",
        min_args: 1,
        max_args: 2,
        trailing: false,
        flags: &[flag("all", Some('a'), "signal every process of the container")],
    },
    CommandSpec {
        name: "delete",
        aliases: &[],
        about: "delete a stopped container (or any, with --force)",
        args_usage: "<container-id>",
        min_args: 1,
        max_args: 1,
        trailing: false,
        flags: &[flag("force", Some('f'), "kill the container first if it still runs")],
    },
    CommandSpec {
        name: "exec",
        aliases: &[],
        about: "run a new process inside a running container",
        args_usage: "<container-id> <command> [args...]",
        min_args: 1,
        max_args: 1,
        trailing: true,
        flags: EXEC_FLAGS,
    },
    CommandSpec {
        name: "ps",
        aliases: &[],
        about: "list the processes of a container",
        args_usage: "<container-id> [ps options]",
        min_args: 1,
        max_args: 1,
        trailing: true,
        flags: &[FORMAT_FLAG],
    },
    id_only("pause", "freeze every process of a container"),
    id_only("resume", "thaw a paused container"),
    CommandSpec {
        name: "update",
        aliases: &[],
        about: "change a running container's resource limits",
        args_usage: "<container-id>",
        min_args: 1,
        max_args: 1,
        trailing: false,
        flags: UPDATE_FLAGS,
    },
    CommandSpec {
        name: "list",
        aliases: &["ls"],
        about: "list the containers under --root",
        args_usage: "",
        min_args: 0,
        max_args: 0,
        trailing: false,
        flags: &[FORMAT_FLAG, flag("quiet", Some('q'), "print only the ids")],
    },
    CommandSpec {
        name: "spec",
        aliases: &[],
        about: "write a default config.json into a bundle",
        args_usage: "",
        min_args: 0,
        max_args: 0,
        trailing: false,
        flags: &[
            opt("bundle", Some('b'), "dir", "bundle directory (default: the current directory)"),
            flag("rootless", None, "a spec for rootless containers (user namespace mapping the caller)"),
        ],
    },
    CommandSpec {
        name: "features",
        aliases: &[],
        about: "print what this runtime supports (OCI features document)",
        args_usage: "",
        min_args: 0,
        max_args: 0,
        trailing: false,
        flags: &[],
    },
    CommandSpec {
        name: "completion",
        aliases: &[],
        about: "print shell completions (bash, zsh or fish)",
        args_usage: "<shell>",
        min_args: 1,
        max_args: 1,
        trailing: false,
        flags: &[],
    },
    CommandSpec {
        name: "demo",
        aliases: &[],
        about: "run the embedded demo container (busybox-static): prints its hostname, PID 1 and limits",
        args_usage: "",
        min_args: 0,
        max_args: 0,
        trailing: false,
        flags: &[],
    },
];

const ABOUT: &str = "Strata's OCI runtime (runc-compatible).

Runs containers from OCI bundles (a directory with config.json and a root filesystem) the
way runc does, so podman (--runtime /path/to/strata-runc) and containerd (runc option
BinaryName) can use it unchanged.

   # strata-runc spec -b mybundle        (then put a root filesystem in mybundle/rootfs)
   # strata-runc run -b mybundle mycontainer";

/// The version text.
pub fn version() -> String {
    format!("{BIN} version {}\nspec: 1.2.0\n", env!("CARGO_PKG_VERSION"))
}

/// Top-level help.
pub fn help() -> String {
    let mut out = format!(
        "{ABOUT}\n\nUSAGE:\n   {BIN} [global options] command [command options] [arguments...]\n\nCOMMANDS:\n"
    );
    for c in COMMANDS {
        out.push_str(&format!("   {:<11} {}\n", c.name, c.about));
    }
    out.push_str(&format!(
        "   {:<11} {}\n",
        "help", "show help for a command"
    ));
    out.push_str("\nGLOBAL OPTIONS:\n");
    out.push_str(&argparse::flags_table(GLOBAL_FLAGS));
    out.push_str(&format!("   {:<11} {}\n", "--help, -h", "show help"));
    out
}

/// Looks a command up by name or alias.
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|c| c.name == name || c.aliases.contains(&name))
}
