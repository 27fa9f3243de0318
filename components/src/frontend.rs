//! A web frontend that proxies to every backend of the environment.

use batou_core::prelude::*;

use crate::backend::BackendInfo;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Frontend {
    pub title: String,
    pub port: u16,
    /// Filled in `configure` from the `backend` resources.
    #[serde(skip_deserializing)]
    pub backends: Vec<BackendInfo>,
}

impl Default for Frontend {
    fn default() -> Self {
        Frontend {
            title: "Example".into(),
            port: 8000,
            backends: Vec::new(),
        }
    }
}

impl Component for Frontend {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.backends = ctx.require("backend")?;
        ctx.add(Directory::new("htdocs"))?;
        let (name, source) = batou_core::asset!("templates/frontend.conf");
        ctx.add(
            File::new("frontend.conf")
                .template(name, source)
                .context(&*self),
        )?;
        let (name, source) = batou_core::asset!("templates/index.html");
        ctx.add(
            File::new("htdocs/index.html")
                .template(name, source)
                .context(&*self),
        )?;
        // The same backends as machine-readable JSON (sorted keys, indent
        // 4), e.g. for a health checker.
        ctx.add(File::new("upstreams.json").json(Upstreams {
            port: self.port,
            upstreams: &self.backends,
        }))?;
        ctx.add(Symlink::new("current", "htdocs"))?;
        ctx.add(Command::new("echo '{{ host.name }}' > build-id").unless("test -f build-id"))?;
        Ok(())
    }
}

/// What `upstreams.json` holds.
#[derive(Serialize)]
struct Upstreams<'a> {
    port: u16,
    upstreams: &'a [BackendInfo],
}

/// The frontend's additions on the `localdev` platform: a marker that says
/// which platform configured this host.
pub struct LocalDevFrontend {
    pub title: String,
}

impl Component for LocalDevFrontend {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let text = format!(
            "{} runs on platform {} on {}\n",
            self.title,
            ctx.platform().unwrap_or("none"),
            ctx.host().name
        );
        ctx.add(File::new("platform.txt").content(text))?;
        Ok(())
    }
}
