//! Executing a Dockerfile on the engine, as docker's classic builder and buildah do: each
//! stage starts from its base (an image, an earlier stage, or scratch); RUN runs in a
//! container of the engine made from the image so far (no network unless `--network=host`)
//! and its writable layer is committed as a new layer; COPY and ADD copy from the build
//! context (less what `.dockerignore` excludes) or from another stage or image into a
//! container's root filesystem, committed the same way; the other instructions change the
//! image's config. Steps are cached by a chain key (the base image, each instruction, the
//! content a COPY brings in), so a rebuild re-runs only from the first step whose key
//! changed. The final image is written with its config and history under the `-t` names.
//!
//! - `state`: a stage's image so far (layers, config, history) and its config instructions.
//! - `run`: RUN steps; `copy`: COPY and ADD; `context`: the build context and its hashing.
//! - `cache`: the step cache.

pub mod cache;
pub mod context;
pub mod copy;
pub mod mounts;
pub mod run;
pub mod state;

use crate::dockerignore::DockerIgnore;
use crate::parse::{Instruction, InstructionKind};
use crate::stages::{declare_arg, Base, BuildOptions, Platform, Scope, Source, StageGraph};
use state::StageState;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use strata_engine::Engine;
use strata_image::store::ImageRecord;

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile (or Containerfile).
    pub dockerfile: PathBuf,
    /// `-t` names.
    pub tags: Vec<String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--build-arg`.
    pub build_args: BTreeMap<String, String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--secret id=ID,src=FILE`: the files RUN --mount=type=secret gets.
    pub secrets: BTreeMap<String, PathBuf>,
    /// `SOURCE_DATE_EPOCH`: the image's times and its layers' file times (clamped) are this,
    /// so the same inputs give the same image, bit for bit.
    pub source_date_epoch: Option<i64>,
    /// `--label`: labels added to the final image's config.
    pub labels: BTreeMap<String, String>,
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct Built {
    /// The final image.
    pub image: ImageRecord,
    /// Steps executed (RUN, COPY, ADD) and those taken from the cache.
    pub executed: usize,
    /// Steps found in the cache.
    pub cached: usize,
}

/// A failed build: one line naming the step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Dockerfile does not parse or its stages do not resolve (`file:line[:col]: ...`).
    #[error("{0}")]
    Dockerfile(String),
    /// A step failed.
    #[error("{step}: {msg}")]
    Step {
        /// `STEP n/m (file:line): INSTRUCTION ...`.
        step: String,
        /// What went wrong.
        msg: String,
    },
    /// A RUN step's command failed.
    #[error("{step}: the command exited {code} [layer: build]")]
    RunFailed {
        /// The step.
        step: String,
        /// Its exit status.
        code: i32,
    },
}

/// Finds (pulling if needed) a base image by reference.
pub type ImageSource<'a> = &'a dyn Fn(&str) -> Result<ImageRecord, String>;

/// Downloads a URL (ADD) to a file.
pub type UrlSource<'a> = &'a (dyn Fn(&str, &std::path::Path) -> Result<(), String> + Sync);

/// Where progress lines go.
pub type Progress<'a> = &'a mut (dyn FnMut(&str) + Send);

/// Builds `req` with engine `e`; base images come from `images`, ADD's downloads from
/// `urls`. Stages that do not depend on each other build at the same time.
pub fn build(
    e: &Engine,
    req: &Request,
    images: ImageSource<'_>,
    urls: UrlSource<'_>,
    progress: Progress<'_>,
) -> Result<Built, Error> {
    let file = req.dockerfile.display().to_string();
    let text = std::fs::read_to_string(&req.dockerfile)
        .map_err(|err| Error::Dockerfile(format!("{file}: {err}")))?;
    let df = crate::parse::parse(&file, &text).map_err(|err| Error::Dockerfile(err.to_string()))?;
    let opts = BuildOptions {
        build_args: req.build_args.clone(),
        target_platform: Platform::host(),
        build_platform: Platform::host(),
    };
    let graph = StageGraph::new(&df, &opts).map_err(|err| Error::Dockerfile(err.to_string()))?;
    let target = req.target.as_deref();
    let order = graph
        .build_order(target)
        .map_err(|err| Error::Dockerfile(err.to_string()))?;
    let waves = graph
        .waves(target)
        .map_err(|err| Error::Dockerfile(err.to_string()))?;
    let ignore = match crate::dockerignore::select_ignore_file(&req.context, &req.dockerfile) {
        Some(p) => DockerIgnore::load(&p).map_err(|err| Error::Dockerfile(err.to_string()))?,
        None => DockerIgnore::parse(".dockerignore", "").expect("an empty ignore file parses"),
    };
    let mut meta = Scope::new(df.directives.escape);
    for (k, v) in &graph.meta_args {
        meta.set_arg(k, v.clone());
    }
    // Step numbers: each stage's first, in build order.
    let mut first_step = HashMap::new();
    let mut total = 0;
    for i in &order {
        first_step.insert(*i, total);
        total += graph.stages[*i].instructions.len() + 1;
    }
    // Every image the stages name, found (or pulled) before any stage runs.
    let mut found = HashMap::new();
    for i in &order {
        let st = &graph.stages[*i];
        let mut refs: Vec<&String> = st
            .dependencies
            .iter()
            .filter_map(|d| match &d.source {
                Source::Image(r) => Some(r),
                Source::Stage(_) => None,
            })
            .collect();
        if let Base::Image(r) = &st.base {
            refs.push(r);
        }
        for r in refs {
            if !found.contains_key(r) {
                let img = images(r).map_err(|msg| Error::Step {
                    step: format!("FROM {r}"),
                    msg,
                })?;
                found.insert(r.clone(), img);
            }
        }
    }
    let mut shared = Shared {
        ctx: context::Context::new(&req.context, ignore),
        opts,
        meta,
        escape: df.directives.escape,
        names: graph
            .stages
            .iter()
            .filter_map(|s| s.name.clone().map(|n| (n, s.index)))
            .collect(),
        total,
        file,
        no_cache: req.no_cache,
        secrets: req.secrets.clone(),
        epoch: req.source_date_epoch,
        images: found,
        urls,
        progress: Mutex::new(progress),
        done: HashMap::new(),
    };
    let (mut executed, mut cached) = (0, 0);
    for wave in &waves {
        let results: Vec<(usize, Result<Finished, Error>)> = if wave.len() == 1 {
            let i = wave[0];
            vec![(i, build_stage(e, &shared, &graph, i, first_step[&i]))]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = wave
                    .iter()
                    .map(|&i| {
                        let (sh, g, step) = (&shared, &graph, first_step[&i]);
                        let opts = e.opts.clone();
                        let store = e.store();
                        (
                            i,
                            scope.spawn(move || {
                                let store =
                                    store.map_err(|err| Error::Dockerfile(err.to_string()))?;
                                let te = Engine::open(opts)
                                    .map_err(|err| Error::Dockerfile(err.to_string()))?
                                    .with_store(store);
                                build_stage(&te, sh, g, i, step)
                            }),
                        )
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|(i, h)| {
                        let r = h.join().unwrap_or_else(|_| {
                            Err(Error::Dockerfile(format!(
                                "stage {i}: its build thread failed"
                            )))
                        });
                        (i, r)
                    })
                    .collect()
            })
        };
        for (i, r) in results {
            let mut f = r?;
            executed += f.executed;
            cached += f.cached;
            // A stage that later ones copy from is written as an image now.
            let copied_from = graph.stages.iter().any(|s| {
                s.dependencies.iter().any(|d| {
                    d.source == Source::Stage(i) && d.kind != crate::stages::DependencyKind::Base
                })
            });
            if copied_from {
                f.state.image(e).map_err(|msg| Error::Step {
                    step: format!("stage {}", graph.stages[i].label()),
                    msg,
                })?;
            }
            shared.done.insert(i, f.state);
        }
    }
    let last = *order.last().expect("a Dockerfile has a stage");
    let commit_err = |msg: String| Error::Step {
        step: "COMMIT".into(),
        msg,
    };
    let b = Builder {
        e,
        s: &shared,
        step: total,
        executed: 0,
        cached: 0,
    };
    // A rebuild that changed nothing gives the same image (only its names are added).
    let mut final_key = format!("final-{}", shared.done[&last].key);
    if !req.labels.is_empty() {
        let labels = serde_json::to_string(&req.labels).unwrap_or_default();
        final_key = format!(
            "{final_key}-labels-{}",
            strata_image::digest::Digest::of(labels.as_bytes()).hex()
        );
    }
    let image = match cache::lookup(&b, &final_key) {
        Some(img) => {
            let store = e.store().map_err(|err| commit_err(err.to_string()))?;
            for t in &req.tags {
                strata_image::ops::tag(&store, &img.id.to_string(), t, "localhost")
                    .map_err(|err| commit_err(format!("tag {t}: {err}")))?;
            }
            strata_image::ops::lookup(&store, &img.id.to_string(), "localhost")
                .map_err(|err| commit_err(err.to_string()))?
        }
        None => {
            let mut top = shared.done[&last].clone();
            if !req.labels.is_empty() {
                let cfg = &mut top.config;
                if !cfg["Labels"].is_object() {
                    cfg["Labels"] = serde_json::json!({});
                }
                for (k, v) in &req.labels {
                    cfg["Labels"][k] = serde_json::json!(v);
                }
            }
            let img = top.finish(e, &req.tags).map_err(commit_err)?;
            cache::record_key(&b, &final_key, &img);
            img
        }
    };
    Ok(Built {
        image,
        executed,
        cached,
    })
}

/// A stage built, with its counts.
struct Finished {
    state: StageState,
    executed: usize,
    cached: usize,
}

fn build_stage(
    e: &Engine,
    shared: &Shared<'_>,
    graph: &StageGraph,
    i: usize,
    first_step: usize,
) -> Result<Finished, Error> {
    let mut b = Builder {
        e,
        s: shared,
        step: first_step,
        executed: 0,
        cached: 0,
    };
    let state = b.stage(graph, i)?;
    Ok(Finished {
        state,
        executed: b.executed,
        cached: b.cached,
    })
}

/// What the stages of a build share; read-only while a wave of stages runs.
pub(crate) struct Shared<'a> {
    pub ctx: context::Context,
    pub opts: BuildOptions,
    pub meta: Scope,
    pub escape: char,
    /// Stage names (`AS name`) and their indexes.
    pub names: Vec<(String, usize)>,
    pub total: usize,
    pub file: String,
    pub no_cache: bool,
    pub secrets: BTreeMap<String, PathBuf>,
    pub epoch: Option<i64>,
    /// The images the stages name, by reference.
    pub images: HashMap<String, ImageRecord>,
    pub urls: UrlSource<'a>,
    pub progress: Mutex<Progress<'a>>,
    /// Stages finished in earlier waves.
    pub done: HashMap<usize, StageState>,
}

/// One stage being built (each on its own engine handle when stages run side by side).
pub(crate) struct Builder<'b, 'a> {
    pub e: &'b Engine,
    pub s: &'b Shared<'a>,
    pub step: usize,
    pub executed: usize,
    pub cached: usize,
}

impl Builder<'_, '_> {
    /// Prints a progress line.
    pub fn say(&self, line: &str) {
        if let Ok(mut p) = self.s.progress.lock() {
            (*p)(line);
        }
    }

    /// An image the Dockerfile names (found before the build started).
    pub fn image(&self, r: &str) -> Result<ImageRecord, String> {
        self.s
            .images
            .get(r)
            .cloned()
            .ok_or_else(|| format!("image {r}: not found in the store (an ONBUILD trigger's?)"))
    }

    fn step_name(&self, ins: &Instruction) -> String {
        format!(
            "STEP {}/{} ({}:{}): {}",
            self.step, self.s.total, self.s.file, ins.line, ins.original
        )
    }

    /// Builds stage `i` of `graph`.
    fn stage(&mut self, graph: &StageGraph, i: usize) -> Result<StageState, Error> {
        let stage = &graph.stages[i];
        self.step += 1;
        let from_line = format!(
            "STEP {}/{}: FROM {}",
            self.step,
            self.s.total,
            match &stage.base {
                Base::Scratch => "scratch".to_string(),
                Base::Image(r) => r.clone(),
                Base::Stage(j) => graph.stages[*j].label(),
            }
        );
        self.say(&from_line);
        let step_err = |msg: String| Error::Step {
            step: from_line.clone(),
            msg,
        };
        if let Some(p) = &stage.platform {
            let host = Platform::host();
            if Platform::parse(p).is_none_or(|want| want.os != host.os || want.arch != host.arch) {
                return Err(step_err(format!(
                    "--platform={p}: this builder runs RUN steps on {}/{} only [layer: build]",
                    host.os, host.arch
                )));
            }
        }
        let mut st = match &stage.base {
            Base::Scratch => StageState::scratch(self.e).map_err(step_err)?,
            Base::Image(r) => {
                let img = self.image(r).map_err(step_err)?;
                StageState::from_image(self.e, &img).map_err(step_err)?
            }
            Base::Stage(j) => self.s.done[j].clone(),
        };
        st.epoch = self.s.epoch;
        if let Some(t) = self.s.epoch {
            st.chain("SOURCE_DATE_EPOCH", &t.to_string());
        }
        st.scope = Scope::for_stage(self.s.escape, &st.env_pairs(), &self.s.opts);
        // The base's ONBUILD triggers run first, and are not passed on.
        let triggers: Vec<String> = st.config["OnBuild"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if !triggers.is_empty() {
            st.config["OnBuild"] = serde_json::Value::Null;
        }
        for t in triggers {
            let text = t.trim_start();
            let text = text
                .get(..7)
                .filter(|p| p.eq_ignore_ascii_case("ONBUILD"))
                .map_or(text, |_| text[7..].trim_start());
            let df = crate::parse::parse(&self.s.file, &format!("FROM scratch\n{text}\n"))
                .map_err(|e| step_err(format!("ONBUILD trigger {text:?}: {e}")))?;
            let ins = df.instructions[1].clone();
            let name = format!(
                "STEP {}/{}: ONBUILD {}",
                self.step, self.s.total, ins.original
            );
            self.say(&name);
            self.instruction(&mut st, &ins, &name)?;
        }
        for ins in &stage.instructions {
            self.step += 1;
            let name = self.step_name(ins);
            self.say(&name);
            self.instruction(&mut st, ins, &name)?;
        }
        Ok(st)
    }

    fn instruction(
        &mut self,
        st: &mut StageState,
        ins: &Instruction,
        name: &str,
    ) -> Result<(), Error> {
        let err = |msg: String| Error::Step {
            step: name.to_string(),
            msg,
        };
        if let InstructionKind::Arg(decls) = &ins.kind {
            let mut used = Vec::new();
            for d in decls {
                let v = declare_arg(
                    &mut st.scope,
                    Some(&self.s.meta),
                    &d.name,
                    d.default.as_deref(),
                    &self.s.opts,
                    &mut used,
                )
                .map_err(|e| err(e.to_string()))?;
                if let Some(v) = v {
                    st.scope.set_arg(&d.name, v);
                }
            }
            st.chain(&ins.original, "");
            return Ok(());
        }
        let kind = st
            .scope
            .expand_instruction(&ins.kind)
            .map_err(|e| err(e.to_string()))?;
        match &kind {
            InstructionKind::Run(r) => run::step(self, st, r, name),
            InstructionKind::Copy(c) => copy::step(self, st, c, false, name),
            InstructionKind::Add(c) => copy::step(self, st, c, true, name),
            InstructionKind::From(_) => Err(err("FROM inside a stage".into())),
            other => st.apply_config(other, &ins.original).map_err(err),
        }
    }
}
