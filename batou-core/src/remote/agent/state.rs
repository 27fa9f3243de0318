//! What the agent knows between requests, and what it does for each.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::root::{Forward, RootJob};
use crate::address::Resolver;
use crate::component::{EnvironmentInfo, Registry};
use crate::configure::{ConfigureOptions, Root, configure};
use crate::host::Host;
use crate::remote::bootstrap::hash_file;
use crate::remote::protocol::{Holder, PROTOCOL_VERSION, Reply, Request, WireError};
use crate::remote::replies::Replies;
use crate::remote::target_lock::{self, Acquired, TargetLock};
use crate::remote::whoami::{self, current_user, hostname};
use crate::secrets::Masker;
use crate::vfs::{PathMapper, expand_home};

/// The configured model, split so roots can deploy on their own threads.
struct Configured {
    /// The host this agent deploys.
    host: String,
    roots: Vec<Arc<Mutex<Root>>>,
    env_info: EnvironmentInfo,
    mapper: PathMapper,
    resolver: Arc<Resolver>,
    /// Every host as the model has it, for registered commands.
    hosts: Vec<crate::component::HostInfo>,
    /// The undo store (`None`: revert is off).
    undo: Option<std::path::PathBuf>,
    /// The undo store whatever `revert` says (`None`: not a real
    /// deploy), for `rollback`.
    store: Option<std::path::PathBuf>,
    /// `rollback_limit` in bytes.
    rollback_limit: u64,
}

/// Whether the agent goes on after a request.
pub(super) enum Flow {
    Continue,
    Exit(i32),
}

/// The agent's state between requests.
pub(super) struct State<'r> {
    registry: &'r Registry,
    replies: Replies,
    holder: Option<Holder>,
    break_lock: bool,
    lock: Option<TargetLock>,
    model: Option<Configured>,
    /// The roots deploying on threads, by request id.
    workers: Vec<(u64, std::thread::JoinHandle<()>)>,
    warnings: Vec<String>,
    /// The environment's secrets, to mask what a panic says.
    masker: Masker,
    /// This agent's sha256, for the deploy history.
    agent_hash: String,
    /// The assets the controller ships, while some are still on their
    /// way; requests arriving meanwhile wait in `held`.
    receiving: Option<crate::assets::cache::Receiving>,
    held: std::collections::VecDeque<Request>,
    /// The complete, verified asset set.
    shipped: Arc<crate::assets::cache::Shipped>,
}

impl<'r> State<'r> {
    pub(super) fn new(registry: &'r Registry, replies: Replies) -> State<'r> {
        State {
            registry,
            replies,
            holder: None,
            break_lock: false,
            lock: None,
            model: None,
            workers: Vec::new(),
            warnings: Vec::new(),
            masker: Masker::default(),
            agent_hash: String::new(),
            receiving: None,
            held: Default::default(),
            shipped: Default::default(),
        }
    }

    /// The environment's secrets (none before `configure`).
    pub(super) fn masker(&self) -> &Masker {
        &self.masker
    }

    /// Waits for the roots still running.
    pub(super) fn join_workers(&mut self) {
        for (_, worker) in self.workers.drain(..) {
            let _ = worker.join();
        }
    }

    /// Lets go of the model without freeing it: the process ends next, and
    /// freeing a model of thousands of components one by one would only
    /// delay the exit.
    pub(super) fn forget_model(&mut self) {
        if let Some(model) = self.model.take() {
            std::mem::forget(model);
        }
    }

    fn fatal(&self, message: String) -> Flow {
        self.replies.send(&Reply::Fatal { message });
        Flow::Exit(2)
    }

    pub(super) fn handle(&mut self, request: Request) -> Flow {
        // Until the assets are complete, everything but them (and the
        // controller's keep-alives) waits, in order.
        if self.receiving.is_some()
            && !matches!(
                request,
                Request::Assets { .. } | Request::Alive | Request::Shutdown | Request::Interrupt
            )
        {
            self.held.push_back(request);
            return Flow::Continue;
        }
        match request {
            Request::Hello {
                protocol,
                binary_hash,
                controller,
                break_lock,
                assets,
                assets_hash,
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
                self.agent_hash.clone_from(&own);
                // No manifest at all (a controller with no assets may
                // leave both out) is the empty set.
                let unannounced = assets_hash.is_empty() && assets.entries.is_empty();
                if !unannounced && assets.hash() != assets_hash {
                    return self.fatal(format!(
                        "asset manifest mismatch: the controller announced {assets_hash}, its manifest hashes to {}",
                        assets.hash()
                    ));
                }
                let receiving = crate::assets::cache::Receiving::open(
                    assets,
                    crate::assets::cache::beside_agent(),
                );
                let missing = receiving.missing();
                if missing.is_empty() {
                    match receiving.finish() {
                        Ok(shipped) => self.shipped = Arc::new(shipped),
                        Err(e) => return self.fatal(e),
                    }
                } else {
                    self.receiving = Some(receiving);
                }
                self.replies.send(&Reply::Hello {
                    protocol: PROTOCOL_VERSION,
                    binary_hash: own,
                    hostname: hostname(),
                    user: current_user(),
                    pid: std::process::id(),
                    missing_assets: missing,
                });
                Flow::Continue
            }
            Request::Assets { blobs } => self.assets(blobs),
            Request::Configure {
                environment,
                host,
                platform,
                secrets,
                lock,
                deploy,
            } => {
                let mut env = *environment;
                env.secrets = crate::secrets::SecretData::from_wire(secrets);
                env.assets = crate::assets::AssetSource::shipped(self.shipped.clone());
                self.masker = env.secrets.masker().clone();
                self.configure(env, &host, platform, lock, deploy)
            }
            Request::Run { id, command, args } => self.run(id, &command, &args),
            Request::Deploy {
                id,
                root,
                name,
                predict,
                inputs,
                quiet,
                full_diff,
            } => self.deploy(id, root, &name, (predict, full_diff), inputs, quiet),
            Request::Finish { id, predict } => self.finish(id, predict),
            Request::Rollback { id, predict, force } => self.rollback(id, predict, force),
            Request::Shutdown => Flow::Exit(0),
            Request::Alive => Flow::Continue,
            Request::Interrupt => {
                // The roots running on threads see it at their next
                // component (`deploy::Run::node`).
                crate::interrupt::request();
                self.interrupt_heard();
                Flow::Continue
            }
        }
    }

    /// Tells the operator that the target heard the interrupt: until this
    /// line arrives a root may still pass its next component unstopped
    /// (the request was on its way).
    fn interrupt_heard(&self) {
        let Some(model) = &self.model else { return };
        if model.undo.is_none() {
            return;
        }
        for (id, _) in self.workers.iter().filter(|(_, w)| !w.is_finished()) {
            self.replies.send(&Reply::Event {
                id: *id,
                event: crate::event::Event::Warning {
                    host: Some(model.host.clone()),
                    component: None,
                    message: "interrupt received: the running root stops at its next component and is reverted".into(),
                },
            });
        }
    }

    /// The blobs `hello` asked for: verified, cached, and then the
    /// requests held back meanwhile, in order.
    fn assets(&mut self, blobs: Vec<crate::assets::Blob>) -> Flow {
        let Some(mut receiving) = self.receiving.take() else {
            return self.fatal("assets that were not asked for".into());
        };
        let shipped = receiving.receive(blobs).and_then(|()| receiving.finish());
        match shipped {
            Ok(shipped) => self.shipped = Arc::new(shipped),
            Err(e) => return self.fatal(e),
        }
        while let Some(request) = self.held.pop_front() {
            if let Flow::Exit(code) = self.handle(request) {
                return Flow::Exit(code);
            }
        }
        Flow::Continue
    }

    fn configure(
        &mut self,
        mut env: crate::environment::Environment,
        host: &str,
        platform: Option<String>,
        lock: bool,
        deploy: Option<Box<crate::history::DeployMeta>>,
    ) -> Flow {
        let Some(holder) = self.holder.clone() else {
            return self.fatal("configure before hello".into());
        };
        let home = whoami::home();
        let expand = |p: &str| expand_home(std::path::Path::new(p), home.as_deref());
        let lock_path = expand(
            env.settings
                .deploy_lock
                .as_deref()
                .unwrap_or("~/.batou/deploy.lock"),
        );
        if lock && let Some(flow) = self.take_lock(&lock_path, &holder) {
            return flow;
        }
        env.project_dir = expand(
            env.settings
                .target_directory
                .as_deref()
                .unwrap_or("~/deployment"),
        );
        // Without the lock (`batou run`) the agent only looks: it creates
        // no target directory on a host never deployed to.
        if lock && let Err(e) = std::fs::create_dir_all(&env.project_dir) {
            return self.fatal(format!("cannot create {}: {e}", env.project_dir.display()));
        }
        // Root's agent writes below it: nobody else may plant links there.
        if (lock || env.project_dir.exists())
            && let Err(e) = crate::host::check_dir(&env.project_dir, "the deployment")
        {
            return self.fatal(e.to_string());
        }
        // A deploy killed mid-root left its undo record: put the root
        // back before anything else touches the host. Only a deploy does
        // (a prediction or `batou run` writes nothing).
        // `rollback -P` records nothing but reads the kept record.
        let store = lock.then(|| crate::host::undo::store_for_lock(&lock_path));
        let rollback_limit = env.settings.rollback_limit_bytes();
        let undo = if lock && deploy.is_some() {
            let store = crate::host::undo::store_for_lock(&lock_path);
            let plain = Host::local().beneath(&env.project_dir);
            match crate::host::undo::recover(&store, &plain, true) {
                Ok(recovered) => self
                    .warnings
                    .extend(recovered.iter().map(crate::host::undo::describe_recovered)),
                Err(e) => {
                    return self.fatal(format!(
                        "cannot restore the undo records in {}: {e}",
                        store.display()
                    ));
                }
            }
            env.settings.revert.then_some(store)
        } else {
            None
        };
        if !env.hosts.contains_key(host) {
            return self.fatal(format!("host `{host}` is not in the environment"));
        }
        // The history lives beside the lock, written only while it is held.
        if lock && let Some(meta) = deploy {
            self.replies.recorder.arm(
                crate::history::journal_beside(&lock_path),
                meta.record(host, Some(self.agent_hash.clone())),
            );
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
                let hosts = crate::command::host_infos(&model.env, options.platform.as_deref());
                self.model = Some(Configured {
                    hosts,
                    host: host.to_string(),
                    env_info: model.env_info,
                    mapper: model.mapper,
                    resolver,
                    undo,
                    store,
                    rollback_limit,
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
                    assets_hash: self.shipped.hash().to_string(),
                });
            }
            Err(errors) => {
                self.replies.send(&Reply::Configured {
                    // The summary of roots left unconfigured is the
                    // local deploy's; each agent has its own view of it,
                    // and over the wire it would count as one more error.
                    errors: errors
                        .iter()
                        .filter(|e| !e.is_summary())
                        .map(WireError::from)
                        .collect(),
                    roots: Vec::new(),
                    warnings: std::mem::take(&mut self.warnings),
                    assets_hash: self.shipped.hash().to_string(),
                });
            }
        }
        Flow::Continue
    }

    /// Takes the target's deploy lock; `Some`: the agent cannot go on.
    fn take_lock(&mut self, lock_path: &std::path::Path, holder: &Holder) -> Option<Flow> {
        match target_lock::acquire(lock_path, holder, self.break_lock) {
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
                return Some(Flow::Exit(3));
            }
            Err(e) => {
                return Some(self.fatal(format!(
                    "cannot take the deploy lock {}: {e}",
                    lock_path.display()
                )));
            }
        }
        None
    }

    fn deploy(
        &mut self,
        id: u64,
        index: usize,
        name: &str,
        (predict, full_diff): (bool, bool),
        inputs: crate::handlers::RootInputs,
        quiet: bool,
    ) -> Flow {
        let Some(model) = &self.model else {
            return self.fatal("deploy before a successful configure".into());
        };
        let Some(root) = model.roots.get(index).cloned() else {
            return self.fatal(format!("no root #{index}"));
        };
        // What a panic is blamed on: the root component (where in its tree
        // it panicked, the unwinding does not tell).
        let blamed = {
            let root = root.lock().unwrap_or_else(|p| p.into_inner());
            root.tree
                .as_ref()
                .map_or_else(|| root.name.clone(), |t| t.breadcrumbs.clone())
        };
        if !predict {
            let recorded = self.replies.recorder.deploying(Some(name));
            self.history_warning(id, &model.host, recorded);
        }
        let job = RootJob {
            id,
            index,
            name: name.to_string(),
            predict,
            full_diff,
            inputs,
            quiet,
            host: model.host.clone(),
            blamed,
            env_info: model.env_info.clone(),
            mapper: model.mapper.clone(),
            resolver: model.resolver.clone(),
            replies: self.replies.clone(),
            masker: self.masker.clone(),
            undo: model.undo.clone(),
        };
        self.workers.push((id, job.spawn(root)));
        Flow::Continue
    }
}

impl State<'_> {
    /// A registered command for this host, on the configured model;
    /// answered `ran` or `failed` (a panic too: a bug in the command).
    fn run(&mut self, id: u64, command: &str, args: &[String]) -> Flow {
        let Some(model) = &self.model else {
            return self.fatal("run before a successful configure".into());
        };
        let started = Instant::now();
        let fail = |message: String, panicked: bool| Reply::Failed {
            id,
            error: WireError {
                message,
                origin: None,
                host: Some(model.host.clone()),
                component: Some(command.to_string()),
                hint: panicked.then(|| "a panic is a bug in the command's code".to_string()),
                panicked,
            },
        };
        let Some(body) = self.registry.command_for(command) else {
            self.replies.send(&fail(
                format!(
                    "no command `{command}` in this agent (it has: {})",
                    self.registry.command_names().join(", ")
                ),
                false,
            ));
            return Flow::Continue;
        };
        let host = Host::local().beneath(&model.env_info.base_dir);
        let view = crate::command::CommandModel {
            host: &host,
            env: &model.env_info,
            hosts: &model.hosts,
            roots: &model.roots,
            mapper: &model.mapper,
            resolver: model.resolver.clone(),
        };
        let reply = match crate::command::invoke(&*body, &view, &model.host, args) {
            Ok(value) => Reply::Ran {
                id,
                value,
                seconds: started.elapsed().as_secs_f64(),
            },
            Err(crate::command::Invoked::Failed(message)) => fail(message, false),
            Err(crate::command::Invoked::Panicked(message)) => {
                fail(format!("panicked: {}", self.masker.redact(&message)), true)
            }
        };
        self.replies.send(&reply);
        Flow::Continue
    }

    /// After the last root: remove the externals of this host that left
    /// the environment. This agent configured the whole model, so it knows
    /// the host's current set.
    fn finish(&mut self, id: u64, predict: bool) -> Flow {
        self.join_workers();
        let Some(model) = &self.model else {
            return self.fatal("finish before a successful configure".into());
        };
        if !predict {
            let recorded = self.replies.recorder.deploying(None);
            self.history_warning(id, &model.host, recorded);
        }
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
        if !predict {
            self.keep_undo_record(&sink);
        }
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

impl State<'_> {
    /// The deploy is over (its `finish`, or the agent's end): the roots'
    /// records become the host's kept record, or the operator hears why
    /// none is kept.
    pub(super) fn keep_undo_record(&self, sink: &dyn crate::event::EventSink) {
        let Some(model) = &self.model else { return };
        let Some(store) = &model.undo else { return };
        let warning = match crate::host::undo::finish_deploy(store, model.rollback_limit) {
            Ok(kept) => kept.warning(),
            Err(e) => Some(format!(
                "the undo record of this deploy could not be kept in {} ({e}); batou rollback cannot undo it",
                store.display()
            )),
        };
        if let Some(message) = warning {
            sink.emit(crate::event::Event::Warning {
                host: Some(model.host.clone()),
                component: None,
                message,
            });
        }
    }

    /// `batou rollback`: the kept record of the host's last deploy put
    /// back (see [`crate::deploy::rollback`]), answered `ran` with the
    /// report. Recorded in the host's history unless predicting.
    fn rollback(&mut self, id: u64, predict: bool, force: bool) -> Flow {
        let Some(model) = &self.model else {
            return self.fatal("rollback before a successful configure".into());
        };
        let Some(store) = model.store.clone() else {
            return self.fatal("rollback without the deploy lock".into());
        };
        let started = Instant::now();
        let host = Host::local().beneath(&model.env_info.base_dir);
        let view = crate::deploy::rollback::RollbackModel {
            roots: &model.roots,
            env: &model.env_info,
            mapper: &model.mapper,
        };
        let options = crate::deploy::rollback::RollbackOptions { predict, force };
        let result = crate::address::with_resolver(model.resolver.clone(), || {
            crate::deploy::rollback::rollback_store(&store, &host, &view, options)
        });
        let reply = match result {
            Ok(report) => {
                use crate::deploy::rollback::RollbackOutcome as O;
                if matches!(report.outcome, O::RolledBack | O::Failed) {
                    for root in &report.roots {
                        let _ = self.replies.recorder.deploying(Some(&root.root));
                    }
                    self.replies.recorder.rolled_back();
                }
                Reply::Ran {
                    id,
                    value: serde_json::to_value(&report).unwrap_or_default(),
                    seconds: started.elapsed().as_secs_f64(),
                }
            }
            Err(e) => Reply::Failed {
                id,
                error: WireError {
                    message: format!("cannot read the undo record in {}: {e}", store.display()),
                    origin: None,
                    host: Some(model.host.clone()),
                    component: None,
                    hint: None,
                    panicked: false,
                },
            },
        };
        self.replies.send(&reply);
        Flow::Continue
    }

    /// A deploy history that cannot be written does not stop the deploy;
    /// the operator hears why.
    fn history_warning(
        &self,
        id: u64,
        host: &str,
        recorded: Result<(), crate::history::JournalError>,
    ) {
        if let Err(e) = recorded {
            self.replies.send(&Reply::Event {
                id,
                event: crate::event::Event::Warning {
                    host: Some(host.to_string()),
                    component: None,
                    message: e.to_string(),
                },
            });
        }
    }
}

/// The sha256 of the running executable, hashed once per process (the
/// file a running process was started from is its own for its lifetime;
/// a replaced file on disk is not what runs).
pub(super) fn own_hash() -> std::io::Result<String> {
    static OWN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(hash) = OWN.get() {
        return Ok(hash.clone());
    }
    let hash = hash_file(&std::env::current_exe()?)?;
    Ok(OWN.get_or_init(|| hash).clone())
}
