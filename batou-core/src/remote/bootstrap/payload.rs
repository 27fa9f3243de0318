//! What goes over the wire when a target lacks the agent: a zstd delta
//! against an agent the target already has, else the whole binary,
//! compressed when the target can unpack it.
//!
//! Deltas are zstd frames compressed with the old binary as a raw
//! "reference prefix" (what `zstd --patch-from` does): the matches reach
//! back into the old binary, so a rebuild that changed one line costs a
//! fraction of the binary. The target has only `sh`, so the old agent
//! applies the delta itself (`batou agent-patch OLD`, see
//! [`apply_patch`]) after the upload script checked its hash. Every
//! payload is built once per process and shared by all hosts.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use super::binary::AgentBinary;

/// How the upload script receives the binary.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Mode {
    /// The bytes themselves.
    Raw,
    /// Compressed; the target unpacks with the tool of that name.
    Packed(Packer),
    /// A delta against the cached agent with this hash.
    Patch(String),
}

/// The compressors whose unpackers a target may have, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Packer {
    Zstd,
    Xz,
    Gzip,
}

impl Packer {
    const ALL: [Packer; 3] = [Packer::Zstd, Packer::Xz, Packer::Gzip];

    fn tool(self) -> &'static str {
        match self {
            Packer::Zstd => "zstd",
            Packer::Xz => "xz",
            Packer::Gzip => "gzip",
        }
    }
}

impl Mode {
    /// The upload script's arguments: mode and patch base.
    pub(super) fn args(&self) -> [String; 2] {
        match self {
            Mode::Raw => ["raw".into(), String::new()],
            Mode::Packed(p) => [p.tool().into(), String::new()],
            Mode::Patch(base) => ["patch".into(), base.clone()],
        }
    }
}

/// The best full upload for a target whose `BATOU-UNPACK` line listed
/// `unpack`.
pub(super) fn full_mode(unpack: &[String]) -> Mode {
    Packer::ALL
        .into_iter()
        .find(|p| unpack.iter().any(|u| u == p.tool()))
        .map_or(Mode::Raw, Mode::Packed)
}

/// zstd level of full uploads: ~2.5 MB for a 11 MB binary in ~0.2 s
/// (level 19 saves another 10 % for 25× the time).
const PACK_LEVEL: i32 = 9;
/// Above this size (an unstripped debug build) level 3, ~4× faster.
const BIG: usize = 64 << 20;
/// zstd level of deltas: the matches against the old binary matter more
/// than the entropy stage.
const PATCH_LEVEL: i32 = 9;
/// xz preset of full uploads.
const XZ_PRESET: u32 = 6;

type Built = Arc<OnceLock<Result<Arc<Vec<u8>>, String>>>;

/// The bytes to send for `mode` (not for [`Mode::Raw`], which streams the
/// file). `base` is the old binary for a patch.
pub(super) fn build(
    binary: &AgentBinary,
    mode: &Mode,
    base: Option<&Path>,
) -> Result<Arc<Vec<u8>>, String> {
    static BUILT: OnceLock<Mutex<HashMap<(String, Mode), Built>>> = OnceLock::new();
    let cell = {
        let mut built = BUILT
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        built
            .entry((binary.hash.clone(), mode.clone()))
            .or_default()
            .clone()
    };
    // Hosts asking for the same payload wait for the first to build it.
    cell.get_or_init(|| {
        let new = std::fs::read(&binary.path)
            .map_err(|e| format!("cannot read {}: {e}", binary.path.display()))?;
        let bytes = match (mode, base) {
            (Mode::Patch(_), Some(base)) => {
                let old = std::fs::read(base)
                    .map_err(|e| format!("cannot read {}: {e}", base.display()))?;
                delta(&old, &new)
            }
            (Mode::Patch(_), None) => return Err("no base for the patch".into()),
            (Mode::Packed(p), _) => pack(*p, &new),
            (Mode::Raw, _) => Ok(new),
        }
        .map_err(|e| format!("cannot build the upload: {e}"))?;
        Ok(Arc::new(bytes))
    })
    .clone()
}

fn pack(packer: Packer, data: &[u8]) -> std::io::Result<Vec<u8>> {
    match packer {
        Packer::Zstd => zstd::bulk::compress(data, if data.len() > BIG { 3 } else { PACK_LEVEL }),
        Packer::Xz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), XZ_PRESET);
            e.write_all(data)?;
            e.finish()
        }
        Packer::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data)?;
            e.finish()
        }
    }
}

/// The window that lets matches reach from anywhere in `new` back to
/// anywhere in `old`.
fn window_log(old: usize, new: usize) -> u32 {
    let span = (old + new).max(1 << 10);
    (usize::BITS - (span - 1).leading_zeros()).clamp(10, 31)
}

/// A zstd frame of `new` against `old` as reference prefix.
pub fn delta(old: &[u8], new: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut e = zstd::stream::write::Encoder::with_ref_prefix(Vec::new(), PATCH_LEVEL, old)?;
    e.window_log(window_log(old.len(), new.len()))?;
    e.long_distance_matching(true)?;
    e.include_checksum(true)?;
    e.write_all(new)?;
    e.finish()
}

/// Applies a delta from `input` to the binary at `base`, writing the new
/// binary to `output` (what `batou agent-patch BASE` does on the target).
/// A corrupt or foreign delta is an error (zstd's own frame checksum);
/// the upload script also checks the result's sha256.
pub fn apply_patch(base: &Path, input: impl Read, mut output: impl Write) -> std::io::Result<u64> {
    let old = std::fs::read(base)?;
    let mut d = zstd::stream::read::Decoder::with_ref_prefix(std::io::BufReader::new(input), &old)?;
    d.window_log_max(31)?;
    let n = std::io::copy(&mut d, &mut output)?;
    output.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn a_small_change_makes_a_small_delta_that_applies() {
        let old = noise(3 << 20, 7);
        let mut new = old.clone();
        new.splice(1 << 20..1 << 20, b"one more line\n".iter().copied());
        new[2 << 20] ^= 0xff;
        let d = delta(&old, &new).unwrap();
        assert!(d.len() < 4096, "delta of {} bytes", d.len());
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("old");
        std::fs::write(&base, &old).unwrap();
        let mut out = Vec::new();
        apply_patch(&base, &d[..], &mut out).unwrap();
        assert!(out == new, "the patched binary is the new one");
        // Against another base, or corrupted, it fails instead.
        std::fs::write(&base, noise(3 << 20, 8)).unwrap();
        assert!(apply_patch(&base, &d[..], &mut Vec::new()).is_err());
        std::fs::write(&base, &old).unwrap();
        let mut bad = d.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        assert!(apply_patch(&base, &bad[..], &mut Vec::new()).is_err());
    }

    #[test]
    fn the_best_unpacker_the_target_has_is_used() {
        let have = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(full_mode(&have(&["gzip", "xz"])), Mode::Packed(Packer::Xz));
        assert_eq!(
            full_mode(&have(&["zstd", "gzip"])),
            Mode::Packed(Packer::Zstd)
        );
        assert_eq!(full_mode(&[]), Mode::Raw);
        for p in Packer::ALL {
            let data = b"abc".repeat(1000);
            let packed = pack(p, &data).unwrap();
            let out = std::process::Command::new(p.tool())
                .arg("-dc")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    c.stdin.take().unwrap().write_all(&packed)?;
                    c.wait_with_output()
                })
                .unwrap();
            assert_eq!(out.stdout, data, "{p:?} unpacks with the target's tool");
        }
    }
}
