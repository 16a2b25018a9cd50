//! The annotated configuration examples in `deploy/examples` are what operators copy: each must
//! load with its service's own loader, carry no secret, and name the right municipalities.

use std::path::PathBuf;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/examples")
        .join(name)
}

#[test]
fn every_example_loads_and_keeps_secrets_out() {
    let hub = vir_hub::HubConfig::load(&example("hub.toml")).expect("hub.toml");
    assert!(hub.environment.is_production());
    vir_shared::binary::refuse_inline_password(&hub.storage_url).expect("hub storage_url");
    vir_shared::binary::refuse_unverified_link(&hub.storage_url).expect("hub storage_url");
    assert!(
        hub.storage_url.contains("sslmode=verify-full"),
        "the example shows TLS"
    );
    assert!(!hub.tls.crls.is_empty(), "the hub example shows CRLs");

    let pseudo = vir_pseudonymiser::config::Config::load(&example("pseudonymiser.toml"))
        .expect("pseudonymiser.toml");
    assert!(pseudo.is_production());
    assert_eq!(pseudo.nodes.len(), hub.nodes.len());

    for (region, municipalities) in [("drenthe", 12), ("zuid-limburg", 16), ("hoeksche-waard", 1)] {
        let file = example(&format!("node-{region}.toml"));
        let node = vir_node::config::NodeConfig::load(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(node.region.as_str(), region);
        assert!(node.is_production());
        assert_eq!(node.municipalities.len(), municipalities, "{region}");
        vir_shared::binary::refuse_inline_password(&node.storage_url).expect("node storage_url");
        vir_shared::binary::refuse_unverified_link(&node.storage_url).expect("node storage_url");
        // The hub knows this region with the same municipalities, the pseudonymiser its OIN.
        let at_hub = hub
            .nodes
            .iter()
            .find(|n| n.region == node.region)
            .unwrap_or_else(|| panic!("{region} missing at the hub"));
        assert_eq!(at_hub.municipalities, node.municipalities, "{region}");
        assert!(pseudo
            .nodes
            .iter()
            .any(|n| n.oin == at_hub.oin && n.region == node.region));
    }
}

/// The compose federation's configurations (`deploy/compose/config`) load the same way.
#[test]
fn the_compose_configurations_load() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/compose/config");
    let hub = vir_hub::HubConfig::load(&dir.join("hub.toml")).expect("compose hub.toml");
    vir_shared::binary::refuse_inline_password(&hub.storage_url).expect("no password");
    vir_shared::binary::refuse_unverified_link(&hub.storage_url).expect("link said out loud");
    vir_pseudonymiser::config::Config::load(&dir.join("pseudonymiser.toml"))
        .expect("compose pseudonymiser.toml");
    for region in ["drenthe", "zuid-limburg", "hoeksche-waard"] {
        let node = vir_node::config::NodeConfig::load(&dir.join(format!("node-{region}.toml")))
            .unwrap_or_else(|e| panic!("compose node-{region}.toml: {e}"));
        assert_eq!(node.region.as_str(), region);
        vir_shared::binary::refuse_unverified_link(&node.storage_url).expect("compose node link");
    }
}
