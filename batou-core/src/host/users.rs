//! User and group lookup through the C library, so NSS sources (LDAP,
//! systemd-homed, ...) work as they do for every other tool on the host.

use std::ffi::CString;

pub(super) fn user_id(name: &str) -> std::io::Result<Option<u32>> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(Some(id));
    }
    let Ok(cname) = CString::new(name) else {
        return Ok(None);
    };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // SAFETY: all pointers point to live, correctly sized storage; the
        // result pointer is only read when getpwnam_r reports success.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
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
        return Ok((!result.is_null()).then_some(pwd.pw_uid));
    }
}

pub(super) fn group_id(name: &str) -> std::io::Result<Option<u32>> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(Some(id));
    }
    let Ok(cname) = CString::new(name) else {
        return Ok(None);
    };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // SAFETY: as in user_id.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                &mut grp,
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
        return Ok((!result.is_null()).then_some(grp.gr_gid));
    }
}
