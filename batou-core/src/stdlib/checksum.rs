//! batou's `"<hashlib name>:<hex>"` checksums (sha256 and sha512, and md5
//! and sha1 because batou accepts them) and URL masking, shared by
//! `Download` and `Git`.
//!
//! md5 and sha1 are broken as protection against a tampered download: a
//! server (or anyone in between, over http) can craft other bytes with the
//! same digest. They are accepted so that batou deployments port as they
//! are; use sha256 or sha512 for anything new.

use std::io::Read;

use sha2::{Digest, Sha256, Sha512};

use crate::error::{Error, Result};

/// A wanted digest, e.g. `sha256:9f86d0…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: Algorithm,
    /// Lower-case hex.
    pub hex: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha256,
    Sha512,
    /// Weak: accepted only because batou accepts it (see the module docs).
    Md5,
    /// Weak: accepted only because batou accepts it (see the module docs).
    Sha1,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
            Algorithm::Md5 => 32,
            Algorithm::Sha1 => 40,
        }
    }
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl std::str::FromStr for Checksum {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::usage(format!(
                "checksum {text:?} {why}; expected \"sha256:<64 hex digits>\" or \"sha512:<128 hex digits>\" (batou's weak md5:<32> and sha1:<40> are accepted too)"
            ))
        };
        let (name, hex) = text
            .split_once(':')
            .ok_or_else(|| bad("has no algorithm"))?;
        let algorithm = match name.trim().to_ascii_lowercase().as_str() {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            "md5" => Algorithm::Md5,
            "sha1" => Algorithm::Sha1,
            _ => return Err(bad("names an unsupported algorithm")),
        };
        let hex = hex.trim().to_ascii_lowercase();
        if hex.len() != algorithm.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("is not a valid digest"));
        }
        Ok(Checksum { algorithm, hex })
    }
}

/// A running digest of one of the supported algorithms.
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
            Algorithm::Md5 => Hasher::Md5(md5::Md5::new()),
            Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
            Hasher::Md5(h) => h.update(bytes),
            Hasher::Sha1(h) => h.update(bytes),
        }
    }

    /// The digest in the same form as the wanted one.
    pub fn finish(self) -> Checksum {
        let (algorithm, bytes) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, h.finalize().to_vec()),
            Hasher::Sha512(h) => (Algorithm::Sha512, h.finalize().to_vec()),
            Hasher::Md5(h) => (Algorithm::Md5, h.finalize().to_vec()),
            Hasher::Sha1(h) => (Algorithm::Sha1, h.finalize().to_vec()),
        };
        let hex = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Checksum { algorithm, hex }
    }
}

/// The digest of everything `reader` yields.
pub fn digest(algorithm: Algorithm, mut reader: impl Read) -> std::io::Result<Checksum> {
    let mut hasher = Hasher::new(algorithm);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match reader.read(&mut buf)? {
            0 => return Ok(hasher.finish()),
            n => hasher.update(&buf[..n]),
        }
    }
}

/// `url` with any password replaced by `****`, for labels and errors
/// (batou masks it in the breadcrumb). Text that is not a URL (an scp-like
/// `git@host:repo`) has no password field and is returned as it is.
pub fn mask_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("****"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_parse_and_reject_clearly() {
        let ok: Checksum = format!("SHA256:{}", "A".repeat(64)).parse().unwrap();
        assert_eq!(ok.to_string(), format!("sha256:{}", "a".repeat(64)));
        for bad in ["abc", "md5:abcd", "sha256:xyz", "sha512:abcd"] {
            let e = bad.parse::<Checksum>().unwrap_err().to_string();
            assert!(
                e.contains(bad) && e.contains("sha256:<64 hex digits>"),
                "{e}"
            );
        }
    }

    #[test]
    fn digests_match_known_values() {
        let d = digest(Algorithm::Sha256, &b"abc"[..]).unwrap();
        assert_eq!(
            d.hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let d = digest(Algorithm::Sha512, &b"abc"[..]).unwrap();
        assert!(d.hex.starts_with("ddaf35a193617aba"));
    }

    #[test]
    fn batous_weak_md5_and_sha1_are_accepted_and_computed() {
        // RFC 1321 and FIPS 180-1 test vectors for "abc".
        let md5: Checksum = "MD5:900150983CD24FB0D6963F7D28E17F72".parse().unwrap();
        assert_eq!(md5.algorithm, Algorithm::Md5);
        assert_eq!(digest(Algorithm::Md5, &b"abc"[..]).unwrap(), md5);
        let sha1: Checksum = "sha1:a9993e364706816aba3e25717850c26c9cd0d89d"
            .parse()
            .unwrap();
        assert_eq!(digest(Algorithm::Sha1, &b"abc"[..]).unwrap(), sha1);
        assert_eq!(
            sha1.to_string(),
            "sha1:a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        for bad in [
            "md5:abcd",
            "sha1:".to_string().as_str(),
            "md4:900150983cd24fb0d6963f7d28e17f72",
        ] {
            let e = bad.parse::<Checksum>().unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("md5:<32>"), "{e}");
        }
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_url("https://bob:s3cret@example.org/a.tgz"),
            "https://bob:****@example.org/a.tgz"
        );
        assert_eq!(mask_url("https://example.org/a"), "https://example.org/a");
        assert_eq!(mask_url("git@host:repo.git"), "git@host:repo.git");
    }
}
