//! `batou secrets edit` when a signal comes while the editor has the
//! cleartext (#15 bug 4): the cleartext never outlives the command, and an
//! edit saved before the signal is re-encrypted or the user is told it is
//! discarded. If batou itself is killed, the next run removes what it left.
//!
//! The "editor" is a script that makes an edit, saves it, says where the
//! cleartext is and then waits, as a user would sit in vim.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::secrets::{identity, project};
use super::support::Project;

/// A project whose secrets say `greeting = before-edit`, a private
/// `TMPDIR` and `XDG_RUNTIME_DIR` for the runs, and the editor script.
struct Edit {
    p: Project,
    tmp: tempfile::TempDir,
    runtime: tempfile::TempDir,
}

impl Edit {
    fn new() -> Edit {
        let p = project("[backend]\ngreeting = before-edit\n");
        // Its output goes nowhere: left waiting, it must not hold the
        // test's pipes open.
        let script = "#!/bin/sh\n\
             exec >/dev/null 2>&1\n\
             echo $$ > \"$MARKER.pid\"\n\
             sed -i 's/before-edit/after-edit/' \"$1\"\n\
             echo \"$1\" > \"$MARKER.tmp\" && mv \"$MARKER.tmp\" \"$MARKER\"\n\
             sleep 30\n";
        p.write("editor.sh", script);
        std::fs::set_permissions(
            p.path().join("editor.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let private = || {
            let d = tempfile::Builder::new()
                .prefix("batou-edit-")
                .tempdir()
                .unwrap();
            std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
            d
        };
        Edit {
            p,
            tmp: private(),
            runtime: private(),
        }
    }

    fn marker(&self) -> PathBuf {
        self.p.path().join("editing")
    }

    fn vars(&self) -> Vec<(String, String)> {
        vec![
            ("BATOU_AGE_IDENTITIES".into(), identity()),
            ("TMPDIR".into(), self.tmp.path().display().to_string()),
            (
                "XDG_RUNTIME_DIR".into(),
                self.runtime.path().display().to_string(),
            ),
            (
                "EDITOR".into(),
                self.p.path().join("editor.sh").display().to_string(),
            ),
            ("MARKER".into(), self.marker().display().to_string()),
        ]
    }

    /// `secrets edit sec` in its own process group (a terminal's
    /// foreground job), once the editor saved its edit: (job, the
    /// cleartext file, the editor script's pid).
    fn start(&self) -> (Child, PathBuf, i32) {
        let vars = self.vars();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut job = self
            .p
            .command(&["secrets", "edit", "sec"], &vars)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start secrets edit");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.marker().exists() {
            if let Ok(Some(status)) = job.try_wait() {
                let out = job.wait_with_output().unwrap();
                panic!(
                    "secrets edit ended ({status}) before the editor ran:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            assert!(Instant::now() < deadline, "the editor never ran");
            std::thread::sleep(Duration::from_millis(20));
        }
        let file = PathBuf::from(std::fs::read_to_string(self.marker()).unwrap().trim());
        let pid = std::fs::read_to_string(self.marker().with_extension("pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        (job, file, pid)
    }

    fn decrypted(&self) -> String {
        let id = identity();
        self.p
            .run_with(
                &[
                    "secrets",
                    "decrypttostdout",
                    "environments/sec/secrets.cfg.age",
                ],
                &[("BATOU_AGE_IDENTITIES", &id)],
            )
            .success()
            .stdout
    }

    /// No file under the private temp dirs holds the cleartext.
    #[track_caller]
    fn assert_no_cleartext_left(&self) {
        for dir in [self.tmp.path(), self.runtime.path()] {
            let found = files_containing(dir, b"-edit");
            assert!(found.is_empty(), "cleartext left in {found:?}");
        }
    }
}

impl Drop for Edit {
    fn drop(&mut self) {
        // The editor script, if a failed test left it waiting.
        if let Ok(pid) = std::fs::read_to_string(self.marker().with_extension("pid"))
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            // SAFETY: kill(2) on the test's own editor script.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Regular files under `dir` (not following symlinks) holding `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            out.extend(files_containing(&path, needle));
        } else if meta.is_file()
            && std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        {
            out.push(path);
        }
    }
    out
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on the test's own processes.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

/// SIGTERM or SIGHUP to batou while the editor holds a saved edit: the
/// edit is re-encrypted, the cleartext removed, exit 128 + signal.
fn saved_edit_survives(sig: i32, name: &str) {
    let e = Edit::new();
    let (job, file, _editor) = e.start();
    assert!(file.exists());
    signal(job.id() as i32, sig);
    let out = job.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128 + sig), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{name} received; the edit saved before it was re-encrypted"
        )),
        "{stderr}"
    );
    assert!(!file.exists() && !file.parent().unwrap().exists());
    e.assert_no_cleartext_left();
    assert!(e.decrypted().contains("greeting = after-edit"));
}

#[test]
fn sigterm_during_the_edit_re_encrypts_the_saved_edit() {
    saved_edit_survives(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sighup_during_the_edit_re_encrypts_the_saved_edit() {
    saved_edit_survives(libc::SIGHUP, "SIGHUP");
}

/// Ctrl-C: the terminal signals batou and the editor alike. batou waits
/// for the editor; this one dies of it, so its edit is discarded, said
/// so, and the secrets are unchanged.
#[test]
fn ctrl_c_that_ends_the_editor_discards_the_edit_and_says_so() {
    let e = Edit::new();
    let before = std::fs::read(e.p.path().join("environments/sec/secrets.cfg.age")).unwrap();
    let (job, file, _editor) = e.start();
    signal(-(job.id() as i32), libc::SIGINT);
    let out = job.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("were discarded"), "{stderr}");
    assert!(!file.exists());
    e.assert_no_cleartext_left();
    assert_eq!(
        before,
        std::fs::read(e.p.path().join("environments/sec/secrets.cfg.age")).unwrap()
    );
}

/// batou killed outright: nothing can run then, so the cleartext stays
/// in the private area until the next run removes it and says so.
#[test]
fn the_next_run_removes_what_a_killed_edit_left() {
    let e = Edit::new();
    let (mut job, file, editor) = e.start();
    signal(job.id() as i32, libc::SIGKILL);
    job.wait().unwrap();
    signal(editor, libc::SIGKILL);
    let area = file.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(
        area.starts_with(e.runtime.path()),
        "the cleartext is in XDG_RUNTIME_DIR: {}",
        file.display()
    );
    assert_eq!(
        std::fs::metadata(&area).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(file.exists());
    let vars = e.vars();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    e.p.run_with(&["secrets", "summary"], &vars)
        .success()
        .stderr_contains("removed the cleartext an interrupted `batou secrets edit` left in");
    assert!(!file.exists());
    e.assert_no_cleartext_left();
}
