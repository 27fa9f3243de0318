// The worked example of the guide (docs/examples/etherpad.md includes
// this file between the ANCHOR lines, and the e2e test
// `e2e::worked_example` deploys it): an application downloaded as a
// release archive, run by supervisor behind nginx, its logs rotated and a
// nightly job in cron. Standard library components only.

// ANCHOR: all
use batou_core::prelude::*;
use batou_core::stdlib::{
    CronJob, Download, Extract, HealthCheck, RotatedLogfile, Supervisor, supervisor,
};

/// The host's supervisord, a root of its own (batou: `supervisor` in the
/// host's component list). Programs of any root on the host find it.
#[component(name = "supervisor")]
#[derive(Debug)]
pub struct Supervisord {
    #[attr(default = "info")]
    pub loglevel: String,
}

impl Component for Supervisord {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(Supervisor::new().loglevel(self.loglevel.clone()))?;
        Ok(())
    }
}

/// Where a pad server listens: provided as `pad`, required by the proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PadServer {
    pub host: String,
    pub port: u16,
}

/// The application: a release archive, unpacked, configured and run.
#[component(name = "pad")]
#[derive(Debug)]
pub struct Pad {
    /// Where the release comes from (`[component:pad] url = ...`).
    #[attr(default = "https://downloads.example.org/pad-1.0.tar.gz")]
    pub url: String,
    /// The archive's checksum: a Download without one is refused.
    pub checksum: String,
    #[attr(default = 9001)]
    pub port: u16,
    #[attr(default = "Welcome to pad")]
    pub title: String,
}

impl Component for Pad {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.provide(
            "pad",
            PadServer {
                host: "127.0.0.1".into(),
                port: self.port,
            },
        )?;
        ctx.add(
            Download::new(self.url.clone())
                .checksum(self.checksum.clone())
                .target("pad.tar.gz"),
        )?;
        ctx.add(Extract::new("pad.tar.gz").target("app").strip(1))?;
        ctx.add(Directory::new("var/log").leading(true))?;
        ctx.add(Directory::new("var/pads"))?;
        // Restarted when its settings change. The settings template sees
        // this component as `component` (the nearest root above it).
        ctx.add(
            supervisor::Program::new("pad")
                .command("python3")
                .args("app/pad.py --settings settings.json")
                .startsecs(1)
                .depends_on(
                    File::new("settings.json").template(asset!("templates/etherpad/settings.json")),
                ),
        )?;
        ctx.add(RotatedLogfile::new("var/log/access.log").args([
            "daily",
            "rotate 14",
            "compress",
            "missingok",
            "copytruncate",
        ]))?;
        // Pads nobody opened for 30 days go, every night at 3:30.
        let workdir = ctx.workdir().display().to_string();
        ctx.add(
            CronJob::new(format!(
                "python3 {workdir}/app/pad.py --purge {workdir}/var/pads"
            ))
            .args("--days 30")
            .timing("30 3 * * *")
            .logger("pad-purge"),
        )?;
        Ok(())
    }
}

/// nginx in front of every pad server of the environment.
#[component(name = "proxy")]
#[derive(Debug)]
pub struct Proxy {
    #[attr(default = 8080)]
    pub port: u16,
    #[attr(default = "/usr/sbin/nginx")]
    pub nginx: String,
    /// From the `pad` resources; the template loops over them.
    #[attr(computed)]
    pub backends: Vec<PadServer>,
}

impl Component for Proxy {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.backends = ctx.require("pad")?;
        ctx.add(Directory::new("var/log").leading(true))?;
        ctx.add(Directory::new("var/tmp"))?;
        let workdir = ctx.workdir().display().to_string();
        ctx.add(
            supervisor::Program::new("nginx")
                .command(self.nginx.clone())
                .args(format!("-p {workdir} -c nginx.conf -e var/log/error.log"))
                .startsecs(1)
                .depends_on(
                    File::new("nginx.conf").template(asset!("templates/etherpad/nginx.conf")),
                ),
        )?;
        ctx.add(
            RotatedLogfile::new("var/log/*.log")
                .args(["weekly", "rotate 4", "compress", "missingok"])
                .postrotate(format!("kill -USR1 \"$(cat {workdir}/var/nginx.pid)\"")),
        )?;
        // Last: the deploy goes on only once the page comes through nginx.
        ctx.add(
            HealthCheck::http(format!("http://127.0.0.1:{}/", self.port))
                .body_contains("pad")
                .retries(30)
                .interval(std::time::Duration::from_millis(200)),
        )?;
        Ok(())
    }
}

/// Registers the example's components; `logrotate` and `crontab` are the
/// stdlib's own roots.
pub fn register(registry: &mut Registry) {
    registry
        .add::<Supervisord>()
        .add::<Pad>()
        .add::<Proxy>()
        .add::<batou_core::stdlib::Logrotate>()
        .add::<batou_core::stdlib::CronTab>();
}
// ANCHOR_END: all
