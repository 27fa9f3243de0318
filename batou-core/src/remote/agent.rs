//! The agent: the deployment binary running on a target (`batou agent`),
//! serving one controller over stdin/stdout.
//!
//! It configures the whole model itself — with the target's DNS, as batou
//! does — and deploys the roots the controller asks for, several at once
//! when asked, streaming events back. Heartbeats flow every
//! [`HEARTBEAT`], so the controller notices a dead connection quickly.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::protocol::{self, Holder, PROTOCOL_VERSION, Reply, Request, WireError};
use super::replies::Replies;
use super::target_lock::{self, Acquired, TargetLock};
use crate::address::Resolver;
use crate::component::{EnvironmentInfo, Registry};
use crate::configure::{ConfigureOptions, Root, configure};
use crate::deploy::{RootContext, deploy_root};
use crate::event::{Event, EventSink};
use crate::host::Host;
use crate::vfs::PathMapper;

/// How often the agent says it is alive, and the controller too.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// After this long without a line from the controller (which says it is
/// alive every [`HEARTBEAT`]), the agent takes it for gone, as at the end
/// of its input: the roots already running finish, nothing new starts,
/// and the agent ends, releasing the target's lock. Without it, an agent
/// whose controller's network vanished (no reset, no end of input) held
/// the lock until TCP gave the connection up, minutes later. The
/// controller gives up on a silent agent after as long.
pub const CONTROLLER_SILENCE: Duration = Duration::from_secs(15);

/// Forwards one deploy's events, tagged with its request id.
struct Forward {
    id: u64,
    replies: Replies,
    /// Leave out what a transcript does not show (see `Request::Deploy`).
    quiet: bool,
}

impl EventSink for Forward {
    fn emit(&self, event: Event) {
        if self.quiet
            && let Event::ComponentFinished {
                changed: false,
                timing,
                ..
            } = &event
            && !timing.is_slow()
        {
            return;
        }
        self.replies.send(&Reply::Event { id: self.id, event });
    }
}

/// The configured model, split so roots can deploy on their own threads.
struct Configured {
    /// The host this agent deploys.
    host: String,
    roots: Vec<Arc<Mutex<Root>>>,
    env_info: EnvironmentInfo,
    mapper: PathMapper,
    resolver: Arc<Resolver>,
}

/// Serves one controller until `shutdown`, the end of input or
/// [`CONTROLLER_SILENCE`]; returns the process exit code.
pub fn serve(
    registry: &Registry,
    input: Box<dyn BufRead + Send>,
    output: Box<dyn Write + Send>,
) -> i32 {
    serve_with_silence(registry, input, output, CONTROLLER_SILENCE)
}

/// [`serve`], taking the controller for gone after `silence`.
pub fn serve_with_silence(
    registry: &Registry,
    input: Box<dyn BufRead + Send>,
    output: Box<dyn Write + Send>,
    silence: Duration,
) -> i32 {
    let requests = read_requests(input);
    let (replies, writer) = Replies::start(output);
    let stop = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let heartbeat = {
        let replies = replies.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (stopped, wake) = &*stop;
            let mut stopped = stopped.lock().unwrap_or_else(|p| p.into_inner());
            // Woken at once by the end of the session, so shutting down
            // never waits for the next beat.
            while !*stopped && !replies.gone.load(Ordering::SeqCst) {
                let (guard, timeout) = wake
                    .wait_timeout(stopped, HEARTBEAT)
                    .unwrap_or_else(|p| p.into_inner());
                stopped = guard;
                if timeout.timed_out() && !*stopped {
                    replies.send(&Reply::Heartbeat);
                }
            }
        })
    };
    let mut state = State {
        registry,
        replies: replies.clone(),
        holder: None,
        break_lock: false,
        lock: None,
        model: None,
        workers: Vec::new(),
        warnings: Vec::new(),
    };
    let mut silent = false;
    let code = loop {
        let request = match requests.recv_timeout(silence) {
            Ok(Ok(Some(r))) => r,
            // The controller is gone: nobody would hear about what we do.
            Ok(Ok(None)) | Err(RecvTimeoutError::Disconnected) => break 0,
            Err(RecvTimeoutError::Timeout) => {
                eprintln!(
                    "batou agent: no word from the controller for {}s; ending once the running roots are done",
                    silence.as_secs()
                );
                silent = true;
                break 0;
            }
            Ok(Err(e)) => {
                replies.send(&Reply::Fatal {
                    message: e.to_string(),
                });
                break 2;
            }
        };
        match state.handle(request) {
            Flow::Continue => {}
            Flow::Exit(code) => break code,
        }
    };
    for worker in state.workers.drain(..) {
        let _ = worker.join();
    }
    {
        let (stopped, wake) = &*stop;
        *stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
    }
    let _ = heartbeat.join();
    // The process ends next: freeing a model of thousands of components
    // one by one would only delay the exit.
    if let Some(model) = state.model.take() {
        std::mem::forget(model);
    }
    // The last senders go; the writer flushes what is queued and ends —
    // unless the controller fell silent: then the connection may be dead
    // with the writer stuck in a write that never returns.
    drop(state);
    drop(replies);
    if !silent {
        let _ = writer.join();
    }
    code
}

/// What the controller sends, read on a thread of its own, so that the
/// agent can tell silence from a slow line.
type Requests = std::sync::mpsc::Receiver<std::io::Result<Option<Request>>>;

fn read_requests(mut input: Box<dyn BufRead + Send>) -> Requests {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        loop {
            let read = protocol::read_line::<Request>(&mut *input);
            let more = matches!(read, Ok(Some(_)));
            if tx.send(read).is_err() || !more {
                return;
            }
        }
    });
    rx
}

enum Flow {
    Continue,
    Exit(i32),
}

struct State<'r> {
    registry: &'r Registry,
    replies: Replies,
    holder: Option<Holder>,
    break_lock: bool,
    lock: Option<TargetLock>,
    model: Option<Configured>,
    workers: Vec<std::thread::JoinHandle<()>>,
    warnings: Vec<String>,
}

impl State<'_> {
    fn fatal(&self, message: String) -> Flow {
        self.replies.send(&Reply::Fatal { message });
        Flow::Exit(2)
    }

    fn handle(&mut self, request: Request) -> Flow {
        match request {
            Request::Hello {
                protocol,
                binary_hash,
                controller,
                break_lock,
            } => {
                if protocol != PROTOCOL_VERSION {
                    return self.fatal(format!(
                        "protocol mismatch: the controller speaks version {protocol}, this agent {PROTOCOL_VERSION}"
                    ));
                }
                // The bootstrap verified the binary's hash before starting
                // it and passes it on; hashing a large binary again would
                // cost every deploy time.
                let own = std::env::var("BATOU_AGENT_HASH")
                    .ok()
                    .filter(|h| h.len() == 64)
                    .unwrap_or_else(|| own_hash().unwrap_or_default());
                if !binary_hash.is_empty() && own != binary_hash {
                    return self.fatal(format!(
                        "binary mismatch: the controller started {binary_hash}, this agent is {own}"
                    ));
                }
                self.holder = Some(Holder {
                    agent_pid: std::process::id(),
                    ..controller
                });
                self.break_lock = break_lock;
                self.replies.send(&Reply::Hello {
                    protocol: PROTOCOL_VERSION,
                    binary_hash: own,
                    hostname: hostname(),
                    user: current_user(),
                    pid: std::process::id(),
                });
                Flow::Continue
            }
            Request::Configure {
                environment,
                host,
                platform,
                secrets,
            } => {
                let mut env = *environment;
                env.secrets = crate::secrets::SecretData::from_wire(secrets);
                self.configure(env, &host, platform)
            }
            Request::Deploy {
                id,
                root,
                name,
                predict,
                inputs,
                quiet,
            } => self.deploy(id, root, &name, predict, inputs, quiet),
            Request::Finish { id, predict } => self.finish(id, predict),
            Request::Shutdown => Flow::Exit(0),
            Request::Alive => Flow::Continue,
        }
    }

    fn configure(
        &mut self,
        mut env: crate::environment::Environment,
        host: &str,
        platform: Option<String>,
    ) -> Flow {
        let Some(holder) = self.holder.clone() else {
            return self.fatal("configure before hello".into());
        };
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let expand = |p: &str| match (p.strip_prefix("~/"), &home) {
            (Some(rest), Some(h)) => h.join(rest),
            _ if p == "~" => home.clone().unwrap_or_else(|| PathBuf::from("/")),
            _ => PathBuf::from(p),
        };
        let lock_path = expand(
            env.settings
                .deploy_lock
                .as_deref()
                .unwrap_or("~/.batou/deploy.lock"),
        );
        match target_lock::acquire(&lock_path, &holder, self.break_lock) {
            Ok(Acquired::Locked(lock)) => {
                if let Some(h) = &lock.stale {
                    self.warnings.push(format!(
                        "the previous deploy ({h}) did not end cleanly; its stale lock was taken over"
                    ));
                }
                self.lock = Some(lock)
            }
            Ok(Acquired::Held(current)) => {
                self.replies.send(&Reply::LockHeld {
                    holder: current.unwrap_or(Holder {
                        controller: "unknown".into(),
                        user: "unknown".into(),
                        pid: 0,
                        started: 0,
                        agent_pid: 0,
                    }),
                });
                return Flow::Exit(3);
            }
            Err(e) => {
                return self.fatal(format!(
                    "cannot take the deploy lock {}: {e}",
                    lock_path.display()
                ));
            }
        }
        env.project_dir = expand(
            env.settings
                .target_directory
                .as_deref()
                .unwrap_or("~/deployment"),
        );
        if let Err(e) = std::fs::create_dir_all(&env.project_dir) {
            return self.fatal(format!("cannot create {}: {e}", env.project_dir.display()));
        }
        // Root's agent writes below it: nobody else may plant links there.
        if let Err(e) = crate::host::check_dir(&env.project_dir, "the deployment") {
            return self.fatal(e.to_string());
        }
        if !env.hosts.contains_key(host) {
            return self.fatal(format!("host `{host}` is not in the environment"));
        }
        let options = ConfigureOptions {
            platform,
            reverse_iteration: false,
            home,
            lenient_dns: false,
        };
        match configure(env, self.registry, &options) {
            Ok(model) => {
                let roots_list = model
                    .roots
                    .iter()
                    .map(|r| (r.host.clone(), r.name.clone()))
                    .collect();
                let resolver = model.resolver();
                self.model = Some(Configured {
                    host: host.to_string(),
                    env_info: model.env_info,
                    mapper: model.mapper,
                    resolver,
                    roots: model
                        .roots
                        .into_iter()
                        .map(|r| Arc::new(Mutex::new(r)))
                        .collect(),
                });
                self.replies.send(&Reply::Configured {
                    errors: Vec::new(),
                    roots: roots_list,
                    warnings: std::mem::take(&mut self.warnings),
                });
            }
            Err(errors) => {
                self.replies.send(&Reply::Configured {
                    errors: errors.iter().map(WireError::from).collect(),
                    roots: Vec::new(),
                    warnings: std::mem::take(&mut self.warnings),
                });
            }
        }
        Flow::Continue
    }

    fn deploy(
        &mut self,
        id: u64,
        index: usize,
        name: &str,
        predict: bool,
        inputs: crate::handlers::RootInputs,
        quiet: bool,
    ) -> Flow {
        let Some(model) = &self.model else {
            return self.fatal("deploy before a successful configure".into());
        };
        let Some(root) = model.roots.get(index).cloned() else {
            return self.fatal(format!("no root #{index}"));
        };
        let env_info = model.env_info.clone();
        let mapper = model.mapper.clone();
        let resolver = model.resolver.clone();
        let replies = self.replies.clone();
        let name = name.to_string();
        self.workers.push(std::thread::spawn(move || {
            let started = Instant::now();
            let mut root = root.lock().unwrap_or_else(|p| p.into_inner());
            if root.name != name {
                replies.send(&Reply::Failed {
                    id,
                    error: WireError {
                        message: format!("root #{index} is `{}` here, not `{name}`", root.name),
                        origin: None,
                        host: Some(root.host.clone()),
                        component: Some(name),
                        hint: Some("controller and agent configured different models".into()),
                    },
                });
                return;
            }
            let host = Host::local_batched().beneath(&env_info.base_dir);
            let sink = Forward {
                id,
                replies: replies.clone(),
                quiet,
            };
            let ctx = RootContext {
                host: &host,
                env: &env_info,
                mapper: &mapper,
                sink: &sink,
                predict,
                inputs: &inputs,
            };
            let result = crate::address::with_resolver(resolver, || deploy_root(&mut root, &ctx));
            match result {
                Ok(outcome) => replies.send(&Reply::Deployed {
                    id,
                    changed: outcome.changed,
                    seconds: started.elapsed().as_secs_f64(),
                    published: outcome.published,
                }),
                Err(e) => replies.send(&Reply::Failed {
                    id,
                    error: e.into(),
                }),
            }
        }));
        Flow::Continue
    }
}

impl State<'_> {
    /// After the last root: remove the externals of this host that left
    /// the environment. This agent configured the whole model, so it knows
    /// the host's current set.
    fn finish(&mut self, id: u64, predict: bool) -> Flow {
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        let Some(model) = &self.model else {
            return self.fatal("finish before a successful configure".into());
        };
        let started = Instant::now();
        let current = {
            let guards: Vec<_> = model
                .roots
                .iter()
                .map(|r| r.lock().unwrap_or_else(|p| p.into_inner()))
                .collect();
            crate::stdlib::external::current_externals(
                guards.iter().map(|g| &**g).filter(|r| r.host == model.host),
            )
        };
        let sink = Forward {
            id,
            replies: self.replies.clone(),
            quiet: false,
        };
        let result = crate::stdlib::external::remove_stale(
            &Host::local().beneath(&model.env_info.base_dir),
            &model.env_info,
            &model.host,
            &current,
            predict,
            &sink,
        );
        self.replies.send(&match result {
            Ok(changed) => Reply::Deployed {
                id,
                changed,
                seconds: started.elapsed().as_secs_f64(),
                published: Vec::new(),
            },
            Err(e) => Reply::Failed {
                id,
                error: e.into(),
            },
        });
        Flow::Continue
    }
}

/// The sha256 of the running executable, hashed once per process (the
/// file a running process was started from is its own for its lifetime;
/// a replaced file on disk is not what runs).
pub fn own_hash() -> std::io::Result<String> {
    static OWN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(hash) = OWN.get() {
        return Ok(hash.clone());
    }
    let exe = std::env::current_exe()?;
    let hash = hash_file(&exe)?;
    Ok(OWN.get_or_init(|| hash).clone())
}

/// The sha256 of a file, as lowercase hex.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    /// Serves on one end of a socket pair with `silence`; the test holds
    /// the other end (the controller) and gets the exit code and how long
    /// serving took.
    fn serve_on_pair(silence: Duration) -> (UnixStream, std::thread::JoinHandle<(i32, Duration)>) {
        let (controller, agent) = UnixStream::pair().unwrap();
        let serving = std::thread::spawn(move || {
            let start = Instant::now();
            let input = Box::new(std::io::BufReader::new(agent));
            let code =
                serve_with_silence(&Registry::new(), input, Box::new(std::io::sink()), silence);
            (code, start.elapsed())
        });
        (controller, serving)
    }

    #[test]
    fn a_controller_that_falls_silent_is_taken_for_gone() {
        // The connection stays open: no end of input, only silence.
        let (_controller, serving) = serve_on_pair(Duration::from_millis(300));
        let (code, took) = serving.join().unwrap();
        assert_eq!(code, 0);
        assert!(took >= Duration::from_millis(300), "ended after {took:?}");
    }

    #[test]
    fn a_controller_that_says_it_is_alive_is_served_on() {
        // A silence well above the beats' spacing, so that a loaded
        // machine's late beat is still in time.
        let (mut controller, serving) = serve_on_pair(Duration::from_millis(1500));
        let alive = format!("{}\n", serde_json::to_string(&Request::Alive).unwrap());
        // Beats for longer than the silence.
        for _ in 0..25 {
            std::thread::sleep(Duration::from_millis(100));
            controller.write_all(alive.as_bytes()).unwrap();
        }
        assert!(!serving.is_finished(), "ended while the controller spoke");
        let (code, took) = serving.join().unwrap();
        assert_eq!(code, 0);
        assert!(
            took >= Duration::from_millis(2500 + 1500),
            "ended after {took:?}"
        );
    }
}
