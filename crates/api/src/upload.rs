//! Request bodies too large to hold in memory (a `docker cp` archive, an image archive for
//! `load`, a build context): written to a temporary file as they arrive, up to a bound.

use crate::error::ApiError;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Request;
use std::io::Write;

/// The largest upload accepted.
pub const MAX_UPLOAD: u64 = 16 << 30;

/// Writes the request's body to a temporary file (removed when dropped); `what` names the
/// upload in errors.
pub async fn spool(
    req: Request<Incoming>,
    what: &str,
) -> Result<tempfile::NamedTempFile, ApiError> {
    let mut f = tempfile::Builder::new()
        .prefix("strata-api-upload")
        .tempfile()
        .map_err(|e| ApiError::internal(format!("{what}: a temporary file: {e} [layer: api]")))?;
    let mut body = req.into_body();
    let mut n: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ApiError::bad_request(format!("{what}: the body: {e} [layer: api]")))?;
        if let Ok(data) = frame.into_data() {
            n += data.len() as u64;
            if n > MAX_UPLOAD {
                return Err(ApiError::bad_request(format!(
                    "{what}: the body is over {MAX_UPLOAD} bytes [layer: api]"
                )));
            }
            f.write_all(&data)
                .map_err(|e| ApiError::internal(format!("{what}: write: {e} [layer: api]")))?;
        }
    }
    f.flush()
        .map_err(|e| ApiError::internal(format!("{what}: write: {e} [layer: api]")))?;
    Ok(f)
}
