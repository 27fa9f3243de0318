//! The agent: the deployment binary running on a target (`batou agent`),
//! serving one controller over stdin/stdout.
//!
//! It configures the whole model itself — with the target's DNS, as batou
//! does — and deploys the roots the controller asks for, several at once
//! when asked, streaming events back. Heartbeats flow every
//! [`HEARTBEAT`], so the controller notices a dead connection quickly.

use std::io::{BufRead, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::protocol::{self, Holder, PROTOCOL_VERSION, Reply, Request, WireError};
use super::replies::Replies;
use super::target_lock::{self, Acquired, TargetLock};
use super::watched::{panic_message, spawn_watched};
use crate::address::Resolver;
use crate::component::{EnvironmentInfo, Registry};
use crate::configure::{ConfigureOptions, Root, configure};
use crate::deploy::{RootContext, deploy_root};
use crate::event::{Event, EventSink};
use crate::host::Host;
use crate::secrets::Masker;
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
    let (inbound, inbox) = std::sync::mpsc::channel();
    read_requests(input, inbound.clone());
    let (replies, writer) = {
        let inbound = inbound.clone();
        Replies::start(output, move |message| {
            let _ = inbound.send(Inbound::Broken(message));
        })
    };
    let stop = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let heartbeat = {
        let replies = replies.clone();
        let stop = stop.clone();
        let inbound = inbound.clone();
        spawn_watched(
            "heartbeat",
            move || {
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
            },
            move |message| {
                let _ = inbound.send(Inbound::Broken(format!(
                    "the agent's heartbeat failed: {message}"
                )));
            },
        )
    };
    // Only the threads hold senders now: when they are all gone, so is
    // the input.
    drop(inbound);
    let mut state = State {
        registry,
        replies: replies.clone(),
        holder: None,
        break_lock: false,
        lock: None,
        model: None,
        workers: Vec::new(),
        warnings: Vec::new(),
        masker: Masker::default(),
    };
    let mut silent = false;
    let code = loop {
        let request = match inbox.recv_timeout(silence) {
            Ok(Inbound::Request(r)) => r,
            // The controller is gone: nobody would hear about what we do.
            Ok(Inbound::End) | Err(RecvTimeoutError::Disconnected) => break 0,
            Err(RecvTimeoutError::Timeout) => {
                eprintln!(
                    "batou agent: no word from the controller for {}s; ending once the running roots are done",
                    silence.as_secs()
                );
                silent = true;
                break 0;
            }
            Ok(Inbound::Broken(message)) => {
                replies.send(&Reply::Fatal { message });
                break 2;
            }
        };
        // A panic while handling a request (a component's `configure`, the
        // removal of stale externals) ends the agent with a reply, never
        // silently.
        match catch_unwind(AssertUnwindSafe(|| state.handle(request))) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Exit(code)) => break code,
            Err(payload) => {
                let message = format!(
                    "the agent panicked: {}",
                    state.masker.redact(&panic_message(&*payload))
                );
                eprintln!("batou agent: {message}");
                replies.send(&Reply::Fatal { message });
                break 70;
            }
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

/// What the agent's main loop hears.
enum Inbound {
    Request(Request),
    /// The controller's input ended.
    End,
    /// The agent cannot go on: a request it cannot read, or one of its
    /// threads died. Reported to the controller as `fatal`.
    Broken(String),
}

/// Reads what the controller sends on a thread of its own, so that the
/// agent can tell silence from a slow line.
fn read_requests(mut input: Box<dyn BufRead + Send>, inbound: Sender<Inbound>) {
    let on_panic = {
        let inbound = inbound.clone();
        move |message: String| {
            let _ = inbound.send(Inbound::Broken(format!(
                "the agent's request reader failed: {message}"
            )));
        }
    };
    spawn_watched(
        "requests",
        move || {
            loop {
                let (next, more) = match protocol::read_line::<Request>(&mut *input) {
                    Ok(Some(r)) => (Inbound::Request(r), true),
                    Ok(None) => (Inbound::End, false),
                    Err(e) => (Inbound::Broken(e.to_string()), false),
                };
                if inbound.send(next).is_err() || !more {
                    return;
                }
            }
        },
        on_panic,
    );
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
    /// The environment's secrets, to mask what a panic says.
    masker: Masker,
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
                self.masker = env.secrets.masker().clone();
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
        let job = RootJob {
            id,
            index,
            name: name.to_string(),
            predict,
            inputs,
            quiet,
            env_info: model.env_info.clone(),
            mapper: model.mapper.clone(),
            resolver: model.resolver.clone(),
            replies: self.replies.clone(),
        };
        // What a panic is blamed on: the root component (where in its tree
        // it panicked, the unwinding does not tell).
        let blamed = {
            let root = root.lock().unwrap_or_else(|p| p.into_inner());
            root.tree
                .as_ref()
                .map_or_else(|| root.name.clone(), |t| t.breadcrumbs.clone())
        };
        let host = model.host.clone();
        let replies = self.replies.clone();
        let masker = self.masker.clone();
        self.workers.push(std::thread::spawn(move || {
            // Every root ends in a reply, whatever happens on its thread: a
            // panicking component is reported like a failing one.
            let reply =
                catch_unwind(AssertUnwindSafe(|| job.run(&root))).unwrap_or_else(|payload| {
                    Reply::Failed {
                        id,
                        error: WireError {
                            message: format!(
                                "panicked: {}",
                                masker.redact(&panic_message(&*payload))
                            ),
                            origin: None,
                            host: Some(host),
                            component: Some(blamed),
                            hint: Some("a panic is a bug in the component's code".into()),
                            panicked: true,
                        },
                    }
                });
            replies.send(&reply);
        }));
        Flow::Continue
    }
}

/// One `deploy` request, run on a worker thread.
struct RootJob {
    id: u64,
    index: usize,
    name: String,
    predict: bool,
    inputs: crate::handlers::RootInputs,
    quiet: bool,
    env_info: EnvironmentInfo,
    mapper: PathMapper,
    resolver: Arc<Resolver>,
    replies: Replies,
}

impl RootJob {
    /// Deploys the root; the reply that ends it.
    fn run(self, root: &Mutex<Root>) -> Reply {
        let RootJob {
            id,
            index,
            name,
            predict,
            inputs,
            quiet,
            env_info,
            mapper,
            resolver,
            replies,
        } = self;
        let started = Instant::now();
        let mut root = root.lock().unwrap_or_else(|p| p.into_inner());
        if root.name != name {
            return Reply::Failed {
                id,
                error: WireError {
                    message: format!("root #{index} is `{}` here, not `{name}`", root.name),
                    origin: None,
                    host: Some(root.host.clone()),
                    component: Some(name),
                    hint: Some("controller and agent configured different models".into()),
                    panicked: false,
                },
            };
        }
        let host = Host::local_batched();
        let sink = Forward { id, replies, quiet };
        let ctx = RootContext {
            host: &host,
            env: &env_info,
            mapper: &mapper,
            sink: &sink,
            predict,
            inputs: &inputs,
        };
        match crate::address::with_resolver(resolver, || deploy_root(&mut root, &ctx)) {
            Ok(outcome) => Reply::Deployed {
                id,
                changed: outcome.changed,
                seconds: started.elapsed().as_secs_f64(),
                published: outcome.published,
            },
            Err(e) => Reply::Failed {
                id,
                error: e.into(),
            },
        }
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
            &Host::local(),
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

    /// Input or output whose every read or write panics.
    struct Exploding;

    impl std::io::Read for Exploding {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            panic!("the input broke")
        }
    }

    impl Write for Exploding {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            panic!("the output broke")
        }

        fn flush(&mut self) -> std::io::Result<()> {
            panic!("the output broke")
        }
    }

    /// Collects what the agent writes.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl Write for Written {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_request_reader_that_dies_ends_the_agent_with_a_fatal_reply() {
        let out = Written::default();
        let input = Box::new(std::io::BufReader::new(Exploding));
        let start = Instant::now();
        let code = serve_with_silence(
            &Registry::new(),
            input,
            Box::new(out.clone()),
            Duration::from_secs(60),
        );
        assert_eq!(code, 2);
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:?}",
            start.elapsed()
        );
        let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let fatal: Reply = serde_json::from_str(written.lines().last().unwrap()).unwrap();
        assert!(
            matches!(&fatal, Reply::Fatal { message } if message.contains("request reader failed: the input broke")),
            "{written}"
        );
    }

    #[test]
    fn a_reply_writer_that_dies_ends_the_agent() {
        // The controller stays connected and says it is alive: only the
        // writer's death can end the agent before the silence does.
        let (mut controller, agent) = UnixStream::pair().unwrap();
        let silence = Duration::from_secs(60);
        let serving = std::thread::spawn(move || {
            let input = Box::new(std::io::BufReader::new(agent));
            serve_with_silence(&Registry::new(), input, Box::new(Exploding), silence)
        });
        let hello = Request::Hello {
            protocol: PROTOCOL_VERSION,
            binary_hash: String::new(),
            controller: Holder {
                controller: "c".into(),
                user: "u".into(),
                pid: 1,
                started: 0,
                agent_pid: 0,
            },
            break_lock: false,
        };
        controller
            .write_all(format!("{}\n", serde_json::to_string(&hello).unwrap()).as_bytes())
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !serving.is_finished() {
            assert!(
                Instant::now() < deadline,
                "the agent goes on without its writer"
            );
            let _ = controller.write_all(b"{\"type\":\"alive\"}\n");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(serving.join().unwrap(), 2);
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
