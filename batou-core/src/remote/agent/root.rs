//! One root on a worker thread: deployed, its events forwarded, and
//! always answered — a panicking component too.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::address::Resolver;
use crate::component::EnvironmentInfo;
use crate::configure::Root;
use crate::deploy::{RootContext, deploy_root};
use crate::event::{Event, EventSink};
use crate::host::Host;
use crate::remote::protocol::{Reply, WireError};
use crate::remote::replies::Replies;
use crate::remote::watched::panic_message;
use crate::secrets::Masker;
use crate::vfs::PathMapper;

/// Forwards one deploy's events, tagged with its request id.
pub(super) struct Forward {
    pub id: u64,
    pub replies: Replies,
    /// Leave out what a transcript does not show (see `Request::Deploy`).
    pub quiet: bool,
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

/// One `deploy` request, run on a worker thread.
pub(super) struct RootJob {
    pub id: u64,
    /// The root's index in the model.
    pub index: usize,
    /// The root's name, as the controller knows it.
    pub name: String,
    pub predict: bool,
    pub full_diff: bool,
    pub inputs: crate::handlers::RootInputs,
    pub quiet: bool,
    /// The host this agent deploys.
    pub host: String,
    /// Whom a panic is blamed on: the root component's breadcrumbs.
    pub blamed: String,
    pub env_info: EnvironmentInfo,
    pub mapper: PathMapper,
    pub resolver: Arc<Resolver>,
    pub replies: Replies,
    /// To mask secrets in what a panic says.
    pub masker: Masker,
    /// The undo store (`None`: revert is off).
    pub undo: Option<std::path::PathBuf>,
}

impl RootJob {
    /// Deploys `root` on a thread of its own. Every root ends in a reply,
    /// whatever happens on its thread: a panicking component is reported
    /// like a failing one, as a bug.
    pub fn spawn(self, root: Arc<Mutex<Root>>) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let replies = self.replies.clone();
            let (id, host, blamed, masker) = (
                self.id,
                self.host.clone(),
                self.blamed.clone(),
                self.masker.clone(),
            );
            let reply =
                catch_unwind(AssertUnwindSafe(|| self.run(&root))).unwrap_or_else(|payload| {
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
        })
    }

    /// Deploys the root; the reply that ends it.
    fn run(self, root: &Mutex<Root>) -> Reply {
        let RootJob {
            id,
            index,
            name,
            predict,
            full_diff,
            inputs,
            quiet,
            env_info,
            mapper,
            resolver,
            replies,
            undo,
            ..
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
        let host = Host::local_batched().beneath(&env_info.base_dir);
        let sink = Forward { id, replies, quiet };
        let ctx = RootContext {
            host: &host,
            env: &env_info,
            mapper: &mapper,
            sink: &sink,
            predict,
            full_diff,
            inputs: &inputs,
            undo: undo.as_deref(),
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
