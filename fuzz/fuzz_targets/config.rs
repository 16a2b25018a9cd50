//! Configuration files: any text → hub, node and pseudonymiser configuration (parse + validate).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = toml::from_str::<vir_hub::HubConfig>(text) {
        let _ = config.validate();
    }
    let _ = vir_node::config::NodeConfig::from_toml(text);
    let _ = vir_pseudonymiser::config::Config::from_toml(text);
});
