//! The typed instructions a Dockerfile parses into.
//!
//! Values are kept as written (unexpanded, quotes included where BuildKit expands them
//! later); [`crate::expand`] and [`crate::stages`] evaluate them in their scope.

use std::time::Duration;

use super::directives::Directives;
use super::mount::Mount;

/// A parsed Dockerfile: its directives and its instructions in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The file name errors and lints are reported against.
    pub file: String,
    /// The parser directives at the top.
    pub directives: Directives,
    /// Every instruction, in source order (ARGs before the first FROM included).
    pub instructions: Vec<Instruction>,
}

/// One instruction with its source position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// 1-based line where it ends (continuations and heredoc bodies included).
    pub end_line: usize,
    /// The logical line as written (continuations joined, heredoc bodies excluded).
    pub original: String,
    /// What the instruction is.
    pub kind: InstructionKind,
}

/// Every Dockerfile instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstructionKind {
    /// `FROM [--platform=P] image [AS name]`.
    From(FromInstr),
    /// `RUN [flags] command`.
    Run(RunInstr),
    /// `COPY [flags] src... dest`.
    Copy(CopyInstr),
    /// `ADD [flags] src... dest`.
    Add(CopyInstr),
    /// `WORKDIR path`.
    Workdir(String),
    /// `ENV k=v ...` or `ENV k v`.
    Env(Vec<KeyValue>),
    /// `ARG name[=default] ...`.
    Arg(Vec<ArgDecl>),
    /// `USER user[:group]`.
    User(String),
    /// `ENTRYPOINT command`.
    Entrypoint(Command),
    /// `CMD command`.
    Cmd(Command),
    /// `EXPOSE port[/proto] ...` (raw words; see [`super::ExposedPort::parse`]).
    Expose(Vec<String>),
    /// `LABEL k=v ...`.
    Label(Vec<KeyValue>),
    /// `VOLUME ["/a"]` or `VOLUME /a /b`.
    Volume(Vec<String>),
    /// `STOPSIGNAL signal`.
    StopSignal(String),
    /// `HEALTHCHECK NONE` or `HEALTHCHECK [flags] CMD command`.
    Healthcheck(Healthcheck),
    /// `SHELL ["exe", "arg"]`.
    Shell(Vec<String>),
    /// `ONBUILD instruction`: a trigger stored in the image.
    Onbuild(Box<Instruction>),
    /// `MAINTAINER name` (deprecated; use a label).
    Maintainer(String),
}

impl InstructionKind {
    /// The instruction's keyword in upper case.
    pub fn name(&self) -> &'static str {
        match self {
            InstructionKind::From(_) => "FROM",
            InstructionKind::Run(_) => "RUN",
            InstructionKind::Copy(_) => "COPY",
            InstructionKind::Add(_) => "ADD",
            InstructionKind::Workdir(_) => "WORKDIR",
            InstructionKind::Env(_) => "ENV",
            InstructionKind::Arg(_) => "ARG",
            InstructionKind::User(_) => "USER",
            InstructionKind::Entrypoint(_) => "ENTRYPOINT",
            InstructionKind::Cmd(_) => "CMD",
            InstructionKind::Expose(_) => "EXPOSE",
            InstructionKind::Label(_) => "LABEL",
            InstructionKind::Volume(_) => "VOLUME",
            InstructionKind::StopSignal(_) => "STOPSIGNAL",
            InstructionKind::Healthcheck(_) => "HEALTHCHECK",
            InstructionKind::Shell(_) => "SHELL",
            InstructionKind::Onbuild(_) => "ONBUILD",
            InstructionKind::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromInstr {
    /// The image reference, stage name or `scratch`, as written.
    pub image: String,
    /// `--platform=` as written.
    pub platform: Option<String>,
    /// The stage name after `AS`, lower-cased (stage names are case-insensitive).
    pub alias: Option<String>,
}

/// A command in shell form (run through the SHELL) or exec form (JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Shell form: the text, as written.
    Shell(String),
    /// Exec form: the JSON array's strings.
    Exec(Vec<String>),
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// The default network.
    Default,
    /// No network at all.
    None,
    /// The host's network.
    Host,
}

/// `RUN --security=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityMode {
    /// The default confinement.
    Sandbox,
    /// Privileged (needs the builder's entitlement).
    Insecure,
}

/// A heredoc body attached to RUN, COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The terminator word (also the heredoc's name for COPY).
    pub name: String,
    /// The body, one `\n`-terminated line per source line (tabs stripped for `<<-`).
    pub content: String,
    /// False when the word was quoted (`<<"EOF"`): no variable expansion in the body.
    pub expand: bool,
    /// True for `<<-`: leading tabs were stripped.
    pub strip_tabs: bool,
    /// A file descriptor prefix (`3<<EOF`), if any.
    pub fd: Option<u32>,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInstr {
    /// The command (for heredocs, the line that introduces them).
    pub command: Command,
    /// `--mount=` specifications.
    pub mounts: Vec<Mount>,
    /// `--network=`.
    pub network: Option<NetworkMode>,
    /// `--security=`.
    pub security: Option<SecurityMode>,
    /// Heredoc bodies, in order.
    pub heredocs: Vec<Heredoc>,
}

/// `COPY` and `ADD` (flags that only one of them takes stay at their defaults for the other).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyInstr {
    /// Sources as written (heredoc sources appear as their `<<NAME` word).
    pub sources: Vec<String>,
    /// The destination as written.
    pub dest: String,
    /// True when written in the JSON form.
    pub json: bool,
    /// `--from=` (COPY only): a stage name, stage index or image.
    pub from: Option<String>,
    /// `--chown=`.
    pub chown: Option<String>,
    /// `--chmod=`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents` (COPY only).
    pub parents: bool,
    /// `--exclude=` patterns.
    pub exclude: Vec<String>,
    /// `--checksum=` (ADD only).
    pub checksum: Option<String>,
    /// `--keep-git-dir` (ADD only).
    pub keep_git_dir: bool,
    /// Heredoc sources, in order.
    pub heredocs: Vec<Heredoc>,
}

/// A `key=value` pair of ENV or LABEL (raw: quotes and variables still in the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The raw value.
    pub value: String,
}

/// One name declared by ARG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The argument's name.
    pub name: String,
    /// The raw default, if any.
    pub default: Option<String>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable the base image's check.
    None,
    /// `HEALTHCHECK [flags] CMD command`.
    Check {
        /// The probe command.
        command: Command,
        /// `--interval=`.
        interval: Option<Duration>,
        /// `--timeout=`.
        timeout: Option<Duration>,
        /// `--start-period=`.
        start_period: Option<Duration>,
        /// `--start-interval=`.
        start_interval: Option<Duration>,
        /// `--retries=`.
        retries: Option<u32>,
    },
}
