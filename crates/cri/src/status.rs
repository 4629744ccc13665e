//! Engine and image errors as gRPC statuses: the code kubelet acts on (NotFound,
//! InvalidArgument, FailedPrecondition, Unavailable, ...) and a one-line message that names
//! the layer that failed.

use strata_engine::Error;
use tonic::{Code, Status};

/// The gRPC status of an engine error, its message prefixed with `what` (the RPC and object).
pub fn engine(what: &str, e: Error) -> Status {
    let code = code_of(&e);
    let layer = match &e {
        Error::Image(_) => "image",
        Error::Runtime(_) => "runtime",
        Error::Network(_) => "network",
        Error::Db(_) => "state database",
        _ => "engine",
    };
    let msg = e.to_string();
    if msg.contains("[layer:") {
        Status::new(code, format!("{what}: {msg}"))
    } else {
        Status::new(code, format!("{what}: {msg} [layer: {layer}]"))
    }
}

fn code_of(e: &Error) -> Code {
    match e {
        Error::NotFound(_) => Code::NotFound,
        Error::Conflict(_) => Code::FailedPrecondition,
        Error::Invalid(_) => Code::InvalidArgument,
        Error::CommandNotFound(_) | Error::CommandNotRunnable(_) => Code::InvalidArgument,
        Error::Image(i) => image_code(i),
        Error::Network(_) => Code::Unavailable,
        Error::Context { source, .. } => code_of(source),
        Error::Runtime(_) | Error::Db(_) | Error::Io { .. } => Code::Internal,
    }
}

/// The gRPC code of an image-layer error.
pub fn image_code(e: &strata_image::Error) -> Code {
    use strata_image::Error as I;
    match e {
        I::NotFound(_) | I::Registry { status: 404, .. } => Code::NotFound,
        I::Http(_) | I::Registry { .. } => Code::Unavailable,
        I::Auth(_) => Code::PermissionDenied,
        I::Invalid { .. } => Code::InvalidArgument,
        I::Context { source, .. } => image_code(source),
        _ => Code::Internal,
    }
}

/// The gRPC status of an image-layer error.
pub fn image(what: &str, e: strata_image::Error) -> Status {
    Status::new(image_code(&e), format!("{what}: {e} [layer: image]"))
}

/// A missing or malformed request field.
pub fn invalid(msg: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{msg} [layer: cri]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_kind_and_messages_name_the_layer() {
        let s = engine(
            "StopContainer abc",
            Error::NotFound("no container abc".into()),
        );
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(
            s.message(),
            "StopContainer abc: no container abc [layer: engine]"
        );
        let s = engine(
            "RunPodSandbox p",
            Error::Context {
                ctx: "pod p".into(),
                source: Box::new(Error::Network("no address".into())),
            },
        );
        assert_eq!(s.code(), Code::Unavailable);
        assert!(s.message().ends_with("[layer: engine]") || s.message().contains("network"));
        let s = engine("x", Error::Invalid("bad [layer: cgroup]".into()));
        assert_eq!(s.message(), "x: bad [layer: cgroup]");
    }
}
