//! The Dockerfile parser, with docker/BuildKit semantics.
//!
//! [`parse`] reads parser directives, comments, continuations (with `\` or `` ` ``),
//! heredocs and every instruction with its flags; the result keeps each instruction's
//! source line. Values stay as written: [`crate::expand`] and [`crate::stages`] evaluate
//! them. Errors are [`ParseError`], rendered `file:line:column: message`.

mod ast;
mod command;
mod directives;
mod error;
mod flags;
mod heredoc;
mod instr;
mod json;
mod kv;
mod lines;
mod mount;
mod suggest;
mod values;
mod words;

#[cfg(test)]
mod tests_errors;
#[cfg(test)]
mod tests_instructions;

pub use ast::{
    ArgDecl, Command, CopyInstr, Dockerfile, FromInstr, Healthcheck, Heredoc, Instruction,
    InstructionKind, KeyValue, NetworkMode, RunInstr, SecurityMode,
};
pub use directives::Directives;
pub use error::{ParseError, ParseErrorKind};
pub use mount::{Mount, MountType, Sharing};
pub use values::{parse_duration, ExposedPort, Protocol};

use directives::DirectiveScanner;
use instr::{build, Source};
use lines::{is_blank_or_comment, physical_lines, read_logical};

/// Parses a Dockerfile. `file` is the name errors and lints are reported against.
///
/// Only ARG may precede the first FROM, and there must be a FROM.
pub fn parse(file: &str, src: &str) -> Result<Dockerfile, ParseError> {
    let lines = physical_lines(src);
    let err = |line: usize, column: usize, kind: ParseErrorKind| ParseError {
        file: file.to_string(),
        line,
        column,
        kind,
    };
    let mut scanner = DirectiveScanner::default();
    let mut instructions: Vec<Instruction> = Vec::new();
    let mut seen_from = false;
    let mut i = 0;
    while i < lines.len() {
        match scanner.offer(lines[i]) {
            Ok(true) => {
                i += 1;
                continue;
            }
            Ok(false) => {}
            Err(kind) => return Err(err(i + 1, 1, kind)),
        }
        if is_blank_or_comment(lines[i]) {
            i += 1;
            continue;
        }
        let escape = scanner.directives.escape;
        let logical = read_logical(&lines, &mut i, escape);
        let mut source = Source {
            lines: &lines,
            next: i,
            escape,
        };
        let instruction = build(&logical, 0, &mut source).map_err(|(offset, kind)| {
            let (line, column) = logical.pos(offset);
            err(line, column, kind)
        })?;
        i = source.next;
        match instruction.kind {
            InstructionKind::From(_) => seen_from = true,
            InstructionKind::Arg(_) => {}
            ref k if !seen_from => {
                let (line, column) = logical.pos(0);
                return Err(err(line, column, ParseErrorKind::BeforeFrom(k.name())));
            }
            _ => {}
        }
        instructions.push(instruction);
    }
    if !seen_from {
        return Err(err(lines.len().max(1), 1, ParseErrorKind::NoFrom));
    }
    Ok(Dockerfile {
        file: file.to_string(),
        directives: scanner.directives,
        instructions,
    })
}
