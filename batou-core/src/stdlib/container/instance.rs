//! The container itself: compared with `inspect`, created, started or
//! replaced. A sub-component of [`super::Container`], so that the env
//! file is written before it and the health check runs after it.

use std::path::PathBuf;

use super::engine::{Cli, Found, image_id};
use super::{DEFINITION_LABEL, Definition};
use crate::component::{Component, Deploy, Verdict};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    Nothing,
    Start,
    Create { pull: bool },
    Replace { pull: bool },
}

pub(super) struct Instance {
    name: String,
    cli: Cli,
    definition: Definition,
    hash: String,
    env_file: Option<PathBuf>,
    stop_timeout: u32,
    plan: Plan,
}

impl Instance {
    pub fn new(
        name: String,
        cli: Cli,
        definition: Definition,
        env_file: Option<PathBuf>,
        stop_timeout: u32,
    ) -> Self {
        let hash = definition.hash();
        Instance {
            name,
            cli,
            definition,
            hash,
            env_file,
            stop_timeout,
            plan: Plan::Nothing,
        }
    }

    /// `run`'s arguments after the engine's own options.
    fn run_args(&self) -> Vec<String> {
        let d = &self.definition;
        let mut args = vec![
            "run".to_string(),
            "--detach".into(),
            format!("--name={}", self.name),
            format!("--label={DEFINITION_LABEL}={}", self.hash),
            format!("--restart={}", d.restart),
        ];
        if let Some(file) = &self.env_file {
            args.push(format!("--env-file={}", file.display()));
        }
        args.extend(d.ports.iter().map(|p| format!("--publish={p}")));
        args.extend(d.volumes.iter().map(|v| format!("--volume={v}")));
        if let Some(n) = &d.network {
            args.push(format!("--network={n}"));
        }
        if let Some(e) = &d.entrypoint {
            args.push(format!("--entrypoint={e}"));
        }
        args.extend(d.run_options.iter().cloned());
        args.push(d.image.clone());
        args.extend(d.command.iter().cloned());
        args
    }
}

impl Component for Instance {
    fn label(&self) -> String {
        format!("{} run", self.cli.engine.default_executable())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let format = format!(
            "{{{{.Image}}}}|{{{{index .Config.Labels \"{DEFINITION_LABEL}\"}}}}|{{{{.State.Running}}}}"
        );
        let container = self.cli.inspect(ctx, "container", &format, &self.name)?;
        let image = self
            .cli
            .inspect(ctx, "image", "{{.Id}}", &self.definition.image)?;
        let pull = matches!(image, Found::Missing);
        self.plan = match container {
            Found::Missing => {
                ctx.log(format!("container {} does not exist", self.name));
                Plan::Create { pull }
            }
            Found::Yes(text) => {
                let mut parts = text.splitn(3, '|');
                let (running_image, label, running) = (
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                );
                if label != self.hash {
                    ctx.log(format!("the definition of container {} changed", self.name));
                    Plan::Replace { pull }
                } else if let Found::Yes(id) = &image
                    && image_id(id) != image_id(running_image)
                {
                    ctx.log(format!(
                        "container {} runs another image than {} names now",
                        self.name, self.definition.image
                    ));
                    Plan::Replace { pull }
                } else if pull {
                    ctx.log(format!("image {} is not present", self.definition.image));
                    Plan::Replace { pull }
                } else if running.trim() != "true" {
                    ctx.log(format!("container {} is not running", self.name));
                    Plan::Start
                } else {
                    Plan::Nothing
                }
            }
        };
        Ok(Verdict::update_if(self.plan != Plan::Nothing))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let (pull, replace) = match self.plan {
            Plan::Nothing => return Ok(()),
            Plan::Start => {
                self.cli.run(ctx, &["start", &self.name])?;
                ctx.log(format!("started container {}", self.name));
                return Ok(());
            }
            Plan::Create { pull } => (pull, false),
            Plan::Replace { pull } => (pull, true),
        };
        if pull {
            self.cli.run(ctx, &["pull", &self.definition.image])?;
            ctx.log(format!("pulled {}", self.definition.image));
        }
        if replace {
            let seconds = self.stop_timeout.to_string();
            self.cli.run(ctx, &["stop", "-t", &seconds, &self.name])?;
            self.cli.run(ctx, &["rm", "-f", &self.name])?;
        }
        let args = self.run_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let id = self.cli.run(ctx, &args)?;
        let short: String = id.trim().chars().take(12).collect();
        ctx.log(format!(
            "{} container {} ({short})",
            if replace { "replaced" } else { "created" },
            self.name
        ));
        Ok(())
    }
}
