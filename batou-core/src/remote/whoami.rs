//! Who and where this process is: the machine's host name and the user
//! it runs as (for deploy lock holders, the agent's greeting and the
//! `ssh2` transport's default login user), and the home directory.

use std::path::PathBuf;

/// This machine's host name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The name of the user this process runs as.
pub fn current_user() -> String {
    // SAFETY: getpwuid returns a pointer into static storage or null; we
    // copy the name out immediately.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return libc::geteuid().to_string();
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}

/// `$HOME`, if it is set and not empty.
pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_user_is_the_one_id_names() {
        let out = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap();
        assert_eq!(current_user(), String::from_utf8_lossy(&out.stdout).trim());
    }
}
