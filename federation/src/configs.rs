//! Writes the configuration files of the local federation, annotated as an operator would
//! write them, so that what runs locally is exactly what `vir-hub run --config …` would run.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use vir_shared::tls::TlsPaths;

use crate::plan::RegionPlan;

/// TOML strings are written with `{:?}` of a `&str`, which quotes and escapes like TOML basic
/// strings for the paths and names used here.
fn tls_section(tls: &TlsPaths) -> String {
    format!(
        "[tls]\ncert = {:?}\nkey = {:?}\nca = {:?}\n",
        tls.cert.display().to_string(),
        tls.key.display().to_string(),
        tls.ca.display().to_string()
    )
}

fn clock_section(clock_file: &Path) -> String {
    format!(
        "# Development clock: `virctl dev clock set DATE` moves it. Refused when environment = \"production\".\n[clock]\nmode = \"dev\"\nfile = {:?}\n",
        clock_file.display().to_string()
    )
}

pub struct PseudonymiserFiles<'a> {
    pub listen: SocketAddr,
    pub tls: &'a TlsPaths,
    pub seed_file: &'a Path,
    pub clock_file: &'a Path,
    pub regions: &'a [RegionPlan],
}

pub fn pseudonymiser(f: &PseudonymiserFiles<'_>) -> String {
    let mut s = String::from("# vir-pseudonymiser: the OPRF service of the local federation.\n");
    s += "environment = \"development\"\n";
    let _ = writeln!(s, "listen = \"{}\"", f.listen);
    let _ = writeln!(
        s,
        "# The secret. Never in this file; made by `vir-pseudonymiser init-seed`."
    );
    let _ = writeln!(s, "seed_file = {:?}", f.seed_file.display().to_string());
    s += "current_version = 1\n\n";
    s += &tls_section(f.tls);
    s += "\n# Keys per node per minute: generous for development, still far from enumerating all BSNs.\n";
    s += "[rate_limit]\nper_minute = 6000\nburst = 20000\n\n";
    s += &clock_section(f.clock_file);
    for r in f.regions {
        let _ = write!(
            s,
            "\n[[nodes]]\noin = \"{}\"\nregion = \"{}\"\n",
            r.node_oin, r.code
        );
    }
    s
}

pub struct HubFiles<'a> {
    pub listen: SocketAddr,
    pub tls: &'a TlsPaths,
    pub storage_url: &'a str,
    pub operator_oin: &'a str,
    pub clock_file: &'a Path,
    pub regions: &'a [RegionPlan],
}

pub fn hub(f: &HubFiles<'_>) -> String {
    let mut s = String::from("# vir-hub: the national index of the local federation.\n");
    s += "environment = \"development\"\n";
    let _ = writeln!(s, "listen = \"{}\"", f.listen);
    let _ = writeln!(s, "storage_url = {:?}", f.storage_url);
    let _ = writeln!(s, "# Certificates that may call Status besides the nodes.");
    let _ = writeln!(s, "operators = [\"{}\"]", f.operator_oin);
    s += "heartbeat_ms = 5000\n\n";
    s += &tls_section(f.tls);
    s += "\n";
    s += &clock_section(f.clock_file);
    for r in f.regions {
        let municipalities: Vec<String> = r
            .municipalities
            .iter()
            .map(|m| format!("\"{m}\""))
            .collect();
        let _ = write!(
            s,
            "\n# {}\n[[nodes]]\noin = \"{}\"\nregion = \"{}\"\nmunicipalities = [{}]\n",
            r.name,
            r.node_oin,
            r.code,
            municipalities.join(", ")
        );
    }
    s
}

pub struct NodeFiles<'a> {
    pub region: &'a RegionPlan,
    pub listen: SocketAddr,
    pub tls: &'a TlsPaths,
    pub hpke_private_key: &'a Path,
    pub hub_url: &'a str,
    pub pseudonymiser_url: &'a str,
    pub storage_url: &'a str,
    pub registry_file: &'a Path,
    pub clock_file: &'a Path,
}

pub fn node(f: &NodeFiles<'_>) -> String {
    let r = f.region;
    let mut s = format!("# vir-node: the regional index of {}.\n", r.name);
    s += "environment = \"development\"\n";
    let _ = writeln!(s, "region = \"{}\"", r.code);
    let _ = writeln!(s, "name = \"Verwijsindex {}\"", r.name);
    let municipalities: Vec<String> = r
        .municipalities
        .iter()
        .map(|m| format!("\"{m}\""))
        .collect();
    let _ = writeln!(s, "# CBS codes of the municipalities this region serves.");
    let _ = writeln!(s, "municipalities = [{}]", municipalities.join(", "));
    let _ = writeln!(s, "listen = \"{}\"", f.listen);
    let _ = writeln!(s, "storage_url = {:?}", f.storage_url);
    let _ = writeln!(
        s,
        "# X25519 key for envelopes from other regions; its public half is in the certificate."
    );
    let _ = writeln!(
        s,
        "hpke_private_key = {:?}\n",
        f.hpke_private_key.display().to_string()
    );
    s += &tls_section(f.tls);
    let _ = write!(
        s,
        "\n[hub]\nurl = \"{}\"\nserver_name = \"localhost\"\n",
        f.hub_url
    );
    let _ = write!(
        s,
        "\n[pseudonymiser]\nurl = \"{}\"\nserver_name = \"localhost\"\n",
        f.pseudonymiser_url
    );
    let _ = write!(
        s,
        "\n# Development registry; production reads the BRP. `virctl dev registry` changes it; the\n# node looks for changes (moves, deaths, parents) every watch_ms.\n[registry]\nfile = {:?}\nwatch_ms = 300\n\n",
        f.registry_file.display().to_string()
    );
    s += "[forwarder]\nbatch_size = 500\npoll_ms = 500\n\n";
    s += &clock_section(f.clock_file);
    for o in &r.orgs {
        let _ = write!(
            s,
            "\n[[partners]]\noin = \"{}\"\norganisation = {:?}\ncategory = \"{}\"\n# Admitted to the national index (004 §9).\nnational = {}\n",
            o.oin, o.organisation, o.category, o.national
        );
        if o.role != "partner" {
            let _ = writeln!(
                s,
                "# The regional administrator (functioneel beheerder): Admin* RPCs; does not signal.\nrole = \"{}\"",
                o.role
            );
        }
    }
    s += &crate::rules::rules_section(r);
    if address_match(r.code) {
        s += "\n# Address matches: same registry address (002 art. 1 \"Match\" 2b).\n[matching]\naddress = true\n";
    }
    if r.code == vir_shared::regions::ZUID_LIMBURG.code {
        s += "\n# Verhuizing: inverhuis goes to the administrator (ontvanger inverhuisberichten, 002 art.\n# 3.5), who offers the signallers a hand-over to a care provider here (002 art. 15).\n[moves]\nhandover_offer = true\n";
    }
    s
}

/// Zuid-Limburg matches on the address too (002 art. 1 "Match" 2b); elsewhere it is off.
pub fn address_match(region: &str) -> bool {
    region == "zuid-limburg"
}

/// The `[web]` and `[mail]` sections of a node of the local federation.
pub fn node_web(
    web_listen: Option<SocketAddr>,
    smtp_port: Option<u16>,
    region: &RegionPlan,
) -> String {
    let mut s = String::new();
    if let Some(listen) = web_listen {
        let _ = write!(
            s,
            "\n# The web UI for professionals and administrators (HTTPS with the [tls] certificate).\n[web]\nlisten = \"{listen}\"\n"
        );
    }
    if let Some(port) = smtp_port {
        let _ = write!(
            s,
            "\n# Mail notifications, deep link only (004 §11, §13); a local SMTP server without TLS.\n[mail]\nhost = \"127.0.0.1\"\nport = {port}\nfrom = \"verwijsindex@{}.vir.example\"\nstarttls = false\npoll_ms = 200\n",
            region.code
        );
    }
    s
}

/// `[metrics]`: the local federation serves Prometheus metrics on loopback for every service.
pub fn metrics_section(listen: SocketAddr) -> String {
    format!(
        "\n# Prometheus metrics (plain HTTP, GET /metrics).\n[metrics]\nlisten = \"{listen}\"\n"
    )
}
