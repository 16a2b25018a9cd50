//! Production certificates, step two: checking an issued chain before it goes into service
//! (`vir-certs import`), and watching the expiry of installed ones (`vir-certs check`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{bail, ensure, Context};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::RootCertStore;
use serde::Serialize;
use vir_shared::ids::RegionCode;
use vir_shared::tls::{leaf_days_left, load_certs, parse_leaf, verify_chain, EXPIRY_WARNING_DAYS};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::csr::Role;
use crate::files;

/// What [`check_chain`] found in a chain that passed.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    pub oin: String,
    pub subject: String,
    pub days_left: i64,
    /// Things to act on that do not make the chain unusable (expiry within 30 days).
    pub warnings: Vec<String>,
}

/// What `import` checks a chain against.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub role: Role,
    /// The root(s) the services trust (`tls.ca`).
    pub root: &'a Path,
    /// The private key the CSR was made with.
    pub key: &'a Path,
    /// Nodes: the HPKE private key made with the CSR, and the region.
    pub hpke_key: Option<&'a Path>,
    pub region: Option<&'a RegionCode>,
}

/// Checks an issued chain (leaf first): it chains to `root`, its subject carries an OIN, its
/// key usages fit the role (digitalSignature; serverAuth for services and nodes, clientAuth for
/// nodes and clients), it belongs to `key`, it is valid now, and for a node its OU is the region
/// and it certifies the HPKE key. Returns the chain without a root certificate at its end.
pub fn check_chain(
    chain_path: &Path,
    expected: &Expected<'_>,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, ChainReport)> {
    let mut chain = load_certs(chain_path)?;
    // A TSP often sends the root along; peers have it already, so it is not served.
    if chain.len() > 1 && is_self_signed(chain.last().map(AsRef::as_ref).unwrap_or_default())? {
        chain.pop();
    }
    let der_chain: Vec<Vec<u8>> = chain.iter().map(|c| c.as_ref().to_vec()).collect();
    let (_, leaf) =
        X509Certificate::from_der(&der_chain[0]).context("the first certificate is unparseable")?;
    let identity = parse_leaf(&der_chain[0])?;
    let now = UnixTime::now();

    let at = |what: &str| format!("{}: {what}", chain_path.display());
    let ku = leaf
        .key_usage()
        .map_err(|e| anyhow::anyhow!("keyUsage: {e}"))?;
    if let Some(ku) = ku {
        ensure!(
            ku.value.digital_signature(),
            "{}",
            at("keyUsage lacks digitalSignature")
        );
    }
    if matches!(expected.role, Role::Node | Role::Client) {
        // The same verifier a server applies to this certificate as a client (clientAuth).
        verify_chain(&der_chain, expected.root, now)
            .with_context(|| at("does not verify as a client certificate under the root"))?;
    }
    if matches!(expected.role, Role::Service | Role::Node) {
        let name = identity
            .common_name
            .clone()
            .with_context(|| at("the subject has no CN (host name)"))?;
        verify_as_server(&chain, expected.root, &name, now).with_context(|| {
            at(&format!(
                "does not verify as the server {name} under the root"
            ))
        })?;
    }

    let key_pem = files::read_to_string(expected.key)?;
    let key = rcgen::KeyPair::from_pem(&key_pem)
        .with_context(|| format!("{}: not a PKCS#8 private key", expected.key.display()))?;
    ensure!(
        leaf.public_key().subject_public_key.data.as_ref() == key.public_key_raw(),
        "{} does not belong to the certificate in {}",
        expected.key.display(),
        chain_path.display()
    );

    if expected.role == Role::Node {
        let region = expected
            .region
            .context("a node certificate needs --region")?;
        ensure!(
            identity.organisational_unit.as_deref() == Some(region.as_str()),
            "{}",
            at(&format!(
                "OU is {:?}, not the region {region}",
                identity.organisational_unit
            ))
        );
        let certified = identity.hpke_public_key.with_context(|| {
            at("no certified HPKE key: node certificates come from the node CA")
        })?;
        if let Some(path) = expected.hpke_key {
            let private = crate::read_hpke_private_key(path)?;
            let public = vir_shared::envelope::public_key_of(&private)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            ensure!(
                public == certified,
                "{} does not belong to the HPKE key in the certificate",
                path.display()
            );
        }
    }

    let days_left = leaf_days_left(chain_path, SystemTime::now())?;
    let mut warnings = Vec::new();
    if days_left < EXPIRY_WARNING_DAYS {
        warnings.push(format!("expires in {days_left} days"));
    }
    let report = ChainReport {
        oin: identity.oin.to_string(),
        subject: leaf.subject().to_string(),
        days_left,
        warnings,
    };
    Ok((chain, report))
}

/// [`check_chain`], then writes the chain (PEM, without the root) to `out`.
pub fn import(
    chain_path: &Path,
    expected: &Expected<'_>,
    out: &Path,
) -> anyhow::Result<ChainReport> {
    let (chain, report) = check_chain(chain_path, expected)?;
    let mut pem = String::new();
    for cert in &chain {
        pem.push_str(&pem_encode(cert.as_ref()));
    }
    files::write_public(out, pem.as_bytes())?;
    Ok(report)
}

fn verify_as_server(
    chain: &[CertificateDer<'static>],
    root: &Path,
    name: &str,
    now: UnixTime,
) -> anyhow::Result<()> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(root)? {
        roots.add(cert)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
    let server_name = ServerName::try_from(name.to_owned())?;
    let (leaf, intermediates) = chain.split_first().context("empty chain")?;
    verifier.verify_server_cert(leaf, intermediates, &server_name, &[], now)?;
    Ok(())
}

fn is_self_signed(der: &[u8]) -> anyhow::Result<bool> {
    let (_, cert) =
        X509Certificate::from_der(der).context("unparseable certificate in the chain")?;
    Ok(cert.subject() == cert.issuer())
}

fn pem_encode(der: &[u8]) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new("CERTIFICATE", der.to_vec()), config)
}

/// The expiry of one installed certificate, for `vir-certs check` and monitoring.
#[derive(Debug, Clone, Serialize)]
pub struct Expiry {
    pub file: PathBuf,
    pub days_left: i64,
    /// "ok", "renew" (within 30 days) or "expired".
    pub status: &'static str,
}

/// Days left of the leaf in `path`, with a status.
pub fn expiry(path: &Path) -> anyhow::Result<Expiry> {
    let days_left = leaf_days_left(path, SystemTime::now())?;
    let status = if days_left < 0 {
        "expired"
    } else if days_left < EXPIRY_WARNING_DAYS {
        "renew"
    } else {
        "ok"
    };
    Ok(Expiry {
        file: path.to_owned(),
        days_left,
        status,
    })
}

/// Prometheus text format for node_exporter's textfile collector.
pub fn metrics(expiries: &[Expiry]) -> String {
    let mut out = String::from(
        "# HELP vir_certificate_days_left Whole days until the certificate expires.\n\
         # TYPE vir_certificate_days_left gauge\n",
    );
    for e in expiries {
        let file = e
            .file
            .display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"");
        out.push_str(&format!(
            "vir_certificate_days_left{{file=\"{file}\"}} {}\n",
            e.days_left
        ));
    }
    out
}

/// Fails unless every expiry is at least "renew" (i.e. not expired).
pub fn none_expired(expiries: &[Expiry]) -> anyhow::Result<()> {
    let expired: Vec<String> = expiries
        .iter()
        .filter(|e| e.status == "expired")
        .map(|e| e.file.display().to_string())
        .collect();
    if !expired.is_empty() {
        bail!("expired: {}", expired.join(", "));
    }
    Ok(())
}
