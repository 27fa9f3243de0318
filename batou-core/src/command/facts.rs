//! `batou run ENV facts`: what a host is — OS, kernel, architecture,
//! memory, disk, uptime — and the model's view of it (`host.data` as the
//! agent sees it, after overrides and secrets).

use std::ffi::CStr;
use std::path::Path;

use serde_json::{Value, json};

use super::{CommandFailed, CommandHost};

/// The `facts` command (takes no arguments).
pub(super) fn facts(host: &CommandHost<'_>, args: &[String]) -> Result<Value, CommandFailed> {
    if let Some(extra) = args.first() {
        return Err(CommandFailed::new(format!(
            "facts takes no arguments (got `{extra}`)"
        )));
    }
    let uname = uname()?;
    let os_release = host
        .read(Path::new("/etc/os-release"))
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let uptime = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok());
    let target = &host.env().base_dir;
    Ok(json!({
        "host": host.name(),
        "hostname": uname.nodename,
        "user": crate::remote::whoami::current_user(),
        "os": {
            "kernel": uname.sysname,
            "name": os_field(&os_release, "PRETTY_NAME").or_else(|| os_field(&os_release, "NAME")),
            "id": os_field(&os_release, "ID"),
            "version": os_field(&os_release, "VERSION_ID"),
        },
        "kernel": uname.release,
        "architecture": uname.machine,
        "memory": {
            "total_bytes": meminfo_bytes(&meminfo, "MemTotal"),
            "available_bytes": meminfo_bytes(&meminfo, "MemAvailable"),
        },
        "disk": {
            "/": disk(Path::new("/")),
            "target_directory": {
                "path": target.display().to_string(),
                "usage": disk(target),
            },
        },
        "uptime_seconds": uptime.map(|u| u.floor() as u64),
        "platform": host.info().platform,
        "data": host.info().data,
    }))
}

struct Uname {
    sysname: String,
    nodename: String,
    release: String,
    machine: String,
}

fn uname() -> Result<Uname, CommandFailed> {
    // SAFETY: `utsname` is plain data; uname fills it with NUL-terminated
    // strings.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(CommandFailed::new(format!(
            "uname: {}",
            std::io::Error::last_os_error()
        )));
    }
    let field = |f: &[libc::c_char]| {
        // SAFETY: uname NUL-terminates every field within its array.
        unsafe { CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Ok(Uname {
        sysname: field(&u.sysname),
        nodename: field(&u.nodename),
        release: field(&u.release),
        machine: field(&u.machine),
    })
}

/// `KEY=value` (quotes removed) of an os-release file.
fn os_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let value = l.strip_prefix(key)?.strip_prefix('=')?;
        Some(
            value
                .trim()
                .trim_matches('"')
                .trim_matches('\'')
                .to_string(),
        )
    })
}

/// `Key: N kB` of /proc/meminfo, in bytes.
fn meminfo_bytes(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        let kib: u64 = rest.split_whitespace().next()?.parse().ok()?;
        kib.checked_mul(1024)
    })
}

/// Size and free space of the file system holding `path` (`null` when it
/// cannot be asked).
fn disk(path: &Path) -> Value {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return Value::Null;
    };
    // SAFETY: `statvfs` is plain data that the call fills in.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Value::Null;
    }
    let block = s.f_frsize as u64;
    let total = (s.f_blocks as u64).saturating_mul(block);
    let available = (s.f_bavail as u64).saturating_mul(block);
    let free = (s.f_bfree as u64).saturating_mul(block);
    json!({
        "total_bytes": total,
        "available_bytes": available,
        "used_bytes": total.saturating_sub(free),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_fields_lose_their_quotes() {
        let text = "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n";
        assert_eq!(os_field(text, "NAME").as_deref(), Some("Debian GNU/Linux"));
        assert_eq!(os_field(text, "ID").as_deref(), Some("debian"));
        assert_eq!(os_field(text, "VERSION_ID").as_deref(), Some("12"));
        assert_eq!(os_field(text, "PRETTY_NAME"), None);
    }

    #[test]
    fn meminfo_is_read_in_bytes() {
        let text = "MemTotal:        2048 kB\nMemAvailable:    1024 kB\n";
        assert_eq!(meminfo_bytes(text, "MemTotal"), Some(2048 * 1024));
        assert_eq!(meminfo_bytes(text, "MemAvailable"), Some(1024 * 1024));
        assert_eq!(meminfo_bytes(text, "MemFree"), None);
    }
}
