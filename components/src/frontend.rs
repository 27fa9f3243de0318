//! A web frontend that proxies to every backend of the environment.

use batou_core::prelude::*;

use crate::backend::BackendInfo;

#[component]
#[derive(Debug)]
pub struct Frontend {
    #[attr(default = "Example")]
    pub title: String,
    #[attr(default = 8000)]
    pub port: u16,
    /// Filled in `configure` from the `backend` resources; the templates
    /// see it as `component.backends`.
    #[attr(computed)]
    pub backends: Vec<BackendInfo>,
}

impl Component for Frontend {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.backends = ctx.require("backend")?;
        ctx.add(Directory::new("htdocs"))?;
        ctx.add(File::new("frontend.conf").template(asset!("templates/frontend.conf")))?;
        ctx.add(File::new("htdocs/index.html").template(asset!("templates/index.html")))?;
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
