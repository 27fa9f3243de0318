//! Mapping the paths components name to where they really are: `~`, paths
//! relative to the workdir, and the `[vfs]` sandbox rewrites that let a
//! production model deploy into the developer's checkout.

use std::path::{Component, Path, PathBuf};

use crate::environment::Vfs;

/// Maps component paths for one host.
#[derive(Debug, Clone)]
pub struct PathMapper {
    project_dir: PathBuf,
    vfs: Vfs,
    home: Option<PathBuf>,
}

impl PathMapper {
    pub fn new(project_dir: impl Into<PathBuf>, vfs: Vfs, home: Option<PathBuf>) -> Self {
        PathMapper {
            project_dir: project_dir.into(),
            vfs,
            home,
        }
    }

    /// `~/x` → home, relative → under `workdir`, absolute → `[vfs]`; the
    /// result is normalised (`a/./b/../c` → `a/c`) without touching the
    /// file system.
    ///
    /// ```
    /// use batou_core::environment::Vfs;
    /// use batou_core::vfs::PathMapper;
    /// use std::path::Path;
    ///
    /// let m = PathMapper::new("/proj", Vfs::Developer, None);
    /// assert_eq!(m.map(Path::new("/proj/work/app"), Path::new("etc/app.conf")),
    ///            Path::new("/proj/work/app/etc/app.conf"));
    /// assert_eq!(m.map(Path::new("/proj/work/app"), Path::new("/etc/app.conf")),
    ///            Path::new("/proj/work/_/etc/app.conf"));
    /// ```
    pub fn map(&self, workdir: &Path, path: &Path) -> PathBuf {
        let expanded = expand_home(path, self.home.as_deref());
        if expanded.is_absolute() {
            normalize(&self.vfs.map(&self.project_dir, &normalize(&expanded)))
        } else {
            normalize(&workdir.join(expanded))
        }
    }
}

/// `~` and `~/…` with `home` in place of `~`, as a shell and ssh read
/// them (`~user` is not expanded); any other path, or any path without a
/// home, as it is.
///
/// ```
/// use batou_core::vfs::expand_home;
/// use std::path::Path;
///
/// let home = Some(Path::new("/home/me"));
/// assert_eq!(expand_home(Path::new("~/.ssh/id"), home), Path::new("/home/me/.ssh/id"));
/// assert_eq!(expand_home(Path::new("~"), home), Path::new("/home/me"));
/// assert_eq!(expand_home(Path::new("~bob/x"), home), Path::new("~bob/x"));
/// assert_eq!(expand_home(Path::new("~/x"), None), Path::new("~/x"));
/// ```
pub fn expand_home(path: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) if rest.as_os_str().is_empty() => home.to_path_buf(),
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

fn normalize(path: &Path) -> PathBuf {
    // Most paths are normal already; checking is cheaper than rebuilding
    // (this runs for every component of every root).
    if is_normal(path) {
        return path.to_path_buf();
    }
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                // `/..` is `/`: never climb above the root (and so never
                // out of a `[vfs]` sandbox).
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// No `.` or `..` segment, no empty one (`//`, a trailing `/`): what
/// `normalize` would return unchanged.
fn is_normal(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let body = bytes.strip_prefix(b"/").unwrap_or(bytes);
    !bytes.is_empty()
        && (body.is_empty()
            || body
                .split(|c| *c == b'/')
                .all(|seg| !seg.is_empty() && seg != b"." && seg != b".."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths_are_kept_and_others_rebuilt_the_same_way() {
        for (path, normal) in [
            ("/a/b", true),
            ("a/b", true),
            ("/", true),
            ("a", true),
            ("", false),
            ("/a//b", false),
            ("/a/./b", false),
            ("a/../b", false),
            ("./a", false),
            ("/a/", false),
            ("/a/.", false),
            ("/..", false),
        ] {
            assert_eq!(is_normal(Path::new(path)), normal, "{path}");
            if normal {
                // The slow way gives the same path.
                let mut out = PathBuf::new();
                for part in Path::new(path).components() {
                    out.push(part.as_os_str());
                }
                assert_eq!(out.as_os_str(), Path::new(path).as_os_str(), "{path}");
            }
        }
        assert_eq!(normalize(Path::new("/a/./b/../c")), Path::new("/a/c"));
    }

    #[test]
    fn home_and_map_rules() {
        let m = PathMapper::new(
            "/p",
            Vfs::Map(vec![
                ("/srv/www".into(), "/tmp/www".into()),
                ("/srv".into(), "/tmp/srv".into()),
            ]),
            Some("/home/me".into()),
        );
        let wd = Path::new("/p/work/x");
        assert_eq!(
            m.map(wd, Path::new("~/.bashrc")),
            Path::new("/home/me/.bashrc")
        );
        assert_eq!(
            m.map(wd, Path::new("/srv/www/index.html")),
            Path::new("/tmp/www/index.html")
        );
        assert_eq!(m.map(wd, Path::new("/srv/db")), Path::new("/tmp/srv/db"));
        assert_eq!(m.map(wd, Path::new("/etc/x")), Path::new("/etc/x"));
        assert_eq!(m.map(wd, Path::new("../y/./z")), Path::new("/p/work/y/z"));
    }

    fn developer() -> PathMapper {
        PathMapper::new("/p", Vfs::Developer, Some("/home/me".into()))
    }

    #[test]
    fn developer_sandboxes_absolute_paths_and_home() {
        let m = developer();
        let wd = Path::new("/p/work/app");
        assert_eq!(
            m.map(wd, Path::new("/etc/app.conf")),
            Path::new("/p/work/_/etc/app.conf")
        );
        assert_eq!(m.map(wd, Path::new("/")), Path::new("/p/work/_"));
        // `~` expands to an absolute path, which is then sandboxed too.
        assert_eq!(
            m.map(wd, Path::new("~/.bashrc")),
            Path::new("/p/work/_/home/me/.bashrc")
        );
        assert_eq!(m.map(wd, Path::new("~")), Path::new("/p/work/_/home/me"));
        // Relative paths stay in the workdir.
        assert_eq!(
            m.map(wd, Path::new("conf/x")),
            Path::new("/p/work/app/conf/x")
        );
        assert_eq!(m.map(wd, Path::new("./a/../b")), Path::new("/p/work/app/b"));
    }

    #[test]
    fn parent_dirs_cannot_climb_out_of_the_sandbox() {
        let m = developer();
        let wd = Path::new("/p/work/app");
        // `/..` is `/`, so this is /etc/passwd, sandboxed.
        assert_eq!(
            m.map(wd, Path::new("/../../etc/passwd")),
            Path::new("/p/work/_/etc/passwd")
        );
        assert_eq!(
            m.map(wd, Path::new("/srv/../../x")),
            Path::new("/p/work/_/x")
        );
        let none = PathMapper::new("/p", Vfs::None, None);
        assert_eq!(none.map(wd, Path::new("/../etc")), Path::new("/etc"));
    }

    #[test]
    fn home_only_replaces_a_leading_tilde_component() {
        let m = PathMapper::new("/p", Vfs::None, Some("/home/me".into()));
        let wd = Path::new("/p/work/x");
        assert_eq!(m.map(wd, Path::new("~")), Path::new("/home/me"));
        assert_eq!(m.map(wd, Path::new("~/a/../b")), Path::new("/home/me/b"));
        // Not a home reference: a file named `~x`, and a `~` further in.
        assert_eq!(m.map(wd, Path::new("~x")), Path::new("/p/work/x/~x"));
        assert_eq!(m.map(wd, Path::new("a/~/b")), Path::new("/p/work/x/a/~/b"));
        // Map rules apply to the expanded home.
        let m = PathMapper::new(
            "/p",
            Vfs::Map(vec![("/home/me".into(), "/tmp/me".into())]),
            Some("/home/me".into()),
        );
        assert_eq!(m.map(wd, Path::new("~/.x")), Path::new("/tmp/me/.x"));
    }
}
