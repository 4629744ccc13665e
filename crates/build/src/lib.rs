//! `strata-build`: the front end of Strata's image builder.
//!
//! The front end is pure (no I/O beyond reading a `.dockerignore` on request): it turns a
//! Dockerfile or Containerfile into typed instructions with BuildKit's semantics and reasons
//! about it before anything is executed; `builder` then executes it on the engine:
//!
//! - [`parse`]: directives, continuations, heredocs, every instruction and its flags;
//!   syntax errors are one line, `file:line:column: message`.
//! - [`expand`]: BuildKit's shell-like word expansion (`$VAR`, `${VAR:-x}`, quotes, escapes).
//! - [`stages`]: the stage graph: names, ARG scoping, dependencies, `--target` pruning and
//!   the waves of stages that can build in parallel.
//! - [`dockerignore`]: Docker's `.dockerignore` rules and which ignore file applies.
//! - [`lint`]: the course's Dockerfile practices as warnings with a rule id and a fix.
//! - [`builder`]: the build itself: RUN in engine containers, COPY and ADD through the
//!   engine's confined copy, each step a committed layer, a step cache, the final image.
//!
//! ```
//! let df = strata_build::parse::parse("Dockerfile", "FROM alpine:3.20\nRUN echo hi\n").unwrap();
//! assert_eq!(df.instructions.len(), 2);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod builder;
pub mod dockerignore;
pub mod expand;
pub mod lint;
pub mod parse;
pub mod stages;
