//! Reading archives member by member (tar, tar.gz, tar.xz, tar.bz2, zip),
//! with every member's path made safe before anyone sees it.

use std::io::{BufReader, Read};
use std::path::{Component as Part, Path, PathBuf};

use crate::error::{Error, Result};

/// An archive format; [`Format::from_name`] picks it by suffix as batou
/// does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Tar,
    TarGz,
    TarXz,
    TarBz2,
    Zip,
}

/// Suffixes, longest first, so `.tar.gz` wins over `.gz`-less `.tar`.
const SUFFIXES: &[(&str, Format)] = &[
    (".tar.gz", Format::TarGz),
    (".tar.xz", Format::TarXz),
    (".tar.bz2", Format::TarBz2),
    (".tgz", Format::TarGz),
    (".txz", Format::TarXz),
    (".tbz2", Format::TarBz2),
    (".tar", Format::Tar),
    (".zip", Format::Zip),
];

impl Format {
    /// The format a file name's suffix says, and the name without it.
    pub fn from_name(name: &str) -> Option<(Format, &str)> {
        let lower = name.to_ascii_lowercase();
        SUFFIXES.iter().find_map(|(suffix, format)| {
            lower
                .ends_with(suffix)
                .then(|| (*format, &name[..name.len() - suffix.len()]))
        })
    }
}

/// What a member is.
#[derive(Debug)]
pub(crate) enum Kind {
    File(Vec<u8>),
    Directory,
    Symlink(PathBuf),
    /// A tar hard link to an earlier member (path relative to the target).
    HardLink(PathBuf),
}

/// One member, its path relative to the target directory: only normal
/// components, leading ones stripped.
#[derive(Debug)]
pub(crate) struct Member {
    pub path: PathBuf,
    pub kind: Kind,
    pub mode: u32,
}

/// Calls `visit` for each member of the archive read from `reader`, in
/// archive order, skipping members stripped away entirely and macOS
/// resource forks (`._*`, as batou excludes them).
pub(crate) fn for_each_member(
    reader: std::fs::File,
    format: Format,
    strip: usize,
    visit: &mut dyn FnMut(Member) -> Result<()>,
) -> Result<()> {
    let reader = BufReader::new(reader);
    match format {
        Format::Tar => tar_members(reader, strip, visit),
        Format::TarGz => tar_members(flate2::read::MultiGzDecoder::new(reader), strip, visit),
        Format::TarXz => tar_members(liblzma::read::XzDecoder::new(reader), strip, visit),
        Format::TarBz2 => tar_members(bzip2::read::MultiBzDecoder::new(reader), strip, visit),
        Format::Zip => zip_members(reader, strip, visit),
    }
}

fn broken(e: impl std::fmt::Display) -> Error {
    Error::msg(format!("cannot read archive: {e}"))
}

fn tar_members(
    reader: impl Read,
    strip: usize,
    visit: &mut dyn FnMut(Member) -> Result<()>,
) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        let raw = entry.path().map_err(broken)?.into_owned();
        let Some(path) = safe_path(&raw, strip)? else {
            continue;
        };
        let mode = entry.header().mode().map_err(broken)? & 0o7777;
        let link = || -> Result<PathBuf> {
            Ok(entry
                .link_name()
                .map_err(broken)?
                .map(|l| l.into_owned())
                .unwrap_or_default())
        };
        let kind = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).map_err(broken)?;
                Kind::File(data)
            }
            tar::EntryType::Directory => Kind::Directory,
            tar::EntryType::Symlink => {
                let target = link()?;
                check_link(&raw, &path, &target)?;
                Kind::Symlink(target)
            }
            tar::EntryType::Link => {
                let target = link()?;
                match safe_path(&target, strip)? {
                    Some(t) => Kind::HardLink(t),
                    None => continue,
                }
            }
            // Devices, fifos and pax/GNU bookkeeping are not extracted.
            _ => continue,
        };
        visit(Member { path, kind, mode })?;
    }
    Ok(())
}

fn zip_members(
    reader: impl Read + std::io::Seek,
    strip: usize,
    visit: &mut dyn FnMut(Member) -> Result<()>,
) -> Result<()> {
    let mut archive = zip::ZipArchive::new(reader).map_err(broken)?;
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(broken)?;
        let raw = PathBuf::from(file.name());
        let Some(path) = safe_path(&raw, strip)? else {
            continue;
        };
        let mode = file.unix_mode().map(|m| m & 0o7777);
        let kind = if file.is_dir() {
            Kind::Directory
        } else {
            let mut data = Vec::new();
            file.read_to_end(&mut data).map_err(broken)?;
            if file.is_symlink() {
                let target = PathBuf::from(String::from_utf8_lossy(&data).into_owned());
                check_link(&raw, &path, &target)?;
                Kind::Symlink(target)
            } else {
                Kind::File(data)
            }
        };
        let mode = mode.unwrap_or(match kind {
            Kind::Directory => 0o755,
            _ => 0o644,
        });
        visit(Member { path, kind, mode })?;
    }
    Ok(())
}

fn escapes(raw: &Path, why: &str) -> Error {
    Error::msg(format!(
        "refusing to extract {}: {why} (it would escape the target directory)",
        raw.display()
    ))
}

/// The member's path below the target, or `None` if it is stripped away or
/// excluded. `..` anywhere and absolute paths are refused.
pub(crate) fn safe_path(raw: &Path, strip: usize) -> Result<Option<PathBuf>> {
    let mut parts = Vec::new();
    for part in raw.components() {
        match part {
            Part::Normal(p) => parts.push(p),
            Part::CurDir => {}
            Part::ParentDir => return Err(escapes(raw, "the path contains `..`")),
            Part::RootDir | Part::Prefix(_) => {
                return Err(escapes(raw, "the path is absolute"));
            }
        }
    }
    if parts.len() <= strip {
        return Ok(None);
    }
    let kept = &parts[strip..];
    if kept.iter().any(|p| p.to_string_lossy().starts_with("._")) {
        return Ok(None);
    }
    Ok(Some(kept.iter().collect()))
}

/// A symlink's target must stay inside the target directory when read
/// from where the link is.
fn check_link(raw: &Path, path: &Path, target: &Path) -> Result<()> {
    if target.is_absolute() {
        return Err(escapes(
            raw,
            &format!("it is a symlink to the absolute path {}", target.display()),
        ));
    }
    let mut depth = path.components().count() as isize - 1;
    for part in target.components() {
        match part {
            Part::ParentDir => depth -= 1,
            Part::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(escapes(
                raw,
                &format!("it is a symlink to {}", target.display()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_pick_formats() {
        assert_eq!(
            Format::from_name("app-1.0.tar.gz"),
            Some((Format::TarGz, "app-1.0"))
        );
        assert_eq!(Format::from_name("a.TGZ"), Some((Format::TarGz, "a")));
        assert_eq!(Format::from_name("a.tar"), Some((Format::Tar, "a")));
        assert_eq!(Format::from_name("a.zip"), Some((Format::Zip, "a")));
        assert_eq!(Format::from_name("a.gz"), None);
    }

    #[test]
    fn paths_are_stripped_excluded_and_checked() {
        let p = |s: &str, n| safe_path(Path::new(s), n);
        assert_eq!(p("./pkg/a/b", 1).unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(p("pkg/", 1).unwrap(), None);
        assert_eq!(p("pkg/._b", 0).unwrap(), None);
        assert!(p("../x", 0).unwrap_err().to_string().contains("`..`"));
        assert!(p("a/../../x", 1).is_err());
        assert!(p("/etc/x", 0).unwrap_err().to_string().contains("absolute"));
    }

    #[test]
    fn symlinks_must_stay_inside() {
        let c = |path: &str, target: &str| {
            check_link(Path::new(path), Path::new(path), Path::new(target))
        };
        assert!(c("a/l", "../b").is_ok());
        assert!(c("a/l", "../../b").is_err());
        assert!(c("l", "/etc/passwd").is_err());
        assert!(c("l", "x/../../y").is_err());
    }
}
