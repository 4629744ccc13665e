//! `strata build`: an image from a Dockerfile or Containerfile (podman's and docker's
//! flags), its lints first; `strata builder prune`: the step cache emptied.

use super::container::open_engine;
use crate::Global;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use strata_build::builder::{self, Request};
use strata_build::lint::{self, LintOptions};

/// `build`'s options.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The Dockerfile (default: CONTEXT/Containerfile, else CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Name the image (repeatable): `-t app:1 -t app:latest`.
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Build up to this stage (`FROM ... AS name`) only.
    #[arg(long)]
    pub target: Option<String>,
    /// Set a build argument: KEY=VALUE (repeatable).
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// A secret for `RUN --mount=type=secret`: id=ID,src=FILE (repeatable; never stored in
    /// the image).
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// Run every step again instead of reusing the step cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Only check the Dockerfile against the course's practices; build nothing.
    #[arg(long)]
    pub lint_only: bool,
    /// Print only the image id.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Progress output: auto or plain (one line per step and the RUN output), quiet.
    #[arg(long, default_value = "auto", value_parser = ["auto", "plain", "tty", "quiet"])]
    pub progress: String,
    /// Also write the image out: type=oci-archive|docker-archive|local,dest=PATH (a bare
    /// PATH is a local directory with the image's file tree).
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// The build context directory.
    #[arg(default_value = ".")]
    pub context: PathBuf,
}

/// `builder` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BuilderCommand {
    /// Empty the build step cache.
    Prune,
}

fn dockerfile(a: &BuildArgs) -> Result<PathBuf> {
    if let Some(f) = &a.file {
        return Ok(f.clone());
    }
    for n in ["Containerfile", "Dockerfile"] {
        let p = a.context.join(n);
        if p.exists() {
            return Ok(p);
        }
    }
    bail!(
        "build: no Containerfile or Dockerfile in {} (name one with -f)",
        a.context.display()
    )
}

/// `build`.
pub fn build(g: &Global, a: BuildArgs) -> Result<i32> {
    if !a.context.is_dir() {
        bail!("build: context {}: not a directory", a.context.display());
    }
    let file = dockerfile(&a)?;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("build: {}", file.display()))?;
    let name = file.display().to_string();
    let df = strata_build::parse::parse(&name, &text).map_err(|e| anyhow!("{e}"))?;
    let lints = lint::lint(
        &df,
        &LintOptions {
            has_dockerignore: strata_build::dockerignore::select_ignore_file(&a.context, &file)
                .is_some(),
            target: a.target.clone(),
        },
    );
    if !lints.is_empty() && (!a.quiet || a.lint_only) {
        eprint!("{}", lint::render_all(&lints));
    }
    if a.lint_only {
        return Ok(0);
    }
    let mut build_args = BTreeMap::new();
    for kv in &a.build_args {
        match kv.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), v.to_string()),
            // docker: a bare name takes the value of the environment variable.
            None => build_args.insert(kv.clone(), std::env::var(kv).unwrap_or_default()),
        };
    }
    let mut secrets = BTreeMap::new();
    for spec in &a.secrets {
        let (mut id, mut src) = (None, None);
        for kv in spec.split(',') {
            match kv.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
                _ => bail!("build: --secret {spec}: use id=ID,src=FILE"),
            }
        }
        let (Some(id), Some(src)) = (id, src) else {
            bail!("build: --secret {spec}: use id=ID,src=FILE");
        };
        if !src.is_file() {
            bail!("build: --secret {id}: {} is not a file", src.display());
        }
        secrets.insert(id, src);
    }
    let epoch = match build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
    {
        Some(v) if !v.is_empty() => Some(
            v.parse::<i64>()
                .map_err(|_| anyhow!("build: SOURCE_DATE_EPOCH={v}: seconds since 1970"))?,
        ),
        _ => None,
    };
    let output = a.output.as_deref().map(Output::parse).transpose()?;
    let e = open_engine(g)?;
    let req = Request {
        context: a.context.clone(),
        dockerfile: file,
        tags: a.tags.clone(),
        target: a.target.clone(),
        build_args,
        no_cache: a.no_cache,
        secrets,
        source_date_epoch: epoch,
        labels: BTreeMap::new(),
    };
    let images = |r: &str| {
        super::container::run::ensure_image(g, &e, r, "missing", None)
            .map_err(|err| format!("{err:#}"))
    };
    // An async runtime only if an ADD downloads.
    let rt = std::sync::OnceLock::new();
    let urls = |url: &str, to: &std::path::Path| -> std::result::Result<(), String> {
        if rt.get().is_none() {
            let made = crate::runtime().map_err(|e| e.to_string())?;
            let _ = rt.set(made);
        }
        let rt: &tokio::runtime::Runtime = rt.get().expect("set above");
        rt.block_on(strata_image::registry::client::download(url, to))
    };
    let quiet = a.quiet || a.progress == "quiet";
    let mut progress = |line: &str| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    let built = builder::build(&e, &req, &images, &urls, &mut progress)
        .map_err(|err| anyhow!("build: {err}"))?;
    if !quiet {
        for n in &built.image.names {
            eprintln!("COMMIT {n}");
        }
        eprintln!(
            "--> {} ({} steps run, {} from the cache)",
            built.image.id.short(),
            built.executed,
            built.cached
        );
    }
    if let Some(o) = output {
        o.write(&e, &built.image)?;
        if !quiet {
            eprintln!("--> written to {}", o.dest.display());
        }
    }
    println!("{}", built.image.id.hex());
    Ok(0)
}

/// `--output`.
struct Output {
    kind: String,
    dest: PathBuf,
}

impl Output {
    fn parse(s: &str) -> Result<Output> {
        if !s.contains('=') {
            return Ok(Output {
                kind: "local".into(),
                dest: s.into(),
            });
        }
        let (mut kind, mut dest) = (None, None);
        for kv in s.split(',') {
            match kv.split_once('=') {
                Some(("type", v)) => kind = Some(v.to_string()),
                Some(("dest", v)) => dest = Some(PathBuf::from(v)),
                _ => bail!(
                    "build: --output {s}: use type=oci-archive|docker-archive|local,dest=PATH"
                ),
            }
        }
        let kind = kind.unwrap_or_else(|| "local".into());
        if !matches!(kind.as_str(), "local" | "oci-archive" | "docker-archive") {
            bail!("build: --output type={kind}: use oci-archive, docker-archive or local");
        }
        let dest = dest.ok_or_else(|| anyhow!("build: --output {s}: dest=PATH is missing"))?;
        Ok(Output { kind, dest })
    }

    fn write(
        &self,
        e: &strata_engine::Engine,
        img: &strata_image::store::ImageRecord,
    ) -> Result<()> {
        let store = e.store()?;
        let what = || format!("build: --output {}", self.dest.display());
        match self.kind.as_str() {
            "local" => {
                std::fs::create_dir_all(&self.dest).with_context(what)?;
                strata_image::mount::flatten(&store, img, &self.dest).with_context(what)
            }
            kind => {
                let fmt = strata_image::archive::Format::parse(kind)?;
                let name = img.names.first().cloned();
                strata_image::archive::save(&store, &[(img.clone(), name)], &self.dest, fmt)
                    .with_context(what)
            }
        }
    }
}

/// `builder prune`.
pub fn builder_cmd(g: &Global, c: BuilderCommand) -> Result<i32> {
    match c {
        BuilderCommand::Prune => {
            let n = builder::cache::prune(&g.root).context("builder prune")?;
            println!("removed {n} cache entries");
            Ok(0)
        }
    }
}
