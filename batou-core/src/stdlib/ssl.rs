//! `Certificate`: a TLS certificate, its chain and its private key as
//! files (batou_ext's `ssl` from secrets), checked before any host is
//! touched: the key must belong to the certificate and the certificate
//! must verify through the chain. The checks use rustls and webpki (with
//! ring), which the HTTP client already brings.

use std::path::PathBuf;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use crate::component::{Component, Configure};
use crate::error::{Error, Result};
use crate::stdlib::File;

/// Where a PEM text comes from.
#[derive(Debug, Clone)]
enum Source {
    None,
    Text(String),
    /// A secret file (`secret-NAME.age`, `secrets/NAME`).
    Secret(String),
}

/// A certificate, its chain and its private key, written as
/// `NAME.crt`, `NAME.chain.crt` (when there is a chain),
/// `NAME.fullchain.crt` (certificate then chain, for nginx and friends)
/// and `NAME.key` (mode 0600, its diff never shown) in
/// [`Certificate::dir`] (default: the workdir; made when missing).
///
/// Checked when the model is configured, on the controller, so a wrong
/// file stops the deploy before any host is touched, with an error that
/// names the component and never shows the key:
///
/// - the certificate and chain are PEM certificates, the key a PEM
///   private key (PKCS#8, PKCS#1 RSA or SEC1 EC);
/// - the key is the certificate's (their public keys are compared);
/// - the certificate verifies, now, through the chain up to
///   [`Certificate::ca`] when given, else up to the chain's last
///   certificate (so a chain of the wrong issuer, or out of order parts,
///   an expired certificate, a certificate that is itself a CA, or one
///   not for TLS servers, is an error).
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::Certificate;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Web;
///
/// impl Component for Web {
///     fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
///         ctx.add(
///             Certificate::new("www")
///                 .dir("/etc/nginx/ssl")
///                 .cert_secret("www.crt")
///                 .chain_secret("www.chain.crt")
///                 .key_secret("www.key"),
///         )?;
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Certificate {
    name: String,
    dir: Option<PathBuf>,
    cert: Source,
    chain: Source,
    key: Source,
    ca: Source,
}

impl Certificate {
    /// The files `NAME.crt`, `NAME.chain.crt`, `NAME.fullchain.crt` and
    /// `NAME.key`.
    pub fn new(name: impl Into<String>) -> Self {
        Certificate {
            name: name.into(),
            dir: None,
            cert: Source::None,
            chain: Source::None,
            key: Source::None,
            ca: Source::None,
        }
    }

    /// The directory of the files (default: the workdir).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The certificate (PEM). Required, as text or secret file.
    pub fn cert(mut self, pem: impl Into<String>) -> Self {
        self.cert = Source::Text(pem.into());
        self
    }

    /// The certificate from a secret file.
    pub fn cert_secret(mut self, name: impl Into<String>) -> Self {
        self.cert = Source::Secret(name.into());
        self
    }

    /// The intermediate certificates (PEM, the issuer of the certificate
    /// first).
    pub fn chain(mut self, pem: impl Into<String>) -> Self {
        self.chain = Source::Text(pem.into());
        self
    }

    /// The chain from a secret file.
    pub fn chain_secret(mut self, name: impl Into<String>) -> Self {
        self.chain = Source::Secret(name.into());
        self
    }

    /// The private key (PEM), e.g. a secret attribute's value. Required.
    pub fn key(mut self, pem: impl Into<String>) -> Self {
        self.key = Source::Text(pem.into());
        self
    }

    /// The private key from a secret file.
    pub fn key_secret(mut self, name: impl Into<String>) -> Self {
        self.key = Source::Secret(name.into());
        self
    }

    /// The root certificate(s) the chain must lead to (PEM; not written).
    pub fn ca(mut self, pem: impl Into<String>) -> Self {
        self.ca = Source::Text(pem.into());
        self
    }

    fn bad(&self, why: impl std::fmt::Display) -> Error {
        Error::usage(format!("Certificate('{}'): {why}", self.name))
    }

    /// The text of a source (`None` when not given).
    fn text(&self, ctx: &Configure<'_>, what: &str, source: &Source) -> Result<Option<String>> {
        Ok(match source {
            Source::None => None,
            Source::Text(t) => Some(t.clone()),
            Source::Secret(name) => {
                let bytes = ctx.secret_file(name).ok_or_else(|| {
                    self.bad(format!("the {what}'s secret file `{name}` does not exist"))
                })?;
                Some(String::from_utf8(bytes.to_vec()).map_err(|_| {
                    self.bad(format!(
                        "the {what} in secret file `{name}` is not PEM text"
                    ))
                })?)
            }
        })
    }

    fn certs(&self, what: &str, pem: &str) -> Result<Vec<CertificateDer<'static>>> {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.bad(format!("the {what} is not valid PEM: {e}")))
    }

    /// The checks: the key is the certificate's, and the certificate
    /// verifies through the chain.
    fn check(&self, cert: &str, chain: Option<&str>, key: &str, ca: Option<&str>) -> Result<()> {
        let certs = self.certs("certificate", cert)?;
        let leaf = match certs.as_slice() {
            [one] => one.clone(),
            [] => return Err(self.bad("the certificate holds no PEM certificate")),
            _ => {
                return Err(self.bad(format!(
                    "the certificate holds {} certificates; give the intermediates with .chain(..)",
                    certs.len()
                )));
            }
        };
        let chain = match chain {
            Some(pem) => {
                let c = self.certs("chain", pem)?;
                if c.is_empty() {
                    return Err(self.bad("the chain holds no PEM certificate"));
                }
                c
            }
            None => Vec::new(),
        };
        // The key's own error would not show it, but say no more than
        // what is wrong with it anyway.
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
            .map_err(|_| self.bad("the key is not a PEM private key (PKCS#8, PKCS#1 or SEC1)"))?;
        let signing = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|_| {
            self.bad("the key is of a type that cannot be used (RSA, ECDSA P-256/P-384, Ed25519)")
        })?;
        let certified = rustls::sign::CertifiedKey::new(vec![leaf.clone()], signing);
        match certified.keys_match() {
            Ok(()) => {}
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                return Err(self.bad("the key does not belong to the certificate"));
            }
            Err(e) => {
                return Err(self.bad(format!("cannot compare the key with the certificate: {e}")));
            }
        }
        let roots = match ca {
            Some(pem) => {
                let c = self.certs("CA", pem)?;
                if c.is_empty() {
                    return Err(self.bad("the CA holds no PEM certificate"));
                }
                c
            }
            None => match chain.last() {
                Some(top) => vec![top.clone()],
                // A certificate without chain or CA: nothing to verify it
                // against (it may be self-signed).
                None => return Ok(()),
            },
        };
        let anchors = roots
            .iter()
            .map(|c| {
                webpki::anchor_from_trusted_cert(c)
                    .map_err(|e| self.bad(format!("a CA certificate cannot be parsed: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let end = webpki::EndEntityCert::try_from(&leaf)
            .map_err(|e| self.bad(format!("the certificate cannot be parsed: {e}")))?;
        let algs = rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .all;
        end.verify_for_usage(
            algs,
            &anchors,
            &chain,
            UnixTime::now(),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|e| {
            self.bad(format!(
                "the certificate does not verify through its chain: {e}"
            ))
        })?;
        Ok(())
    }
}

impl Component for Certificate {
    fn label(&self) -> String {
        format!("Certificate('{}')", self.name)
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        if self.name.is_empty()
            || self.name.starts_with('.')
            || self.name.contains(|c: char| c == '/' || c.is_control())
        {
            return Err(self.bad("the name must be a file name (no `/`, not starting with `.`)"));
        }
        let cert = self
            .text(ctx, "certificate", &self.cert)?
            .ok_or_else(|| self.bad("no certificate given (.cert(..) or .cert_secret(..))"))?;
        let key = self
            .text(ctx, "key", &self.key)?
            .ok_or_else(|| self.bad("no key given (.key(..) or .key_secret(..))"))?;
        let chain = self.text(ctx, "chain", &self.chain)?;
        let ca = self.text(ctx, "CA", &self.ca)?;
        self.check(&cert, chain.as_deref(), &key, ca.as_deref())?;

        let dir = ctx.map(self.dir.clone().unwrap_or_else(|| ctx.workdir().into()));
        let path = |suffix: &str| dir.join(format!("{}{suffix}", self.name));
        let line_end = |t: &str| {
            if t.ends_with('\n') {
                t.to_string()
            } else {
                format!("{t}\n")
            }
        };
        let (cert, key) = (line_end(&cert), line_end(&key));
        ctx.add(
            File::new(path(".crt"))
                .content(cert.clone())
                .mode(0o644)
                .leading(true),
        )?;
        let full = match &chain {
            Some(c) => {
                let c = line_end(c);
                ctx.add(
                    File::new(path(".chain.crt"))
                        .content(c.clone())
                        .mode(0o644)
                        .leading(true),
                )?;
                format!("{cert}{c}")
            }
            None => cert,
        };
        ctx.add(
            File::new(path(".fullchain.crt"))
                .content(full)
                .mode(0o644)
                .leading(true),
        )?;
        ctx.add(
            File::new(path(".key"))
                .content(key)
                .mode(0o600)
                .sensitive(true)
                .leading(true),
        )?;
        Ok(())
    }
}
