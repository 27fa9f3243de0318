//! `Download`: fetch a file over http(s), checked against a required
//! checksum.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};
use crate::host::FileKind;
use crate::stdlib::checksum::{Checksum, Hasher, digest, mask_url};
use crate::stdlib::content::{base_name, ensure_parent};

/// How long connecting, or waiting for the next bytes, may take by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Downloads `url` (http or https) to `target`, which is only ever replaced
/// by a complete file whose digest matches `checksum` (batou's
/// `"<algorithm>:<hex>"`, `sha256` or `sha512`).
///
/// `verify` re-hashes an existing file, so a damaged or changed file is
/// fetched again. The body streams into a temp file beside the target; a
/// digest mismatch is an error naming both digests and leaves no file
/// behind (a previous file stays as it was). A password in the URL is sent
/// as basic auth and shown as `****`. https is verified against the
/// public web roots, or only against the PEM certificates in `ca_file`
/// (a path on the target).
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::{Download, Extract};
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Tool;
///
/// impl Component for Tool {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(Download::new("https://example.org/tool-1.2.tar.gz").checksum(
///             "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
///         ))?;
///         ctx.add(Extract::new("tool-1.2.tar.gz").strip(1))?;
///         Ok(())
///     }
/// }
/// ```
pub struct Download {
    url: String,
    checksum: String,
    target: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    timeout: Duration,
    mode: Option<u32>,
    leading: bool,
    // Resolved in configure.
    parsed: Option<Resolved>,
}

struct Resolved {
    /// The URL without credentials (they go into a header).
    url: url::Url,
    basic_auth: Option<String>,
    checksum: Checksum,
    target: PathBuf,
    ca_file: Option<PathBuf>,
}

impl Download {
    pub fn new(url: impl Into<String>) -> Self {
        Download {
            url: url.into(),
            checksum: String::new(),
            target: None,
            ca_file: None,
            timeout: DEFAULT_TIMEOUT,
            mode: None,
            leading: false,
            parsed: None,
        }
    }

    /// Required: `sha256:<hex>` or `sha512:<hex>` (batou's `md5:` and `sha1:`
    /// are accepted too, but are weak: a crafted file can match them).
    pub fn checksum(mut self, checksum: impl Into<String>) -> Self {
        self.checksum = checksum.into();
        self
    }

    /// Where the file goes (default: the URL's last path segment, in the
    /// workdir).
    pub fn target(mut self, path: impl Into<PathBuf>) -> Self {
        self.target = Some(path.into());
        self
    }

    /// Trust only the PEM certificates in this file for https (e.g. an
    /// internal CA). Verification is never switched off.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Limit for connecting and for each wait on the server (default 60s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Mode of the downloaded file (default: the previous file's, else 0644).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Create missing parent directories of the target.
    pub fn leading(mut self, leading: bool) -> Self {
        self.leading = leading;
        self
    }

    fn resolved(&self) -> Result<&Resolved> {
        self.parsed
            .as_ref()
            .ok_or_else(|| Error::msg("Download used before configure"))
    }

    fn resolve(&self, ctx: &Configure<'_>) -> Result<Resolved> {
        let shown = mask_url(&self.url);
        let mut url = url::Url::parse(&self.url)
            .map_err(|e| Error::usage(format!("Download: {shown:?} is not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::usage(format!(
                "Download: {shown}: only http and https URLs are supported"
            )));
        }
        if self.checksum.is_empty() {
            return Err(Error::usage(format!(
                "Download {shown}: a checksum is required (\"sha256:<hex>\" or \"sha512:<hex>\")"
            )));
        }
        let checksum: Checksum = self.checksum.parse()?;
        let target = match &self.target {
            Some(t) => t.clone(),
            None => {
                let last = url
                    .path_segments()
                    .and_then(|mut s| s.next_back())
                    .unwrap_or_default();
                if last.is_empty() {
                    return Err(Error::usage(format!(
                        "Download {shown}: the URL has no file name to use as target; set `target`"
                    )));
                }
                PathBuf::from(last)
            }
        };
        let basic_auth = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            use base64::Engine;
            let user = decode(url.username());
            let password = url.password().map(decode).unwrap_or_default();
            let _ = url.set_username("");
            let _ = url.set_password(None);
            Some(base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
        };
        Ok(Resolved {
            url,
            basic_auth,
            checksum,
            target: ctx.map(&target),
            ca_file: self.ca_file.as_ref().map(|p| ctx.map(p)),
        })
    }

    fn agent(&self, ctx: &Deploy<'_>, r: &Resolved) -> Result<ureq::Agent> {
        use ureq::tls::{Certificate, RootCerts, TlsConfig};
        let mut tls = TlsConfig::builder();
        if let Some(ca) = &r.ca_file {
            let pem = ctx.host().read(ca)?.ok_or_else(|| {
                Error::usage(format!("Download: ca_file {} does not exist", ca.display()))
            })?;
            let bad = |e: String| Error::usage(format!("Download: ca_file {}: {e}", ca.display()));
            let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("no PEM certificate in the file".into()));
            }
            tls = tls.root_certs(RootCerts::Specific(Arc::new(certs)));
        }
        // ureq adds the timeout to the clock: one past the clock's range
        // (`Duration::MAX`) is no limit rather than an overflow.
        let timeout = std::time::Instant::now()
            .checked_add(self.timeout.saturating_mul(2))
            .map(|_| self.timeout);
        let config = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .timeout_connect(timeout)
            .timeout_recv_response(timeout)
            .timeout_per_read(timeout)
            .build();
        Ok(config.into())
    }
}

/// A percent-encoded user or password as typed.
fn decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl Component for Download {
    fn label(&self) -> String {
        format!("Download('{}')", mask_url(&self.url))
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.parsed = Some(self.resolve(ctx)?);
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let r = self.resolved()?;
        let (target, wanted) = (r.target.clone(), r.checksum.clone());
        match ctx.host().stat(&target)? {
            Some(s) if s.kind == FileKind::File => {
                let Some(file) = ctx.host().open(&target)? else {
                    return Ok(Verdict::NeedsUpdate);
                };
                let actual = digest(wanted.algorithm, file).map_err(|source| Error::Io {
                    context: format!("cannot read {}", target.display()),
                    source,
                })?;
                if actual == wanted {
                    return Ok(Verdict::UpToDate);
                }
                ctx.log(format!(
                    "{}: checksum {actual} differs from the wanted {wanted}; downloading again",
                    base_name(&target)
                ));
            }
            Some(s) if s.kind == FileKind::Directory => {
                // Never delete a tree to make room for a file.
                return Err(Error::usage(format!(
                    "Download {}: the target {} is a directory; set `target` to a file path",
                    mask_url(&self.url),
                    target.display()
                )));
            }
            Some(_) => ctx.log(format!(
                "{} is not a regular file; it will be replaced",
                target.display()
            )),
            None => {}
        }
        Ok(Verdict::NeedsUpdate)
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let r = self.resolved()?;
        let shown = mask_url(&self.url);
        let agent = self.agent(ctx, r)?;
        ensure_parent(ctx, &r.target, self.leading)?;
        let mut request = agent.get(r.url.as_str());
        if let Some(auth) = &r.basic_auth {
            request = request.header("Authorization", format!("Basic {auth}"));
        }
        let fetch_error = |e: ureq::Error| match e {
            ureq::Error::StatusCode(code) => {
                Error::msg(format!("download of {shown} failed: HTTP status {code}"))
            }
            other => Error::msg(format!("download of {shown} failed: {other}")),
        };
        let response = request.call().map_err(fetch_error)?;
        let mut body = response.into_body().into_reader();
        // Streamed into a temp file beside the target, never in memory.
        let mut staged = ctx.host().stage(&r.target)?;
        let mut hasher = Hasher::new(r.checksum.algorithm);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = body.read(&mut buf).map_err(|e| {
                Error::msg(format!("download of {shown} failed while reading: {e}"))
            })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            staged.write_all(&buf[..n]).map_err(|source| Error::Io {
                context: format!("cannot write {}", r.target.display()),
                source,
            })?;
        }
        let actual = hasher.finish();
        if actual != r.checksum {
            // Dropping `staged` deletes the temp file.
            return Err(Error::msg(format!(
                "checksum mismatch for {shown}: expected {}, got {actual}; {} was not changed",
                r.checksum,
                r.target.display()
            )));
        }
        staged.commit(self.mode)?;
        Ok(())
    }
}
