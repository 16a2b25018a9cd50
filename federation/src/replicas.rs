//! Operator scenarios on a running local federation: more hub replicas on the hub's database,
//! and a node pointed at another hub address, as a load balancer would spread them.

use anyhow::Context;
use vir_shared::service::ServiceHandle;

use crate::LocalFederation;

impl LocalFederation {
    /// Starts one more hub from the hub's configuration file, on a free port, sharing its
    /// storage, after `adjust` had its say. Meant for PostgreSQL, where replicas are stateless;
    /// on SQLite two processes would each serialise their own writers only.
    pub async fn spawn_hub_replica(
        &self,
        adjust: impl FnOnce(&mut vir_hub::HubConfig),
    ) -> anyhow::Result<ServiceHandle> {
        let mut config = vir_hub::config::HubConfig::load(&self.config_dir.join("hub.toml"))?;
        config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        adjust(&mut config);
        vir_hub::spawn(config, self.clock.clone()).await
    }

    /// Rewrites a node's configuration to use the hub at `hub_url` and restarts it (gracefully,
    /// on its port and data).
    pub async fn point_node_at_hub(&mut self, region: &str, hub_url: &str) -> anyhow::Result<()> {
        let path = self.node_config_path(region);
        let mut config = vir_node::config::NodeConfig::load(&path)?;
        config.hub.url = hub_url.to_owned();
        let text = toml::to_string(&config).context("writing the node configuration")?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        self.restart_node(region, false).await
    }
}
