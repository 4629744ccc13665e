//! Parser error tests: the message and the exact `file:line:column`.

use super::*;

fn error(src: &str) -> String {
    let e = parse("Dockerfile", src).expect_err("should fail");
    let s = e.to_string();
    assert!(!s.contains('\n'), "error must be one line: {s}");
    s
}

#[test]
fn unknown_instruction_with_suggestion() {
    assert_eq!(
        error("FROM alpine\nFORM x\n"),
        "Dockerfile:2:1: unknown instruction: FORM (did you mean FROM?)"
    );
    assert_eq!(
        error("FROM alpine\n\n   runn make\n"),
        "Dockerfile:3:4: unknown instruction: runn (did you mean RUN?)"
    );
    assert_eq!(
        error("FROM a\nBOGUS x\n"),
        "Dockerfile:2:1: unknown instruction: BOGUS"
    );
}

#[test]
fn unterminated_json_and_quotes() {
    assert_eq!(
        error("FROM a\nCMD [\"a\", \"b\"\n"),
        "Dockerfile:2:5: unterminated JSON array"
    );
    assert_eq!(
        error("FROM a\nSHELL [\"sh\"\n"),
        "Dockerfile:2:7: unterminated JSON array"
    );
    assert_eq!(
        error("FROM a\nENV A=\"x\n"),
        "Dockerfile:2:7: unterminated double quote"
    );
    assert_eq!(
        error("FROM a\nLABEL a='x\n"),
        "Dockerfile:2:9: unterminated single quote"
    );
    assert_eq!(
        error("FROM a\nCOPY --chown=\"a x y\n"),
        "Dockerfile:2:14: unterminated double quote"
    );
}

#[test]
fn unterminated_heredoc() {
    assert_eq!(
        error("FROM a\nRUN cat <<EOF\nhello\n"),
        "Dockerfile:2:9: unterminated heredoc: missing terminator EOF"
    );
}

#[test]
fn flags_not_valid_for_instruction() {
    assert_eq!(
        error("FROM a\nADD --from=b x y\n"),
        "Dockerfile:2:5: flag --from is not valid for ADD"
    );
    assert_eq!(
        error("FROM a\nCOPY --link \\\n   --bad=1 x y\n"),
        "Dockerfile:3:4: flag --bad is not valid for COPY"
    );
    assert_eq!(
        error("FROM a\nWORKDIR --x /a\n"),
        "Dockerfile:2:9: flag --x is not valid for WORKDIR"
    );
    assert_eq!(
        error("FROM a\nRUN --network=bridge x\n"),
        "Dockerfile:2:15: invalid value for --network: \"bridge\" is not none, host or default"
    );
    assert_eq!(
        error("FROM a\nRUN --mount=type=cache x\n"),
        "Dockerfile:2:13: invalid --mount: cache mount needs a target"
    );
    assert_eq!(
        error("FROM a\nCOPY --from x y\n"),
        "Dockerfile:2:6: invalid value for --from: missing a value"
    );
    assert_eq!(
        error("FROM --platform=a --platform=b x\n"),
        "Dockerfile:1:19: duplicate flag --platform"
    );
}

#[test]
fn instruction_before_from() {
    assert_eq!(
        error("# syntax=docker/dockerfile:1\nARG V=1\nRUN echo\nFROM a\n"),
        "Dockerfile:3:1: RUN before the first FROM: only ARG may precede FROM"
    );
    assert_eq!(
        error("ARG A\n"),
        "Dockerfile:1:1: no FROM instruction: a Dockerfile needs at least one stage"
    );
    assert_eq!(
        error(""),
        "Dockerfile:1:1: no FROM instruction: a Dockerfile needs at least one stage"
    );
}

#[test]
fn argument_shapes() {
    assert_eq!(
        error("FROM a b\n"),
        "Dockerfile:1:6: FROM requires either one or three arguments: image [AS name]"
    );
    assert!(error("FROM a AS 1st\n")
        .starts_with("Dockerfile:1:11: FROM has an invalid stage name \"1st\""));
    assert_eq!(
        error("FROM a\nCOPY onlyone\n"),
        "Dockerfile:2:6: COPY requires at least two arguments: source(s) and destination"
    );
    assert_eq!(
        error("FROM a\nUSER a b\n"),
        "Dockerfile:2:8: USER requires exactly one argument"
    );
    assert_eq!(
        error("FROM a\nWORKDIR\n"),
        "Dockerfile:2:8: WORKDIR requires exactly one argument"
    );
    assert_eq!(
        error("FROM a\nRUN\n"),
        "Dockerfile:2:4: RUN requires at least one argument"
    );
    assert_eq!(
        error("FROM a\nENV A=1 B\n"),
        "Dockerfile:2:9: ENV can't find = in \"B\": must be of the form name=value"
    );
    assert_eq!(
        error("FROM a\nEXPOSE 80 http\n"),
        "Dockerfile:2:11: EXPOSE has invalid port \"http\" in \"http\""
    );
    assert_eq!(
        error("FROM a\nVOLUME [\"\"]\n"),
        "Dockerfile:2:8: VOLUME paths can not be empty strings"
    );
}

#[test]
fn shell_requires_json() {
    assert_eq!(
        error("FROM a\nSHELL /bin/sh -c\n"),
        "Dockerfile:2:7: SHELL requires the arguments to be a JSON array of strings: found shell form"
    );
    assert!(error("FROM a\nSHELL []\n").ends_with("the array is empty"));
}

#[test]
fn healthcheck_errors() {
    assert_eq!(
        error("FROM a\nHEALTHCHECK curl x\n"),
        "Dockerfile:2:13: HEALTHCHECK expects CMD or NONE"
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK NONE x\n"),
        "Dockerfile:2:18: HEALTHCHECK NONE takes no arguments"
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK --interval=30 CMD x\n"),
        "Dockerfile:2:24: invalid value for --interval: missing unit in duration \"30\""
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK --retries=-1 CMD x\n"),
        "Dockerfile:2:23: invalid value for --retries: \"-1\" is not a non-negative integer"
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK --retries=1 NONE\n"),
        "Dockerfile:2:13: HEALTHCHECK NONE takes no flags"
    );
}

#[test]
fn onbuild_restrictions() {
    assert_eq!(
        error("FROM a\nONBUILD FROM b\n"),
        "Dockerfile:2:9: ONBUILD FROM is not allowed"
    );
    assert_eq!(
        error("FROM a\nONBUILD ONBUILD RUN x\n"),
        "Dockerfile:2:9: ONBUILD ONBUILD is not allowed"
    );
    assert_eq!(
        error("FROM a\nONBUILD\n"),
        "Dockerfile:2:8: ONBUILD requires an instruction"
    );
    assert_eq!(
        error("FROM a\nONBUILD FROB x\n"),
        "Dockerfile:2:9: unknown instruction: FROB (did you mean FROM?)"
    );
}

#[test]
fn directive_errors() {
    assert_eq!(
        error("# escape=`\n# escape=\\\nFROM a\n"),
        "Dockerfile:2:1: only one escape parser directive can be used"
    );
    assert_eq!(
        error("# escape=x\nFROM a\n"),
        "Dockerfile:1:1: invalid escape token 'x' does not match ` or \\"
    );
}

#[test]
fn error_kind_is_typed() {
    let e = parse("Containerfile", "FROM a\nCOPPY x y\n").unwrap_err();
    assert_eq!((e.file.as_str(), e.line, e.column), ("Containerfile", 2, 1));
    assert_eq!(
        e.kind,
        ParseErrorKind::UnknownInstruction {
            name: "COPPY".into(),
            suggestion: Some("COPY".into())
        }
    );
}
