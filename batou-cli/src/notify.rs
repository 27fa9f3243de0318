//! The desktop notification at the end of a deploy, as batou sends one
//! (`<ACTION> SUCCEEDED` / `<ACTION> FAILED (during <step>)`, with the
//! environment's name): `osascript` on macOS, `notify-send` elsewhere.
//!
//! batou notifies whenever the program is on the PATH; we also want a
//! desktop session to show it in: `DISPLAY` or `WAYLAND_DISPLAY` set (on
//! macOS, the console session). A deploy over ssh from a build server
//! has neither and sends nothing. The notification says nothing but the
//! verdict and the environment: notification daemons keep a history,
//! which is no place for error texts.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a hung notifier may hold up the end of the run.
const PATIENCE: Duration = Duration::from_secs(2);

/// Shows `title` and `body` on the desktop, if there is one. Failures
/// (no notifier installed, no notification daemon) are ignored, as in
/// batou: the deploy's outcome does not depend on them.
pub(crate) fn send(title: &str, body: &str) {
    let Some(mut command) = notifier(title, body) else {
        return;
    };
    let Ok(mut child) = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return;
    };
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        match child.try_wait() {
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            _ => return,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(target_os = "macos")]
fn notifier(title: &str, body: &str) -> Option<Command> {
    // AppleScript string literals: backslash and double quote escaped.
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut c = Command::new("osascript");
    c.arg("-e").arg(format!(
        "display notification \"{}\" with title \"{}\"",
        quote(body),
        quote(title)
    ));
    Some(c)
}

#[cfg(not(target_os = "macos"))]
fn notifier(title: &str, body: &str) -> Option<Command> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
        return None;
    }
    let mut c = Command::new("notify-send");
    c.arg(title).arg(body);
    Some(c)
}
