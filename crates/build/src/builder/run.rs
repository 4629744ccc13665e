//! RUN: the command runs in a container of the engine made from the image so far (its env,
//! workdir and user; the stage's ARGs in its environment; no network unless
//! `--network=host`), its output shown, then its writable layer committed as the step's
//! layer. A failed command stops the build with its status; its container goes either way.

use super::state::StageState;
use super::{Builder, Error};
use crate::parse::{Command, NetworkMode as RunNetwork, RunInstr};
use strata_engine::container::config::{ContainerConfig, NetworkMode};
use strata_engine::container::{create, remove, start, stop};
use strata_engine::spec::image_config::ImageConfig;
use strata_engine::Engine;
use strata_image::snapshot::Committed;
use strata_image::snapshotter::Snapshotter;

/// Runs a RUN step (or takes it from the cache).
pub(crate) fn step(
    b: &mut Builder<'_, '_>,
    st: &mut StageState,
    r: &RunInstr,
    name: &str,
) -> Result<(), Error> {
    let err = |msg: String| Error::Step {
        step: name.to_string(),
        msg,
    };
    let prepared = super::mounts::prepare(b, st, &r.mounts).map_err(err)?;
    let argv = argv(st, r);
    let network = match r.network {
        Some(RunNetwork::Host) => NetworkMode::Host,
        _ => NetworkMode::None,
    };
    let args: Vec<String> = st
        .scope
        .args()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let created_by = format!("RUN {}", argv.join(" "));
    st.chain(
        &created_by,
        &format!("{args:?} {network:?} {:?} {}", r.mounts, prepared.key),
    );
    if super::cache::reuse(b, st, name).map_err(err)? {
        return Ok(());
    }
    let img = st.image(b.e).map_err(err)?;
    let mut env = args;
    env.extend(prepared.env.iter().cloned());
    let layer = run_in_container(b, &img, argv, env, network, prepared.mounts.clone());
    drop(prepared);
    let layer = layer.map_err(|e| match e {
        Failure::Exit(code) => Error::RunFailed {
            step: name.to_string(),
            code,
        },
        Failure::Other(msg) => err(msg),
    })?;
    st.push_layer(layer, &created_by);
    b.executed += 1;
    let out = st.image(b.e).map_err(err)?;
    super::cache::record(b, st, &out);
    Ok(())
}

/// The argv of a RUN: exec form as given; shell form through the image's shell; a heredoc
/// (`RUN <<EOF`) runs as the shell's script.
fn argv(st: &StageState, r: &RunInstr) -> Vec<String> {
    match &r.command {
        Command::Shell(s) if !r.heredocs.is_empty() => {
            let script = if s.trim_start().starts_with("<<") {
                r.heredocs
                    .iter()
                    .map(|h| h.content.clone())
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                let mut full = s.clone();
                for h in &r.heredocs {
                    full.push('\n');
                    full.push_str(&h.content);
                    if !h.content.ends_with('\n') {
                        full.push('\n');
                    }
                    full.push_str(&h.name);
                }
                full
            };
            st.argv(&Command::Shell(script))
        }
        c => st.argv(c),
    }
}

enum Failure {
    Exit(i32),
    Other(String),
}

fn run_in_container(
    b: &mut Builder<'_, '_>,
    img: &strata_image::store::ImageRecord,
    argv: Vec<String>,
    env: Vec<String>,
    network: NetworkMode,
    mounts: Vec<strata_engine::container::config::MountSpec>,
) -> Result<Committed, Failure> {
    let e = b.e;
    let other = |e: strata_engine::Error| Failure::Other(e.to_string());
    let store = e.store().map_err(other)?;
    let doc = strata_image::ops::config(&store, img).map_err(|e| Failure::Other(e.to_string()))?;
    let ic = ImageConfig::from_document(&doc);
    let config = ContainerConfig {
        image: img.id.to_string(),
        entrypoint: Some(argv),
        env,
        network,
        mounts,
        labels: [("io.strata.build".to_string(), "run".to_string())].into(),
        ..Default::default()
    };
    // The run's mount points: its --mounts, and the files the engine binds over (as
    // BuildKit, an image does not keep the empty files a RUN needed them for).
    let mut targets: Vec<String> = config.mounts.iter().map(|m| m.target.clone()).collect();
    targets.extend(["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"].map(String::from));
    let c = create::create(e, None, config, img, &ic).map_err(other)?;
    let result = (|| {
        start::start(e, &c.id).map_err(other)?;
        let c = stop::load(e, &c.id).map_err(other)?;
        let code = stop::wait_exit(e, &c, None).map_err(other)?.unwrap_or(-1);
        stop::after_exit(e, &c.id).map_err(other)?;
        show_output(b, e, &c);
        if code != 0 {
            return Err(Failure::Exit(code));
        }
        let _l = strata_engine::lock::lock(&e.paths, &c.id).map_err(other)?;
        strata_engine::container::rootfs::unmount(e, &c.id).map_err(other)?;
        drop_mount_stubs(e, &c.id, &targets);
        Snapshotter::new(&store)
            .commit_clamped(&c.id, b.s.epoch)
            .map_err(|err| Failure::Other(format!("commit the layer: {err} [layer: image]")))
    })();
    let _ = remove::remove(e, &c.id, true, true);
    result
}

/// The container's output, as the build's progress.
fn show_output(b: &mut Builder<'_, '_>, e: &Engine, c: &strata_engine::Container) {
    let Ok(bytes) = std::fs::read(c.log_path(&e.paths)) else {
        return;
    };
    let mut line = Vec::new();
    for l in bytes.split(|&c| c == b'\n') {
        if let Some(r) = strata_monitor::cri_log::parse(l) {
            line.extend_from_slice(r.text);
            if r.full {
                b.say(&String::from_utf8_lossy(&line));
                line.clear();
            }
        }
    }
    if !line.is_empty() {
        b.say(&String::from_utf8_lossy(&line));
    }
}

/// Removes from the step's layer what the runtime made only to mount over (`/t` for a
/// tmpfs, `/run/secrets/tok` for a secret): the entry of the writable layer at a mount
/// target that no lower layer has and that is empty. Parent directories made for it stay,
/// as buildah leaves them. A path through a symlink is left alone (the step's command made
/// it).
fn drop_mount_stubs(e: &Engine, id: &str, targets: &[String]) {
    let Some((upper, lowers)) = strata_engine::container::rootfs::layers(e, id) else {
        return;
    };
    for t in targets {
        let rel = crate::dockerignore::clean(t.trim_start_matches('/'));
        if rel.is_empty() || rel == "." || rel.starts_with("..") {
            continue;
        }
        let parts: Vec<&str> = rel.split('/').collect();
        let through_link = (1..=parts.len()).any(|i| {
            std::fs::symlink_metadata(upper.join(parts[..i].join("/")))
                .is_ok_and(|m| m.file_type().is_symlink())
        });
        if through_link
            || lowers
                .iter()
                .any(|l| std::fs::symlink_metadata(l.join(&rel)).is_ok())
        {
            continue;
        }
        let p = upper.join(&rel);
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            let _ = std::fs::remove_dir(&p);
        } else if m.is_file() && m.len() == 0 {
            let _ = std::fs::remove_file(&p);
        }
    }
}
