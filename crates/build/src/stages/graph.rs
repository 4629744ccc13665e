//! Building the [`StageGraph`] from a parsed Dockerfile.

use super::error::{StageError, StageErrorKind};
use super::reference::ImageRef;
use super::scope::{declare_arg, BuildOptions, Scope, PROXY_ARGS};
use super::{Base, Dependency, DependencyKind, Source, Stage, StageGraph};
use crate::expand::ExpandError;
use crate::parse::{Dockerfile, FromInstr, Instruction, InstructionKind};

/// The evaluation state of one stage while its instructions are walked.
struct Walk<'a> {
    index: usize,
    names: &'a [Option<String>],
    scope: Scope,
    user: Option<String>,
    deps: Vec<Dependency>,
}

impl StageGraph {
    /// Evaluates the stages of `df` with the build args and platforms of `opts`.
    pub fn new(df: &Dockerfile, opts: &BuildOptions) -> Result<StageGraph, StageError> {
        let err = |line: usize, kind| StageError {
            file: df.file.clone(),
            line: Some(line),
            kind,
        };
        let expand_err = |line: usize, what: &str| {
            let what = what.to_string();
            move |source: ExpandError| err(line, StageErrorKind::Expand { what, source })
        };
        let escape = df.directives.escape;
        let mut used = Vec::new();
        let mut meta = Scope::new(escape);
        for (k, v) in opts.platform_args() {
            meta.set_arg(&k, v);
        }
        let mut meta_args = Vec::new();
        let mut groups: Vec<(&Instruction, &FromInstr, Vec<Instruction>)> = Vec::new();
        for ins in &df.instructions {
            match (&ins.kind, groups.last_mut()) {
                (InstructionKind::From(f), _) => groups.push((ins, f, Vec::new())),
                (_, Some(g)) => g.2.push(ins.clone()),
                (InstructionKind::Arg(decls), None) => {
                    for d in decls {
                        let v = declare_arg(
                            &mut meta,
                            None,
                            &d.name,
                            d.default.as_deref(),
                            opts,
                            &mut used,
                        )
                        .map_err(expand_err(ins.line, "ARG"))?;
                        if let Some(v) = v {
                            meta_args.retain(|(k, _): &(String, String)| k != &d.name);
                            meta_args.push((d.name.clone(), v));
                        }
                    }
                }
                (_, None) => {}
            }
        }
        let names: Vec<Option<String>> = groups.iter().map(|g| g.1.alias.clone()).collect();
        let mut stages: Vec<Stage> = Vec::new();
        for (index, (from_ins, from, instructions)) in groups.into_iter().enumerate() {
            let line = from_ins.line;
            if let Some(n) = &from.alias {
                if names[..index].contains(&from.alias) {
                    return Err(err(line, StageErrorKind::DuplicateName(n.clone())));
                }
            }
            let image = meta.expand(&from.image).map_err(expand_err(line, "FROM"))?;
            if image.is_empty() {
                return Err(err(line, StageErrorKind::EmptyBase(from.image.clone())));
            }
            let platform = match &from.platform {
                Some(p) => Some(
                    meta.expand(p)
                        .map_err(expand_err(line, "FROM --platform"))?,
                ),
                None => None,
            };
            let lower = image.to_ascii_lowercase();
            let parent = stages
                .iter()
                .find(|s| s.name.as_deref() == Some(lower.as_str()));
            let base = match parent {
                _ if lower == "scratch" => Base::Scratch,
                Some(p) => Base::Stage(p.index),
                None => {
                    ImageRef::parse(&image)
                        .map_err(|e| err(line, StageErrorKind::InvalidReference(e)))?;
                    Base::Image(image)
                }
            };
            let mut walk = Walk {
                index,
                names: &names,
                scope: Scope::for_stage(escape, parent.map_or(&[], |p| p.env.as_slice()), opts),
                user: parent.and_then(|p| p.user.clone()),
                deps: Vec::new(),
            };
            if let Base::Stage(p) = base {
                walk.deps.push(Dependency {
                    source: Source::Stage(p),
                    kind: DependencyKind::Base,
                    line,
                });
                // The parent's ONBUILD triggers run first in a stage built FROM it.
                for ins in &stages[p].instructions {
                    if let InstructionKind::Onbuild(inner) = &ins.kind {
                        walk.step(inner, &meta, opts, &mut used)
                            .map_err(|k| err(ins.line, k))?;
                    }
                }
            }
            for ins in &instructions {
                walk.step(ins, &meta, opts, &mut used)
                    .map_err(|k| err(ins.line, k))?;
            }
            stages.push(Stage {
                index,
                name: from.alias.clone(),
                line,
                base,
                platform,
                instructions,
                dependencies: walk.deps,
                env: walk.scope.env().to_vec(),
                user: walk.user,
            });
        }
        let platform_names: Vec<String> =
            opts.platform_args().into_iter().map(|(k, _)| k).collect();
        let unused_build_args = opts
            .build_args
            .keys()
            .filter(|k| {
                !used.contains(k)
                    && !PROXY_ARGS.contains(&k.as_str())
                    && !platform_names.contains(k)
            })
            .cloned()
            .collect();
        Ok(StageGraph {
            file: df.file.clone(),
            meta_args,
            stages,
            unused_build_args,
        })
    }
}

impl Walk<'_> {
    fn expand(&self, what: &str, word: &str) -> Result<String, StageErrorKind> {
        self.scope
            .expand(word)
            .map_err(|source| StageErrorKind::Expand {
                what: what.to_string(),
                source,
            })
    }

    /// Resolves a `--from` value to a stage (by index or name) or an image.
    fn resolve(
        &mut self,
        raw: &str,
        kind: DependencyKind,
        line: usize,
    ) -> Result<(), StageErrorKind> {
        let value = self.expand("--from", raw)?;
        let source = if let Ok(index) = value.parse::<usize>() {
            if index >= self.index {
                let current = self.index;
                return Err(StageErrorKind::IndexOutOfRange { index, current });
            }
            Source::Stage(index)
        } else {
            let lower = value.to_ascii_lowercase();
            match self
                .names
                .iter()
                .position(|n| n.as_deref() == Some(lower.as_str()))
            {
                Some(i) if i == self.index => return Err(StageErrorKind::Circular(lower)),
                Some(i) => Source::Stage(i),
                None => {
                    ImageRef::parse(&value).map_err(StageErrorKind::InvalidReference)?;
                    Source::Image(value)
                }
            }
        };
        self.deps.push(Dependency { source, kind, line });
        Ok(())
    }

    /// Applies one instruction to the scope and records its dependencies.
    fn step(
        &mut self,
        ins: &Instruction,
        meta: &Scope,
        opts: &BuildOptions,
        used: &mut Vec<String>,
    ) -> Result<(), StageErrorKind> {
        match &ins.kind {
            InstructionKind::Arg(decls) => {
                for d in decls {
                    declare_arg(
                        &mut self.scope,
                        Some(meta),
                        &d.name,
                        d.default.as_deref(),
                        opts,
                        used,
                    )
                    .map_err(|source| StageErrorKind::Expand {
                        what: "ARG".into(),
                        source,
                    })?;
                }
            }
            InstructionKind::Env(kvs) => {
                // Every value of one ENV line sees the variables as they were before it.
                let values = kvs
                    .iter()
                    .map(|kv| self.expand("ENV", &kv.value))
                    .collect::<Result<Vec<_>, _>>()?;
                for (kv, v) in kvs.iter().zip(values) {
                    self.scope.set_env(&kv.key, v);
                }
            }
            InstructionKind::User(u) => self.user = Some(self.expand("USER", u)?),
            InstructionKind::Copy(c) => {
                if let Some(from) = &c.from {
                    self.resolve(from, DependencyKind::CopyFrom, ins.line)?;
                }
            }
            InstructionKind::Run(r) => {
                for m in &r.mounts {
                    if let Some(from) = &m.from {
                        self.resolve(from, DependencyKind::MountFrom, ins.line)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}
