//! Variable scopes: build arguments, ARG declarations, ENV, and the predefined arguments.
//!
//! BuildKit's rules: ARGs declared before the first FROM (meta args) are visible to FROM
//! lines only; inside a stage a bare `ARG NAME` brings a meta arg's value in. A build arg
//! (`--build-arg`) overrides a declaration's default. ENV wins over ARG of the same name,
//! and a stage built FROM another inherits its ENV, not its ARGs. The platform arguments are
//! set automatically in the meta scope and must be declared to be seen in a stage; the proxy
//! arguments need no declaration.

use std::collections::BTreeMap;

use crate::expand::{expand_word, expand_words, ExpandError};

/// The proxy arguments docker passes through without an ARG declaration.
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// An `os/arch[/variant]` platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`, `windows`, ...
    pub os: String,
    /// GOARCH-style architecture: `amd64`, `arm64`, `arm`, ...
    pub arch: String,
    /// `v7`, `v8`, ... or empty.
    pub variant: String,
}

impl Platform {
    /// Parses `linux/amd64` or `linux/arm/v7`.
    pub fn parse(s: &str) -> Option<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Some(Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: String::new(),
            }),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() => Some(Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: v.to_string(),
            }),
            _ => None,
        }
    }

    /// The platform this library was compiled for (`linux/amd64` on x86_64).
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            arch: arch.to_string(),
            variant: String::new(),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

/// What a build is asked to do: build args and platforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// `--build-arg NAME=value`.
    pub build_args: BTreeMap<String, String>,
    /// The platform the image is for (`TARGETPLATFORM`).
    pub target_platform: Platform,
    /// The platform the build runs on (`BUILDPLATFORM`).
    pub build_platform: Platform,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            build_args: BTreeMap::new(),
            target_platform: Platform::host(),
            build_platform: Platform::host(),
        }
    }
}

impl BuildOptions {
    /// The automatic platform arguments: `TARGETPLATFORM`, `TARGETOS`, ..., `BUILDVARIANT`.
    pub fn platform_args(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (prefix, p) in [
            ("TARGET", &self.target_platform),
            ("BUILD", &self.build_platform),
        ] {
            out.push((format!("{prefix}PLATFORM"), p.to_string()));
            out.push((format!("{prefix}OS"), p.os.clone()));
            out.push((format!("{prefix}ARCH"), p.arch.clone()));
            out.push((format!("{prefix}VARIANT"), p.variant.clone()));
        }
        out
    }
}

/// The variables visible at one point of a Dockerfile, in BuildKit's precedence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// ENV values (expanded), which win over ARGs.
    env: Vec<(String, String)>,
    /// Declared ARGs with a value (expanded).
    args: Vec<(String, String)>,
    /// Proxy build args (visible without declaration).
    proxies: Vec<(String, String)>,
    escape: char,
}

fn set(list: &mut Vec<(String, String)>, name: &str, value: String) {
    list.retain(|(k, _)| k != name);
    list.push((name.to_string(), value));
}

impl Scope {
    /// An empty scope using `escape` for expansion.
    pub fn new(escape: char) -> Scope {
        Scope {
            escape,
            ..Scope::default()
        }
    }

    /// A stage's starting scope: `inherited_env` from a parent stage, plus proxy build args.
    pub fn for_stage(
        escape: char,
        inherited_env: &[(String, String)],
        opts: &BuildOptions,
    ) -> Scope {
        let proxies = opts
            .build_args
            .iter()
            .filter(|(k, _)| PROXY_ARGS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Scope {
            env: inherited_env.to_vec(),
            args: Vec::new(),
            proxies,
            escape,
        }
    }

    /// The value of `name`: ENV first, then ARG, then a proxy build arg.
    pub fn get(&self, name: &str) -> Option<String> {
        [&self.env, &self.args, &self.proxies]
            .iter()
            .find_map(|l| l.iter().find(|(k, _)| k == name))
            .map(|(_, v)| v.clone())
    }

    /// Expands one word in this scope.
    pub fn expand(&self, word: &str) -> Result<String, ExpandError> {
        expand_word(word, self.escape, &|n| self.get(n))
    }

    /// Expands and splits `text` into words in this scope.
    pub fn expand_words(&self, text: &str) -> Result<Vec<String>, ExpandError> {
        expand_words(text, self.escape, &|n| self.get(n))
    }

    /// Records `ENV name=value` (the value already expanded).
    pub fn set_env(&mut self, name: &str, value: String) {
        set(&mut self.env, name, value);
    }

    /// Records an ARG that has a value.
    pub fn set_arg(&mut self, name: &str, value: String) {
        set(&mut self.args, name, value);
    }

    /// The ENV variables, in order of definition.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The declared ARGs with values, in order.
    pub fn args(&self) -> &[(String, String)] {
        &self.args
    }
}

/// Declares `ARG name[=default]` in `scope` following BuildKit's rules, returning the value.
///
/// `outer` is the meta scope (for a bare ARG inside a stage), `None` for a meta ARG.
/// A build arg that is used is recorded in `used`.
pub fn declare_arg(
    scope: &mut Scope,
    outer: Option<&Scope>,
    name: &str,
    default: Option<&str>,
    opts: &BuildOptions,
    used: &mut Vec<String>,
) -> Result<Option<String>, ExpandError> {
    let value = if let Some(v) = opts.build_args.get(name) {
        if !used.iter().any(|u| u == name) {
            used.push(name.to_string());
        }
        Some(v.clone())
    } else if let Some(d) = default {
        Some(scope.expand(d)?)
    } else {
        let platform = opts.platform_args();
        outer
            .and_then(|o| {
                o.args
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
            .or_else(|| {
                platform
                    .into_iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v)
            })
    };
    if let Some(v) = &value {
        scope.set_arg(name, v.clone());
    }
    Ok(value)
}
