//! An OCI distribution / Docker registry v2 client for one repository on one endpoint:
//! anonymous, basic and bearer-token auth from the `WWW-Authenticate` challenge, retries
//! of idempotent requests, and ranged blob requests for resumption.

use super::auth::{authorization, Scope};
use super::credentials::Credentials;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::MANIFEST_ACCEPT;
use reqwest::header::{
    HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, RANGE, WWW_AUTHENTICATE,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use std::sync::Mutex;
use std::time::Duration;

/// Largest manifest or config accepted.
pub const MAX_DOC: u64 = 8 << 20;

/// How to reach a registry.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// host\[:port\].
    pub host: String,
    /// Insecure (podman's `--tls-verify=false`): https without certificate verification,
    /// falling back to plain http when the registry does not speak TLS.
    pub insecure: bool,
}

/// A client for `host/repository`.
pub struct RegistryClient {
    http: reqwest::Client,
    /// `https://host` or, for an insecure endpoint that does not speak TLS, `http://host`;
    /// decided by the first request.
    base: tokio::sync::OnceCell<String>,
    insecure: bool,
    /// The endpoint host.
    pub host: String,
    /// The repository.
    pub repo: String,
    creds: Option<Credentials>,
    auth: Mutex<Option<String>>,
    extra_scopes: Vec<String>,
}

/// A transport error as one lower-case line (with its causes).
pub(crate) fn http_err(e: reqwest::Error) -> Error {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    let mut msg = msg.to_lowercase();
    if msg.contains("certificate") {
        msg.push_str(
            " (the registry's tls certificate is not trusted: add its ca to the system's \
             trust store, or use --tls-verify=false to skip verification)",
        );
    }
    Error::Http(msg)
}

fn transient(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request()
}

/// Builds the HTTP client (`timeout`: longest wait to connect or for more data).
pub fn http_client(insecure: bool, timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
        .danger_accept_invalid_certs(insecure)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .read_timeout(timeout)
        .pool_max_idle_per_host(16)
        .build()
        .map_err(http_err)
}

/// Downloads `url` into the file `to` (a Dockerfile's `ADD URL`): an error names the
/// server's answer when it is not a success.
pub async fn download(url: &str, to: &std::path::Path) -> std::result::Result<(), String> {
    let client = http_client(false, Duration::from_secs(60)).map_err(|e| e.to_string())?;
    let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("the server answered {}", resp.status()));
    }
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    std::fs::write(to, &body).map_err(|e| format!("{}: {e}", to.display()))
}

/// The error of a registry's unexpected answer (status and the message of its body).
pub(crate) async fn error_of(resp: Response) -> Error {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    let msg = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let e = v.get("errors")?.get(0)?.clone();
            Some(format!(
                "{} {}",
                e.get("code").and_then(|c| c.as_str()).unwrap_or(""),
                e.get("message").and_then(|c| c.as_str()).unwrap_or("")
            ))
        })
        .unwrap_or_else(|| {
            body.lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(120)
                .collect()
        });
    Error::Registry {
        status,
        message: msg.trim().to_lowercase(),
    }
}

impl RegistryClient {
    /// A client for `repo` at `ep`, with optional credentials. `extra_scopes` are added to
    /// token requests (cross-repository mounts need pull on the source).
    pub fn new(
        http: reqwest::Client,
        ep: &Endpoint,
        repo: &str,
        creds: Option<Credentials>,
        extra_scopes: Vec<String>,
    ) -> Self {
        RegistryClient {
            http,
            base: tokio::sync::OnceCell::new(),
            insecure: ep.insecure,
            host: ep.host.clone(),
            repo: repo.into(),
            creds,
            auth: Mutex::new(None),
            extra_scopes,
        }
    }

    /// The scheme and host: https, unless the endpoint is insecure and the registry only
    /// speaks plain http (found by probing `/v2/` once, as podman does).
    async fn base(&self) -> Result<&str> {
        self.base
            .get_or_try_init(|| async {
                let https = format!("https://{}", self.host);
                if !self.insecure {
                    return Ok(https);
                }
                let e = match self.http.get(format!("{https}/v2/")).send().await {
                    Ok(_) => return Ok(https),
                    Err(e) if e.is_timeout() => return Err(http_err(e)),
                    Err(e) => e,
                };
                let http = format!("http://{}", self.host);
                match self.http.get(format!("{http}/v2/")).send().await {
                    Ok(_) => {
                        tracing::debug!(host = %self.host, tls_error = %e, "plain http registry");
                        Ok(http)
                    }
                    // Reached over http but failing (a timeout): that is the error.
                    Err(e2) if !e2.is_connect() => Err(http_err(e2)),
                    // Neither answers: report the https failure (the secure attempt).
                    Err(_) => Err(http_err(e)),
                }
            })
            .await
            .map(String::as_str)
    }

    async fn url(&self, tail: &str) -> Result<String> {
        Ok(format!("{}/v2/{}/{tail}", self.base().await?, self.repo))
    }

    /// Resolves a `Location` header against the endpoint.
    async fn location(&self, resp: &Response) -> Result<String> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| Error::Http("upload: no location header".into()))?;
        Ok(
            if loc.starts_with("http://") || loc.starts_with("https://") {
                loc.to_string()
            } else {
                format!("{}{loc}", self.base().await?)
            },
        )
    }

    async fn authenticate(&self, challenge: Option<&HeaderValue>, push: bool) -> Result<()> {
        let scope = Scope {
            host: &self.host,
            repo: &self.repo,
            push,
            extra: &self.extra_scopes,
        };
        let header = authorization(
            &self.http,
            challenge.and_then(|h| h.to_str().ok()),
            &scope,
            self.creds.as_ref(),
        )
        .await?;
        *self.auth.lock().expect("auth lock") = Some(header);
        Ok(())
    }

    /// Sends a request built by `build`, authenticating on a 401 and retrying transient
    /// failures of idempotent requests.
    async fn send<F: Fn() -> RequestBuilder>(
        &self,
        build: F,
        idempotent: bool,
        push: bool,
    ) -> Result<Response> {
        let mut authed = false;
        let mut tries = 0u32;
        loop {
            let mut rb = build();
            if let Some(a) = self.auth.lock().expect("auth lock").clone() {
                rb = rb.header(AUTHORIZATION, a);
            }
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) if idempotent && transient(&e) && tries < 2 => {
                    tries += 1;
                    tracing::debug!(host = %self.host, error = %e, "retrying");
                    tokio::time::sleep(Duration::from_millis(150 * tries as u64)).await;
                    continue;
                }
                Err(e) => return Err(http_err(e)),
            };
            if resp.status() == StatusCode::UNAUTHORIZED {
                if authed {
                    return Err(Error::Auth(format!("{}: credentials rejected", self.host)));
                }
                self.authenticate(resp.headers().get(WWW_AUTHENTICATE), push)
                    .await?;
                authed = true;
                continue;
            }
            if idempotent && resp.status().is_server_error() && tries < 2 {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(150 * tries as u64)).await;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Checks the `/v2/` endpoint with authentication (used by `login`).
    pub async fn ping(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base().await?);
        let resp = self.send(|| self.http.get(&url), true, false).await?;
        if !resp.status().is_success() {
            return Err(error_of(resp).await);
        }
        Ok(())
    }

    /// Fetches a manifest by tag or digest: body and content type.
    pub async fn get_manifest(&self, reference: &str) -> Result<(Vec<u8>, Option<String>)> {
        let url = self.url(&format!("manifests/{reference}")).await?;
        let resp = self
            .send(
                || self.http.get(&url).header(ACCEPT, MANIFEST_ACCEPT),
                true,
                false,
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(Error::NotFound(format!(
                "manifest {}:{reference}",
                self.repo
            )));
        }
        if !resp.status().is_success() {
            return Err(error_of(resp).await);
        }
        let ct = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .map(str::to_string);
        if resp.content_length().is_some_and(|l| l > MAX_DOC) {
            return Err(Error::invalid("manifest", "larger than 8 MiB"));
        }
        let body = resp.bytes().await.map_err(http_err)?;
        Ok((body.to_vec(), ct))
    }

    /// Fetches a small blob (config) and verifies digest and size.
    pub async fn get_blob_small(&self, d: &Digest, size: u64) -> Result<Vec<u8>> {
        if size > MAX_DOC {
            return Err(Error::invalid("config", "larger than 8 MiB"));
        }
        let resp = self.blob(d, 0).await?;
        let body = resp.bytes().await.map_err(http_err)?;
        crate::digest::check(d, Some(size), &Digest::of(&body), body.len() as u64)?;
        Ok(body.to_vec())
    }

    /// Starts a blob download at byte `offset` (206 expected when offset > 0; a 200 means
    /// the server ignored the range and the caller must skip `offset` bytes).
    pub async fn blob(&self, d: &Digest, offset: u64) -> Result<Response> {
        let url = self.url(&format!("blobs/{d}")).await?;
        let resp = self
            .send(
                || {
                    let rb = self.http.get(&url);
                    if offset > 0 {
                        rb.header(RANGE, format!("bytes={offset}-"))
                    } else {
                        rb
                    }
                },
                true,
                false,
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(Error::NotFound(format!("blob {d} in {}", self.repo)));
        }
        if !resp.status().is_success() {
            return Err(error_of(resp).await);
        }
        Ok(resp)
    }

    /// Whether the repository has a blob (HEAD).
    pub async fn blob_exists(&self, d: &Digest) -> Result<bool> {
        let url = self.url(&format!("blobs/{d}")).await?;
        let resp = self.send(|| self.http.head(&url), true, true).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(error_of(resp).await),
        }
    }

    /// Tries a cross-repository mount of `d` from `from`; true when mounted.
    pub async fn mount_blob(&self, d: &Digest, from: &str) -> Result<bool> {
        let url = self.url("blobs/uploads/").await?;
        let q = [("mount", d.to_string()), ("from", from.to_string())];
        let resp = self
            .send(|| self.http.post(&url).query(&q), false, true)
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            s if s.is_success() => {
                // The registry opened an upload instead; cancel it.
                if let Ok(loc) = self.location(&resp).await {
                    let _ = self
                        .send(|| self.http.request(Method::DELETE, &loc), false, true)
                        .await;
                }
                Ok(false)
            }
            _ => Err(error_of(resp).await),
        }
    }

    /// Uploads a blob monolithically (POST then PUT with the digest).
    pub async fn upload_blob(&self, d: &Digest, path: &std::path::Path, size: u64) -> Result<()> {
        let url = self.url("blobs/uploads/").await?;
        let resp = self.send(|| self.http.post(&url), false, true).await?;
        if !resp.status().is_success() {
            return Err(error_of(resp).await);
        }
        let loc = self.location(&resp).await?;
        let sep = if loc.contains('?') { '&' } else { '?' };
        let put = format!("{loc}{sep}digest={d}");
        let auth = self.auth.lock().expect("auth lock").clone();
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        let mut rb = self
            .http
            .put(&put)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(tokio_util_stream(file)));
        if let Some(a) = auth {
            rb = rb.header(AUTHORIZATION, a);
        }
        let resp = rb.send().await.map_err(http_err)?;
        if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
            return Err(error_of(resp).await);
        }
        Ok(())
    }

    /// Uploads a manifest under a tag or digest.
    pub async fn put_manifest(&self, reference: &str, body: &[u8], media_type: &str) -> Result<()> {
        let url = self.url(&format!("manifests/{reference}")).await?;
        let resp = self
            .send(
                || {
                    self.http
                        .put(&url)
                        .header(CONTENT_TYPE, media_type)
                        .body(body.to_vec())
                },
                true,
                true,
            )
            .await?;
        if !resp.status().is_success() {
            return Err(error_of(resp).await);
        }
        Ok(())
    }
}

/// A stream of 1 MiB chunks of a file, for upload bodies.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(Some(file), |state| async move {
        let mut f = state?;
        let mut buf = vec![0u8; 1 << 20];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), Some(f)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}
