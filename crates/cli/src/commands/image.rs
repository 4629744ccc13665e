//! Image commands: pull, push, images, rmi, tag, inspect, save, load, prune, mount, unmount.

use super::{default_registry, open_store, RegistryArgs};
use crate::progress::CliProgress;
use crate::Global;
use anyhow::{bail, Context, Result};
use std::sync::Arc;
use strata_image::archive::{self, Format};
use strata_image::oci::Platform;
use strata_image::{mount, ops, pull as ipull, push as ipush};

/// `strata image ...`.
#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Pull an image from a registry.
    Pull(PullArgs),
    /// Push an image to a registry.
    Push(PushArgs),
    /// List images.
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Remove images.
    Rm(RmArgs),
    /// Add a name to an image.
    Tag(TagArgs),
    /// Show an image's details as JSON.
    Inspect(InspectArgs),
    /// Save images to an archive or layout.
    Save(SaveArgs),
    /// Load images from an archive or layout.
    Load(LoadArgs),
    /// Remove unused images and unreferenced content.
    Prune(PruneArgs),
    /// Mount an image's root filesystem read-only and print its path.
    Mount(MountArgs),
    /// Unmount an image's root filesystem.
    #[command(alias = "umount")]
    Unmount(MountArgs),
}

/// `pull`.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Image reference: [registry/]repository[:tag|@digest].
    pub image: String,
    /// Platform os/arch[/variant] to pick from a multi-arch index.
    #[arg(long)]
    pub platform: Option<String>,
    /// Architecture to pick (short for --platform linux/ARCH).
    #[arg(long)]
    pub arch: Option<String>,
    /// Print only the image id.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub reg: RegistryArgs,
}

/// `push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// Local image.
    pub image: String,
    /// Destination reference (default: the image's name).
    pub destination: Option<String>,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub reg: RegistryArgs,
}

/// `images`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Output format: table or json.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Print only image ids.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `rmi`.
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Images (names or ids).
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `tag`.
#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// Existing image.
    pub image: String,
    /// New names.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Images.
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Output format (json only).
    #[arg(long, default_value = "json")]
    pub format: String,
}

/// `save`.
#[derive(Debug, clap::Args)]
pub struct SaveArgs {
    /// Images to save.
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Output path (a directory for oci-dir).
    #[arg(short, long)]
    pub output: std::path::PathBuf,
    /// oci-archive, oci-dir or docker-archive.
    #[arg(long, default_value = "docker-archive")]
    pub format: String,
}

/// `load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Archive or OCI layout directory (format detected).
    #[arg(short, long)]
    pub input: std::path::PathBuf,
    /// Print only image ids.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `image prune`.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove all images, not only dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask (accepted for podman compatibility; strata never asks).
    #[arg(short, long)]
    pub force: bool,
}

/// `image mount` / `image unmount`.
#[derive(Debug, clap::Args)]
pub struct MountArgs {
    /// Images (`image mount` without images lists the mounted ones).
    pub images: Vec<String>,
}

/// Runs `strata image <cmd>`.
pub async fn run(g: &Global, c: ImageCommand) -> Result<()> {
    match c {
        ImageCommand::Pull(a) => pull(g, a).await,
        ImageCommand::Push(a) => push(g, a).await,
        ImageCommand::Ls(a) => list(g, a),
        ImageCommand::Rm(a) => rm(g, a),
        ImageCommand::Tag(a) => tag(g, a),
        ImageCommand::Inspect(a) => inspect(g, a),
        ImageCommand::Save(a) => save(g, a),
        ImageCommand::Load(a) => load(g, a),
        ImageCommand::Prune(a) => prune(g, a),
        ImageCommand::Mount(a) => do_mount(g, a),
        ImageCommand::Unmount(a) => do_unmount(g, a),
    }
}

/// `pull`.
pub async fn pull(g: &Global, a: PullArgs) -> Result<()> {
    let store = open_store(g)?;
    let mut opts = a.reg.options(g)?;
    if let Some(p) = &a.platform {
        opts.platform = Platform::parse(p)?;
    } else if let Some(arch) = &a.arch {
        opts.platform.architecture = arch.clone();
    }
    let progress = Arc::new(CliProgress::new(a.quiet));
    let r = ipull::pull(store, &opts, &a.image, progress).await?;
    if !a.quiet && r.already_present {
        eprintln!("Image {} is up to date", r.name);
    }
    println!("{}", r.id.hex());
    Ok(())
}

/// `push`.
pub async fn push(g: &Global, a: PushArgs) -> Result<()> {
    let store = open_store(g)?;
    let opts = a.reg.options(g)?;
    let progress = Arc::new(CliProgress::new(a.quiet));
    let d = ipush::push(&store, &opts, &a.image, a.destination.as_deref(), progress).await?;
    if !a.quiet {
        eprintln!("Writing manifest {d}");
    }
    Ok(())
}

fn age(t: i64) -> String {
    let s = (ipull::now() - t).max(0);
    match s {
        0..=59 => format!("{s} seconds ago"),
        60..=3599 => format!("{} minutes ago", s / 60),
        3600..=86399 => format!("{} hours ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}

fn human(n: u64) -> String {
    let f = n as f64;
    if f >= 1e9 {
        format!("{:.3} GB", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.3} MB", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.3} kB", f / 1e3)
    } else {
        format!("{n} B")
    }
}

/// `registry/repo:tag` -> (`registry/repo`, `tag`); digests and untagged names get `<none>`.
fn split_name(n: &str) -> (String, String) {
    if let Some((r, _)) = n.split_once('@') {
        return (r.to_string(), "<none>".into());
    }
    match n.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
        Some((r, t)) => (r.to_string(), t.to_string()),
        None => (n.to_string(), "<none>".into()),
    }
}

/// `images`.
pub fn list(g: &Global, a: ListArgs) -> Result<()> {
    let store = open_store(g)?;
    let imgs = store.meta().list()?;
    if a.quiet {
        for i in &imgs {
            println!("{}", i.id.short());
        }
        return Ok(());
    }
    let items = || -> Vec<serde_json::Value> {
        imgs.iter()
            .map(|i| {
                let (repo, tag) = i.names.first().map(|n| split_name(n)).unwrap_or_else(|| ("<none>".into(), "<none>".into()));
                serde_json::json!({
                    "Id": i.id.hex(), "ID": i.id.short(), "Names": i.names, "Digest": i.manifest_digest,
                    "RepoDigests": i.repo_digests, "Created": i.created, "Size": i.size,
                    "Dangling": i.names.is_empty(), "Repository": repo, "Tag": tag,
                })
            })
            .collect()
    };
    match a.format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&items())?),
        t if t.contains("{{") => {
            let t = t.strip_prefix("table ").unwrap_or(t);
            for v in items() {
                println!("{}", crate::format::render(t, &v));
            }
        }
        "table" => {
            println!(
                "{:<45} {:<12} {:<14} {:<16} SIZE",
                "REPOSITORY", "TAG", "IMAGE ID", "CREATED"
            );
            for i in &imgs {
                let names: Vec<(String, String)> = if i.names.is_empty() {
                    vec![("<none>".into(), "<none>".into())]
                } else {
                    i.names.iter().map(|n| split_name(n)).collect()
                };
                for (r, t) in names {
                    println!(
                        "{r:<45} {t:<12} {:<14} {:<16} {}",
                        i.id.short(),
                        age(i.created),
                        human(i.size)
                    );
                }
            }
        }
        f => bail!(
            "images: unknown format {f:?} (table, json, or a template like {{{{.Repository}}}})"
        ),
    }
    Ok(())
}

/// `rmi`.
pub fn rm(g: &Global, a: RmArgs) -> Result<()> {
    let store = open_store(g)?;
    let reg = default_registry(g)?;
    let mut failed = None;
    for i in &a.images {
        if let Ok(img) = ops::lookup(&store, i, &reg) {
            if mount::is_mounted(&store, &img) {
                failed = Some(anyhow::anyhow!(
                    "rmi {i}: image is mounted (strata image unmount first)"
                ));
                continue;
            }
        }
        match ops::remove(&store, i, &reg) {
            Ok(rs) => {
                for r in rs {
                    match r {
                        ops::Removed::Untagged(n) => println!("Untagged: {n}"),
                        ops::Removed::Deleted(d) => println!("Deleted: {}", d.hex()),
                    }
                }
            }
            Err(e) => {
                eprintln!("Error: rmi {i}: {e}");
                failed = Some(anyhow::anyhow!("rmi: some images were not removed"));
            }
        }
    }
    failed.map_or(Ok(()), Err)
}

/// `tag`.
pub fn tag(g: &Global, a: TagArgs) -> Result<()> {
    let store = open_store(g)?;
    let reg = default_registry(g)?;
    for n in &a.names {
        ops::tag(&store, &a.image, n, &reg).with_context(|| format!("tag {} {n}", a.image))?;
    }
    Ok(())
}

/// `inspect`.
pub fn inspect(g: &Global, a: InspectArgs) -> Result<()> {
    if a.format != "json" {
        bail!("inspect: only --format json is supported");
    }
    let store = open_store(g)?;
    let reg = default_registry(g)?;
    let mut out = Vec::new();
    for i in &a.images {
        let img = ops::lookup(&store, i, &reg).with_context(|| format!("inspect {i}"))?;
        out.push(ops::inspect(&store, &img).with_context(|| format!("inspect {i}"))?);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// `save`.
pub fn save(g: &Global, a: SaveArgs) -> Result<()> {
    let store = open_store(g)?;
    let reg = default_registry(g)?;
    let fmt = Format::parse(&a.format)?;
    let mut imgs = Vec::new();
    for i in &a.images {
        let img = ops::lookup(&store, i, &reg).with_context(|| format!("save {i}"))?;
        let name = strata_image::Reference::parse(i, &reg)
            .ok()
            .map(|r| r.store_name())
            .filter(|n| img.names.contains(n))
            .or_else(|| img.names.first().cloned());
        imgs.push((img, name));
    }
    archive::save(&store, &imgs, &a.output, fmt)
        .with_context(|| format!("save {}", a.output.display()))
}

/// `load`.
pub fn load(g: &Global, a: LoadArgs) -> Result<()> {
    let store = open_store(g)?;
    let loaded =
        archive::load(&store, &a.input).with_context(|| format!("load {}", a.input.display()))?;
    for (id, names) in loaded {
        if a.quiet {
            println!("{}", id.hex());
        } else if names.is_empty() {
            println!("Loaded image: {}", id.hex());
        } else {
            println!("Loaded image: {}", names.join(", "));
        }
    }
    Ok(())
}

/// `image prune`.
pub fn prune(g: &Global, a: PruneArgs) -> Result<()> {
    let store = open_store(g)?;
    for d in ops::prune(&store, a.all)? {
        println!("{}", d.hex());
    }
    Ok(())
}

fn do_mount(g: &Global, a: MountArgs) -> Result<()> {
    let store = open_store(g)?;
    let reg = default_registry(g)?;
    if a.images.is_empty() {
        for img in store.meta().list()? {
            if mount::is_mounted(&store, &img) {
                let (p, _) = mount::mount(&store, &img, false)?;
                let name = img
                    .names
                    .first()
                    .cloned()
                    .unwrap_or_else(|| img.id.short().to_string());
                println!("{} {name} {}", img.id.short(), p.display());
            }
        }
        return Ok(());
    }
    for i in &a.images {
        let img = ops::lookup(&store, i, &reg).with_context(|| format!("image mount {i}"))?;
        let force_copy = std::env::var_os("STRATA_MOUNT_COPY").is_some();
        let (p, _) =
            mount::mount(&store, &img, force_copy).with_context(|| format!("image mount {i}"))?;
        println!("{}", p.display());
    }
    Ok(())
}

fn do_unmount(g: &Global, a: MountArgs) -> Result<()> {
    if a.images.is_empty() {
        bail!("image unmount: name at least one image");
    }
    let store = open_store(g)?;
    let reg = default_registry(g)?;
    for i in &a.images {
        let img = ops::lookup(&store, i, &reg).with_context(|| format!("image unmount {i}"))?;
        mount::unmount(&store, &img).with_context(|| format!("image unmount {i}"))?;
        println!("{}", img.id.hex());
    }
    Ok(())
}
