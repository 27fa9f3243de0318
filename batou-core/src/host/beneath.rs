//! Paths below the deployment's own directory (a target's
//! `target_directory`, a local project) are reached without following a
//! symlink another user could have planted there.
//!
//! Below that root, the agent often runs as root while directories are
//! owned by service users (a component chowns `data/` to the app). If the
//! app replaced `data/sub` by a symlink to `/etc`, a later write of
//! `data/sub/x` would land in `/etc/x`. So every operation on such a path
//! first opens the directory it acts in (or the file itself) from the
//! root, one component at a time, and then acts through that open
//! directory (`/proc/self/fd/N/name`): what was checked is what is used,
//! whatever is renamed meanwhile. A symlink on the way is followed only
//! when it belongs to the deploying user or to root (a link a component
//! made itself, e.g. `current -> releases/7`); any other is an error.
//!
//! The walk is one `openat2(RESOLVE_NO_SYMLINKS)` when the path holds no
//! symlink (Linux 5.6 and later), else one `openat` per component. Paths
//! outside the root (`/etc/nginx/…`) are used as they are: the system's
//! own symlinks there are the administrator's business.

use std::ffi::{CString, OsStr, OsString};
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// How many symlinks one walk may follow (as the kernel's limit).
const MAX_LINKS: usize = 40;

/// How many directories stay open for the next entries.
const RECENT: usize = 16;

/// The root and, once it exists, a descriptor for it.
#[derive(Debug)]
pub(crate) struct Beneath {
    root: PathBuf,
    fd: OnceLock<OwnedFd>,
    uid: u32,
    /// The directories the last entries were in (by their paths), still
    /// open, newest last: a component writes many files into a few
    /// directories, and each would otherwise walk there again (see
    /// [`Beneath::forget`]).
    recent: Mutex<Vec<(PathBuf, Arc<OwnedFd>)>>,
}

/// Where an operation acts: the path itself (outside the root), or the
/// same place reached through an open directory.
#[derive(Debug)]
pub(crate) struct At {
    /// Keeps the directory (or file) of `path` open while it is used.
    held: Option<Arc<OwnedFd>>,
    pub path: PathBuf,
    /// The directory `path` is in.
    pub dir: PathBuf,
}

impl At {
    pub(crate) fn plain(path: &Path) -> At {
        At {
            held: None,
            path: path.to_path_buf(),
            dir: super::parent_dir(path).to_path_buf(),
        }
    }

    /// Whether `path` is reached through an open directory (below the
    /// root), where a last symlink must not simply be followed.
    pub(crate) fn anchored(&self) -> bool {
        self.held.is_some()
    }

    /// `name` in the directory `fd`.
    fn in_dir(fd: Arc<OwnedFd>, name: &OsStr) -> At {
        let dir = fd_path(fd.as_raw_fd());
        At {
            path: dir.join(name),
            dir,
            held: Some(fd),
        }
    }

    /// The file or directory `fd` itself.
    fn itself(fd: OwnedFd) -> At {
        let path = fd_path(fd.as_raw_fd());
        At {
            dir: path.clone(),
            path,
            held: Some(Arc::new(fd)),
        }
    }
}

fn fd_path(fd: RawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{fd}"))
}

impl Beneath {
    pub(crate) fn new(root: &Path) -> Beneath {
        Beneath {
            root: root.to_path_buf(),
            fd: OnceLock::new(),
            // SAFETY: geteuid has no preconditions.
            uid: unsafe { libc::geteuid() },
            recent: Mutex::new(Vec::new()),
        }
    }

    /// Drops the remembered directory: after anything that may remove,
    /// rename or replace directories (a removal, a new symlink, a
    /// command), the next entry is found by walking again.
    pub(crate) fn forget(&self) {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The root's descriptor; `None` while the root does not exist (then
    /// nothing below it can have been planted either).
    fn root_fd(&self) -> io::Result<Option<RawFd>> {
        if let Some(fd) = self.fd.get() {
            return Ok(Some(fd.as_raw_fd()));
        }
        match open_at(libc::AT_FDCWD, self.root.as_os_str(), libc::O_DIRECTORY) {
            Ok(fd) => Ok(Some(self.fd.get_or_init(|| fd).as_raw_fd())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The components of `path` below the root, `..` resolved by name;
    /// `None` for the root itself and for paths outside it.
    fn below<'p>(&self, path: &'p Path) -> Option<Vec<&'p OsStr>> {
        let rest = path.strip_prefix(&self.root).ok()?;
        let mut parts: Vec<&OsStr> = Vec::new();
        for c in rest.components() {
            match c {
                Component::Normal(name) => parts.push(name),
                Component::CurDir => {}
                Component::ParentDir => {
                    parts.pop()?;
                }
                Component::RootDir | Component::Prefix(_) => return None,
            }
        }
        (!parts.is_empty()).then_some(parts)
    }

    /// Where an operation on the entry `path` acts: its directory opened
    /// from the root, the entry itself not followed.
    pub(crate) fn entry(&self, path: &Path) -> io::Result<At> {
        let (Some(parts), Some(root)) = (self.below(path), self.root_fd()?) else {
            return Ok(At::plain(path));
        };
        let (name, dirs) = parts.split_last().expect("below() is never empty");
        let parent = super::parent_dir(path);
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, fd)) = recent.iter().rev().find(|(dir, _)| dir == parent) {
            return Ok(At::in_dir(fd.clone(), name));
        }
        let fd = Arc::new(self.walk(root, dirs, false)?);
        if recent.len() == RECENT {
            recent.remove(0);
        }
        recent.push((parent.to_path_buf(), fd.clone()));
        Ok(At::in_dir(fd, name))
    }

    /// Where an operation on what `path` names acts: the file or directory
    /// itself opened from the root (a last symlink followed by the rule
    /// of the module docs).
    pub(crate) fn target(&self, path: &Path) -> io::Result<At> {
        let (Some(parts), Some(root)) = (self.below(path), self.root_fd()?) else {
            return Ok(At::plain(path));
        };
        Ok(At::itself(self.walk(root, &parts, false)?))
    }

    /// Creates the directory `path` and its missing parents below the
    /// root the same way; `Ok(false)` when `path` is not below the root.
    pub(crate) fn create_dirs(&self, path: &Path) -> io::Result<bool> {
        let Some(parts) = self.below(path) else {
            return Ok(false);
        };
        let root = match self.root_fd()? {
            Some(fd) => fd,
            None => {
                fs::create_dir_all(&self.root)?;
                self.root_fd()?
                    .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?
            }
        };
        let dir = self.walk(root, &parts, true)?;
        if !is_dir(&dir)? {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        Ok(true)
    }

    /// Opens `parts` below `root` (`O_PATH`); with `create`, missing
    /// directories are made.
    fn walk(&self, root: RawFd, parts: &[&OsStr], create: bool) -> io::Result<OwnedFd> {
        if !create && !NO_OPENAT2.load(Ordering::Relaxed) {
            let joined: PathBuf = parts.iter().collect();
            match openat2_no_symlinks(root, joined.as_os_str()) {
                Ok(fd) => return Ok(fd),
                // A symlink on the way: the slow walk decides about it.
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        let mut pending: Vec<OsString> = parts.iter().rev().map(|p| p.to_os_string()).collect();
        // SAFETY: dup(2) of a descriptor we hold; the result is owned.
        let mut cur = unsafe { owned(libc::dup(root))? };
        let mut links = 0;
        while let Some(name) = pending.pop() {
            if name == ".." {
                cur = open_at(cur.as_raw_fd(), OsStr::new(".."), libc::O_DIRECTORY)?;
                continue;
            }
            if name.is_empty() || name == "." {
                continue;
            }
            let fd = match open_at(cur.as_raw_fd(), &name, libc::O_NOFOLLOW) {
                Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                    mkdir_at(cur.as_raw_fd(), &name)?;
                    open_at(cur.as_raw_fd(), &name, libc::O_NOFOLLOW)?
                }
                other => other?,
            };
            let stat = fstat(&fd)?;
            if stat.st_mode & libc::S_IFMT != libc::S_IFLNK {
                cur = fd;
                continue;
            }
            if stat.st_uid != self.uid && stat.st_uid != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "refusing to follow the symlink {} below {}: it belongs to uid {} \
                         (only the deploying user's and root's symlinks are followed there)",
                        Path::new(&name).display(),
                        self.root.display(),
                        stat.st_uid
                    ),
                ));
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            let target = PathBuf::from(read_link(&fd)?);
            if target.is_absolute() {
                match self.below(&target).zip(self.fd.get()) {
                    // Back below the root: walk from there, by the rules.
                    Some((inner, root)) => {
                        // SAFETY: dup(2) of the root descriptor we hold.
                        cur = unsafe { owned(libc::dup(root.as_raw_fd()))? };
                        pending.extend(inner.iter().rev().map(|p| p.to_os_string()));
                    }
                    // Elsewhere: where its (trusted) owner pointed it.
                    None => cur = open_at(libc::AT_FDCWD, target.as_os_str(), 0)?,
                }
            } else {
                pending.extend(target.iter().rev().map(OsStr::to_os_string));
            }
        }
        Ok(cur)
    }
}

/// Set once `openat2` turned out to be missing (an older kernel, or a
/// seccomp filter): every walk is the slow one then.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// # Safety
/// `fd` must be a new descriptor nobody else owns (or -1 with errno set).
unsafe fn owned(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: the caller hands over a fresh descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

fn open_at(dir: RawFd, name: &OsStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    let name = cstr(name)?;
    // SAFETY: a NUL-terminated name; the new descriptor is owned.
    unsafe {
        owned(libc::openat(
            dir,
            name.as_ptr(),
            libc::O_PATH | libc::O_CLOEXEC | flags,
        ))
    }
}

fn openat2_no_symlinks(dir: RawFd, path: &OsStr) -> io::Result<OwnedFd> {
    let path = cstr(path)?;
    // SAFETY: open_how is plain data; zeroed is a valid start.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_BENEATH;
    // SAFETY: openat2(2) with a valid struct of the size given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    // SAFETY: a fresh descriptor (or -1 with errno).
    unsafe { owned(fd as RawFd) }
}

fn mkdir_at(dir: RawFd, name: &OsStr) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: a NUL-terminated name.
    if unsafe { libc::mkdirat(dir, c.as_ptr(), 0o777) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    // Made meanwhile by someone else: the walk looks at what it is.
    if e.kind() == io::ErrorKind::AlreadyExists {
        Ok(())
    } else {
        Err(e)
    }
}

fn fstat(fd: &OwnedFd) -> io::Result<libc::stat> {
    // SAFETY: fstat into a zeroed struct on a descriptor we hold.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd.as_raw_fd(), &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st)
    }
}

fn is_dir(fd: &OwnedFd) -> io::Result<bool> {
    Ok(fstat(fd)?.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// The target of the symlink opened (`O_PATH | O_NOFOLLOW`) as `fd`.
fn read_link(fd: &OwnedFd) -> io::Result<OsString> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat with an empty name reads the link `fd` is.
    let n = unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(OsString::from(std::ffi::OsStr::from_bytes(&buf)))
}
