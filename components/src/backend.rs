//! An application backend: writes its configuration and announces where it
//! listens.

use batou_core::prelude::*;

/// What a backend offers to other components (resource `backend`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendInfo {
    pub host: String,
    /// Where it listens, resolved on the host (`[resolver]` overrides apply).
    pub listen: String,
}

#[component]
#[derive(Debug)]
pub struct Backend {
    /// Where the backend listens; the name is resolved through DNS or the
    /// environment's `[resolver]` section.
    #[attr(default = Address::with_port("localhost", 8080))]
    pub address: Address,
    #[attr(default = 4)]
    pub workers: u16,
    #[attr(default = "Hello")]
    pub greeting: String,
    pub debug: bool,
}

impl Component for Backend {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let listen = self
            .address
            .listen()?
            .ok_or_else(|| Error::msg(format!("{} has no IPv4 address", self.address)))?;
        ctx.provide(
            "backend",
            BackendInfo {
                host: ctx.host().name.clone(),
                listen: listen.to_string(),
            },
        )?;
        ctx.add(Directory::new("etc"))?;
        ctx.add(
            File::new("etc/backend.conf")
                .template(asset!("templates/backend.conf"))
                .mode(0o640),
        )?;
        Ok(())
    }
}
