//! `Extract`: unpack an archive into a directory, member by member.

use std::path::{Path, PathBuf};

use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};
use crate::host::{FileKind, Host};
use crate::stdlib::archive::{Format, Kind, Member, for_each_member};
use crate::stdlib::content::base_name;

/// How many pending changes `verify` lists before summarising.
const SHOWN_CHANGES: usize = 10;

/// Extracts `archive` (tar, tar.gz/tgz, tar.xz, tar.bz2 or zip, chosen by
/// suffix or [`Extract::format`]) into `target`, by default the archive's
/// name without its suffix, created as needed.
///
/// Idempotency compares members: `verify` reads the archive and checks
/// every member against the target (kind, bytes, mode, link target), so a
/// second deploy changes nothing and a deleted or modified member is put
/// back; only differing members are rewritten (atomically). Files in the
/// target that are not in the archive are left alone, as `tar x` does.
/// `strip` drops leading path components; macOS `._*` members are skipped.
/// Members with `..` or absolute paths, symlinks pointing out of the
/// target, and writes through a symlink inside the target are refused.
///
/// ```
/// use batou_core::stdlib::Extract;
/// let unpacked = Extract::new("downloads/node-v22.tar.xz")
///     .target("node")
///     .strip(1);
/// ```
pub struct Extract {
    archive: PathBuf,
    target: Option<PathBuf>,
    format: Option<Format>,
    strip: usize,
    create_target_dir: bool,
    resolved: Option<(PathBuf, PathBuf, Format)>,
}

impl Extract {
    pub fn new(archive: impl Into<PathBuf>) -> Self {
        Extract {
            archive: archive.into(),
            target: None,
            format: None,
            strip: 0,
            create_target_dir: true,
            resolved: None,
        }
    }

    /// The directory to extract into.
    pub fn target(mut self, dir: impl Into<PathBuf>) -> Self {
        self.target = Some(dir.into());
        self
    }

    /// The format, when the suffix does not say it.
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// Leading path components to drop (`tar --strip-components`).
    pub fn strip(mut self, components: usize) -> Self {
        self.strip = components;
        self
    }

    /// Whether to create the target directory (default: yes, with its
    /// parents); if not, it must exist.
    pub fn create_target_dir(mut self, create: bool) -> Self {
        self.create_target_dir = create;
        self
    }

    fn resolved(&self) -> Result<(PathBuf, PathBuf, Format)> {
        self.resolved
            .clone()
            .ok_or_else(|| Error::msg("Extract used before configure"))
    }

    /// Walks the archive comparing each member with the target; with
    /// `apply`, fixes what differs. Returns what differs (differed).
    fn sync(&self, host: &Host, apply: bool) -> Result<Vec<String>> {
        let Some((archive, target, format)) = &self.resolved else {
            return Err(Error::msg("Extract used before configure"));
        };
        let file = host.open(archive)?.ok_or_else(|| {
            Error::msg(format!("the archive {} does not exist", archive.display()))
        })?;
        // By path: when an archive holds a path twice, the later member
        // wins (as with `tar x`), so only its comparison counts.
        let mut changes = indexmap::IndexMap::new();
        let mut visit = |member: Member| -> Result<()> {
            changes.shift_remove(&member.path);
            if let Some(change) = sync_member(host, target, &member, apply)? {
                changes.insert(member.path, change);
            }
            Ok(())
        };
        for_each_member(file, *format, self.strip, &mut visit)
            .map_err(|e| Error::msg(format!("{}: {e}", archive.display())))?;
        Ok(changes.into_values().collect())
    }
}

impl Component for Extract {
    fn label(&self) -> String {
        format!("Extract('{}')", base_name(&self.archive))
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let name = base_name(&self.archive);
        let by_suffix = Format::from_name(&name);
        let format = match (self.format, by_suffix) {
            (Some(f), _) | (None, Some((f, _))) => f,
            (None, None) => {
                return Err(Error::usage(format!(
                    "Extract: cannot tell the format of {name:?} from its suffix \
                     (.tar, .tar.gz, .tgz, .tar.xz, .txz, .tar.bz2, .tbz2, .zip); set `format`"
                )));
            }
        };
        let target = match (&self.target, by_suffix) {
            (Some(t), _) => t.clone(),
            (None, Some((_, stem))) if !stem.is_empty() => self.archive.with_file_name(stem),
            _ => {
                return Err(Error::usage(format!(
                    "Extract: cannot derive a target directory from {name:?}; set `target`"
                )));
            }
        };
        self.resolved = Some((ctx.map(&self.archive), ctx.map(&target), format));
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let (archive, target, _) = self.resolved()?;
        if ctx.host().stat(&archive)?.is_none() && ctx.predicting() {
            // An earlier component (a Download) would have created it.
            ctx.log(format!(
                "{} does not exist yet; it would be extracted once it does",
                archive.display()
            ));
            return Ok(Verdict::NeedsUpdate);
        }
        match ctx.host().stat(&target)? {
            Some(s) if s.kind == FileKind::Directory => {}
            Some(s) if s.kind == FileKind::Symlink && target.is_dir() => {}
            Some(_) => {
                return Err(Error::msg(format!(
                    "the extract target {} is not a directory",
                    target.display()
                )));
            }
            None if self.create_target_dir => {}
            None => {
                return Err(Error::msg(format!(
                    "the extract target {} does not exist (create_target_dir is off)",
                    target.display()
                )));
            }
        }
        let changes = self.sync(ctx.host(), false)?;
        for change in changes.iter().take(SHOWN_CHANGES) {
            ctx.log(change.clone());
        }
        if changes.len() > SHOWN_CHANGES {
            ctx.log(format!("… and {} more", changes.len() - SHOWN_CHANGES));
        }
        Ok(Verdict::update_if(!changes.is_empty()))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let (_, target, _) = self.resolved()?;
        if self.create_target_dir {
            ctx.host().mkdir(&target, true)?;
        }
        self.sync(ctx.host(), true)?;
        Ok(())
    }
}

/// Compares one member with what is at its place in `target`; with
/// `apply`, makes it so. Returns a description if it differed.
fn sync_member(host: &Host, target: &Path, member: &Member, apply: bool) -> Result<Option<String>> {
    let dest = target.join(&member.path);
    refuse_symlinked_parents(host, target, &member.path)?;
    let there = host.stat(&dest)?;
    let kind_there = there.as_ref().map(|s| s.kind);
    let mode_there = there.as_ref().map(|s| s.mode);
    let rel = member.path.display();
    let change = match &member.kind {
        Kind::Directory => match kind_there {
            Some(FileKind::Directory) if mode_there == Some(member.mode) => None,
            Some(FileKind::Directory) => Some(format!("chmod {rel}/ {:o}", member.mode)),
            _ => Some(format!("create {rel}/")),
        },
        Kind::File(data) => file_change(
            host,
            &member.path,
            &dest,
            kind_there,
            mode_there,
            member.mode,
            data,
        )?,
        Kind::HardLink(from) => {
            let data = host.read(&target.join(from))?.unwrap_or_default();
            file_change(
                host,
                &member.path,
                &dest,
                kind_there,
                mode_there,
                member.mode,
                &data,
            )?
        }
        Kind::Symlink(to) => {
            let current = host.read_link(&dest)?;
            (current.as_deref() != Some(to.as_path()))
                .then(|| format!("link {rel} -> {}", to.display()))
        }
    };
    if change.is_some() && apply {
        if let Some(parent) = dest.parent() {
            host.mkdir(parent, true)?;
        }
        match &member.kind {
            Kind::Directory => {
                if kind_there.is_some() && kind_there != Some(FileKind::Directory) {
                    host.remove(&dest)?;
                }
                host.mkdir(&dest, false)?;
                host.chmod(&dest, member.mode)?;
            }
            Kind::File(data) => write_file(host, &dest, kind_there, data, member.mode)?,
            Kind::HardLink(from) => {
                let data = host.read(&target.join(from))?.ok_or_else(|| {
                    Error::msg(format!("hard link {rel}: {} is missing", from.display()))
                })?;
                write_file(host, &dest, kind_there, &data, member.mode)?;
            }
            Kind::Symlink(to) => {
                if kind_there == Some(FileKind::Directory) {
                    host.remove(&dest)?;
                }
                host.symlink(to, &dest)?;
            }
        }
    }
    Ok(change)
}

fn file_change(
    host: &Host,
    rel: &Path,
    dest: &Path,
    kind_there: Option<FileKind>,
    mode_there: Option<u32>,
    mode: u32,
    data: &[u8],
) -> Result<Option<String>> {
    let rel = rel.display();
    if kind_there != Some(FileKind::File) {
        return Ok(Some(format!("write {rel}")));
    }
    if host.read(dest)?.as_deref() != Some(data) {
        return Ok(Some(format!("update {rel}")));
    }
    Ok((mode_there != Some(mode)).then(|| format!("chmod {rel} {mode:o}")))
}

fn write_file(
    host: &Host,
    dest: &Path,
    kind_there: Option<FileKind>,
    data: &[u8],
    mode: u32,
) -> Result<()> {
    if kind_there == Some(FileKind::File) && host.read(dest)?.as_deref() == Some(data) {
        host.chmod(dest, mode)?;
        return Ok(());
    }
    if kind_there.is_some() && kind_there != Some(FileKind::File) {
        host.remove(dest)?;
    }
    host.write(dest, data, Some(mode))?;
    Ok(())
}

/// Writing through a symlink below the target could land anywhere; the
/// archive's own links are checked when read, but a link put there later
/// is not, so none is followed.
fn refuse_symlinked_parents(host: &Host, target: &Path, rel: &Path) -> Result<()> {
    let mut at = target.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        at.push(part);
        match host.stat(&at)? {
            Some(s) if s.kind == FileKind::Symlink => {
                return Err(Error::msg(format!(
                    "refusing to extract {}: {} is a symlink",
                    rel.display(),
                    at.display()
                )));
            }
            None => break,
            _ => {}
        }
    }
    Ok(())
}
