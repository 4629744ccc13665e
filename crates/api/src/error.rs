//! Errors as the Docker API defines them: a status code and `{"message": ...}`, the message
//! one line naming the object and the layer (`container abc: no such container [layer:
//! engine]`).

use crate::body::{json, Body};
use hyper::{Response, StatusCode};

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The message (one line).
    pub message: String,
}

impl ApiError {
    /// An error with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: no such object (or endpoint).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: a conflict with the object's state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 500: the server failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The JSON answer.
    pub fn response(&self) -> Response<Body> {
        let mut r = json(&serde_json::json!({ "message": self.message }));
        *r.status_mut() = self.status;
        r
    }
}

/// Adds the layer to a message that does not name one yet.
fn with_layer(msg: String, layer: &str) -> String {
    if msg.contains("[layer:") {
        msg
    } else {
        format!("{msg} [layer: {layer}]")
    }
}

/// Appends docker's `words` (lower-case) to a message that does not have them.
fn with_words(msg: String, words: &str) -> String {
    if msg.to_ascii_lowercase().contains(words) {
        msg
    } else {
        format!("{msg} ({words})")
    }
}

impl From<strata_engine::Error> for ApiError {
    fn from(e: strata_engine::Error) -> Self {
        use strata_engine::Error as E;
        let status = match e.root() {
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Conflict(_) => StatusCode::CONFLICT,
            E::Invalid(_) => StatusCode::BAD_REQUEST,
            // docker's CLI picks the exit status (127, 126) from these words of the message,
            // and the daemon answers them with 400 (the container's configuration is wrong).
            E::CommandNotFound(_) => {
                return ApiError::bad_request(with_words(
                    e.to_string(),
                    "executable file not found",
                ))
            }
            E::CommandNotRunnable(_) => {
                return ApiError::bad_request(with_words(e.to_string(), "permission denied"))
            }
            E::Image(i) => return image_status(i, e.to_string()),
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, with_layer(e.to_string(), "engine"))
    }
}

fn image_status(inner: &strata_image::Error, msg: String) -> ApiError {
    let mut err = ApiError::from(image_root(inner));
    err.message = with_layer(msg, "image");
    err
}

fn image_root(e: &strata_image::Error) -> strata_image::Error {
    match e {
        strata_image::Error::Context { source, .. } => image_root(source),
        strata_image::Error::NotFound(s) => strata_image::Error::NotFound(s.clone()),
        strata_image::Error::AlreadyExists(s) => strata_image::Error::AlreadyExists(s.clone()),
        strata_image::Error::Invalid { what, msg } => strata_image::Error::Invalid {
            what,
            msg: msg.clone(),
        },
        other => strata_image::Error::Http(other.to_string()),
    }
}

impl From<strata_image::Error> for ApiError {
    fn from(e: strata_image::Error) -> Self {
        let status = match image_root(&e) {
            strata_image::Error::NotFound(_) => StatusCode::NOT_FOUND,
            strata_image::Error::AlreadyExists(_) => StatusCode::CONFLICT,
            strata_image::Error::Invalid { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, with_layer(e.to_string(), "image"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_docker_status_codes() {
        let e: ApiError = strata_engine::Error::NotFound("no such container: abc".into()).into();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(e.message, "no such container: abc [layer: engine]");
        let e: ApiError = strata_engine::Error::Conflict("x".into())
            .context("container c")
            .into();
        assert_eq!(e.status, StatusCode::CONFLICT);
        let e: ApiError = strata_engine::Error::Runtime("boom [layer: cgroup]".into()).into();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.message, "runtime: boom [layer: cgroup]");
        let e: ApiError =
            strata_engine::Error::CommandNotFound("exited 127: x not found".into()).into();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(
            e.message.contains("executable file not found"),
            "{}",
            e.message
        );
    }

    #[test]
    fn image_errors_keep_their_kind_through_context() {
        let e: ApiError = strata_image::Error::NotFound("image x".into())
            .context("pull x")
            .into();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert!(e.message.ends_with("[layer: image]"), "{}", e.message);
    }
}
