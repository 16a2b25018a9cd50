//! Adding a region: registering the new node's OIN, region and municipalities in the hub's and
//! the pseudonymiser's configuration files.
//!
//! The files are operator-written TOML with comments, so the entry is appended as text (a
//! `[[nodes]]` table may follow anything) rather than the file being re-serialised. Before
//! writing, the result is parsed again and checked for the conflicts the services would refuse
//! at start (an OIN, region or municipality that is already taken); the previous file is kept
//! as `<file>.bak` and the new one replaces it atomically.

use std::path::Path;

use anyhow::{bail, Context};
use vir_shared::ids::{MunicipalityCode, Oin, RegionCode};

use crate::files;

/// The identity a new region's node gets at the hub and the pseudonymiser.
#[derive(Debug, Clone)]
pub struct NewRegion {
    pub region: RegionCode,
    pub oin: Oin,
    /// CBS codes; the hub needs them, the pseudonymiser does not.
    pub municipalities: Vec<MunicipalityCode>,
}

/// Which service's file is edited: the hub's `[[nodes]]` carry municipalities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Hub,
    Pseudonymiser,
}

/// Appends the region to the `[[nodes]]` of the configuration file at `path`.
pub fn register(path: &Path, service: Service, new: &NewRegion) -> anyhow::Result<()> {
    let text = files::read_to_string(path)?;
    let updated =
        with_region(&text, service, new).with_context(|| format!("{}", path.display()))?;
    let backup = path.with_extension("toml.bak");
    files::write_public(&backup, text.as_bytes())?;
    let temp = path.with_extension("toml.new");
    files::write_public(&temp, updated.as_bytes())?;
    std::fs::rename(&temp, path).with_context(|| format!("replacing {}", path.display()))
}

/// The configuration text with the region appended, or why it cannot be added.
pub fn with_region(text: &str, service: Service, new: &NewRegion) -> anyhow::Result<String> {
    let before: toml::Table = text.parse().context("not valid TOML")?;
    let nodes = before
        .get("nodes")
        .and_then(toml::Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, node) in nodes.iter().enumerate() {
        let field = |key: &str| node.get(key).and_then(toml::Value::as_str).unwrap_or("");
        if field("oin") == new.oin.as_str() {
            bail!("nodes[{i}].oin: OIN {} is already registered", new.oin);
        }
        if field("region") == new.region.as_str() {
            bail!(
                "nodes[{i}].region: region {} is already registered",
                new.region
            );
        }
        let taken = node
            .get("municipalities")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(toml::Value::as_str);
        for code in taken {
            if new.municipalities.iter().any(|m| m.as_str() == code) {
                bail!(
                    "nodes[{i}].municipalities: municipality {code} already belongs to region {}",
                    field("region")
                );
            }
        }
    }
    if service == Service::Hub && new.municipalities.is_empty() {
        bail!("a region at the hub needs at least one municipality");
    }

    let mut block = format!(
        "\n# Region {}: added by `vir-certs add-region`.\n[[nodes]]\noin = \"{}\"\nregion = \"{}\"\n",
        new.region, new.oin, new.region
    );
    if service == Service::Hub {
        let codes: Vec<String> = new
            .municipalities
            .iter()
            .map(|m| format!("\"{}\"", m.as_str()))
            .collect();
        block.push_str(&format!("municipalities = [{}]\n", codes.join(", ")));
    }
    let mut updated = text.to_owned();
    if !updated.is_empty() && !updated.ends_with('\n') {
        updated.push('\n');
    }
    updated.push_str(&block);
    let after: toml::Table = updated
        .parse()
        .context("the file would not be valid TOML after adding the region")?;
    let count = after
        .get("nodes")
        .and_then(toml::Value::as_array)
        .map_or(0, Vec::len);
    if count != nodes.len() + 1 {
        bail!("`nodes` is not an array of tables; add the region by hand");
    }
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HUB: &str = "# the hub\nlisten = \"0.0.0.0:7001\"\n\n[tls]\ncert = \"c\"\n\n\
                       [[nodes]]\noin = \"00000099000000000010\"\nregion = \"drenthe\"\n\
                       municipalities = [\"0106\"]\n";

    fn twente(codes: &[&str]) -> NewRegion {
        NewRegion {
            region: "twente".parse().unwrap(),
            oin: "00000099000000000020".parse().unwrap(),
            municipalities: codes.iter().map(|c| c.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn appends_after_tables_and_keeps_comments() {
        let text = with_region(HUB, Service::Hub, &twente(&["0153", "0158"])).unwrap();
        assert!(text.starts_with("# the hub\n"));
        let table: toml::Table = text.parse().unwrap();
        let nodes = table["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[1]["region"].as_str(), Some("twente"));
        assert_eq!(nodes[1]["municipalities"].as_array().unwrap().len(), 2);
        assert_eq!(
            table["tls"]["cert"].as_str(),
            Some("c"),
            "tables before are untouched"
        );

        let pseudo = with_region(HUB, Service::Pseudonymiser, &twente(&[])).unwrap();
        assert!(!pseudo.contains("municipalities = []"));
    }

    #[test]
    fn conflicts_are_refused() {
        let taken = with_region(HUB, Service::Hub, &twente(&["0106"])).unwrap_err();
        assert!(taken.to_string().contains("0106"), "{taken}");
        let mut same_oin = twente(&["0153"]);
        same_oin.oin = "00000099000000000010".parse().unwrap();
        assert!(with_region(HUB, Service::Hub, &same_oin).is_err());
        assert!(with_region(HUB, Service::Hub, &twente(&[])).is_err());
    }
}
