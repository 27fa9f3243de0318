//! User and group lookup through the C library, so NSS sources (LDAP,
//! systemd-homed, ...) work as they do for every other tool on the host.

use std::ffi::{CString, c_char, c_int};

/// The signature shared by `getpwnam_r` and `getgrnam_r`.
type Lookup<T> =
    unsafe extern "C" fn(*const c_char, *mut T, *mut c_char, libc::size_t, *mut *mut T) -> c_int;

/// Calls a reentrant `get*nam_r`, growing the buffer as it asks, and takes
/// the id out of the record it found.
fn lookup<T>(name: &str, call: Lookup<T>, id: fn(&T) -> u32) -> std::io::Result<Option<u32>> {
    if let Ok(numeric) = name.parse::<u32>() {
        return Ok(Some(numeric));
    }
    lookup_record(name, call, id)
}

/// Calls a reentrant `get*nam_r` and takes what `take` wants out of the
/// record (while its strings still live in the buffer).
fn lookup_record<T, R>(
    name: &str,
    call: Lookup<T>,
    take: fn(&T) -> R,
) -> std::io::Result<Option<R>> {
    let Ok(cname) = CString::new(name) else {
        return Ok(None);
    };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // SAFETY: `record` is plain old data that the call fills in; all
        // pointers point to live storage of the sizes given, and `result`
        // is only read when the call reports success.
        let mut record: T = unsafe { std::mem::zeroed() };
        let mut result: *mut T = std::ptr::null_mut();
        let rc = unsafe {
            call(
                cname.as_ptr(),
                &mut record,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        return Ok((!result.is_null()).then(|| take(&record)));
    }
}

pub(super) fn user_id(name: &str) -> std::io::Result<Option<u32>> {
    lookup(name, libc::getpwnam_r, |p: &libc::passwd| p.pw_uid)
}

pub(super) fn group_id(name: &str) -> std::io::Result<Option<u32>> {
    lookup(name, libc::getgrnam_r, |g: &libc::group| g.gr_gid)
}

/// A user's passwd entry, as `getent passwd NAME` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    pub uid: u32,
    /// The primary group.
    pub gid: u32,
    pub home: std::path::PathBuf,
    pub shell: String,
}

/// Copies a C string out of a record; a null pointer is empty.
fn text(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: a non-null string field of a record that `getpwnam_r` just
    // filled in points to a NUL-terminated string in our buffer.
    unsafe { std::ffi::CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

pub(super) fn user_record(name: &str) -> std::io::Result<Option<UserRecord>> {
    lookup_record(name, libc::getpwnam_r, |p: &libc::passwd| UserRecord {
        name: text(p.pw_name),
        uid: p.pw_uid,
        gid: p.pw_gid,
        home: text(p.pw_dir).into(),
        shell: text(p.pw_shell),
    })
}
