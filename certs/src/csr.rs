//! Production certificates, step one: a key and a certificate signing request (CSR) for a real
//! certificate authority, and the federation node CA's side of signing a node's CSR.
//!
//! Hub, pseudonymiser and partner organisations send their CSR to a PKIoverheid trust service
//! provider (TSP). A node's certificate must also certify the node's HPKE key, in the private
//! extension [`HPKE_KEY_OID`]; PKIoverheid TSPs do not put custom extensions in certificates, so
//! node certificates are issued by the federation's own node CA, a hierarchy of the same shape
//! kept by the national operator (`vir-certs node-ca`), which every service trusts next to the
//! PKIoverheid root. A node's CSR carries the HPKE public key as a requested extension, signed
//! with the TLS key, so the node CA knows the two belong together; [`DevPki::sign_node_csr`]
//! copies it into the certificate.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context};
use chrono::{Duration, Utc};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa,
    KeyUsagePurpose, SanType, SubjectPublicKeyInfo,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateSigningRequestDer;
use vir_shared::ids::{Oin, RegionCode};
use vir_shared::tls::HPKE_KEY_OID;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::der_parser::Oid;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry;
use x509_parser::prelude::FromDer;

use crate::files;
use crate::leaf::{hpke_extension, new_hpke_key_pair};
use crate::pki::{asn1_time, country_nl, new_key, DevPki, SERIAL_NUMBER_OID};

/// What the certificate is for, which decides its extended key usages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Hub or pseudonymiser: serverAuth (and clientAuth, for calls between services).
    Service,
    /// Regional node: serverAuth + clientAuth, OU = region, certified HPKE key.
    Node,
    /// Partner organisation or operator calling a service: clientAuth.
    Client,
}

/// The subject and names of a CSR.
#[derive(Debug, Clone)]
pub struct CsrSubject {
    pub organisation: String,
    /// The host name (services, nodes) or the organisation's name (clients).
    pub common_name: String,
    pub oin: Oin,
    /// Nodes only: the region code, as subject OU.
    pub region: Option<RegionCode>,
    /// DNS names (or IP addresses) the server is reached by; the CN is added if missing.
    pub hosts: Vec<String>,
}

/// The files `write_csr` made.
#[derive(Debug, Clone)]
pub struct CsrFiles {
    pub key: PathBuf,
    pub csr: PathBuf,
    /// Nodes: the HPKE private key (hex, 0600) and its public key, requested in the CSR.
    pub hpke: Option<(PathBuf, [u8; 32])>,
}

/// Writes `<dir>/key.pem` (0600), `<dir>/request.csr` and, for a node, `<dir>/hpke.key` (0600).
/// Refuses to overwrite a key: it may be the one a live certificate belongs to.
pub fn write_csr(dir: &Path, role: Role, subject: &CsrSubject) -> anyhow::Result<CsrFiles> {
    ensure!(
        !subject.organisation.trim().is_empty() && !subject.common_name.trim().is_empty(),
        "the organisation and common name must not be empty"
    );
    ensure!(
        (role == Role::Node) == subject.region.is_some(),
        "a region (subject OU) is given for a node certificate, and only for one"
    );
    let key_path = dir.join("key.pem");
    if key_path.exists() {
        bail!(
            "{} exists; move it away first (it may belong to a certificate in use)",
            key_path.display()
        );
    }
    files::create_dir(dir)?;

    let mut params = CertificateParams::default();
    params.distinguished_name = subject_name(subject)?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = match role {
        Role::Service | Role::Node => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        Role::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
    };
    if role != Role::Client {
        params.subject_alt_names = alt_names(&subject.common_name, &subject.hosts)?;
    }
    let hpke = (role == Role::Node).then(new_hpke_key_pair);
    if let Some((_, public)) = &hpke {
        params.custom_extensions = vec![hpke_extension(public)];
    }

    let key = new_key()?;
    let csr = params
        .serialize_request(&key)
        .context("making the certificate signing request")?;
    files::write_secret(&key_path, key.serialize_pem().as_bytes())?;
    let csr_path = dir.join("request.csr");
    files::write_public(&csr_path, csr.pem().context("encoding the CSR")?.as_bytes())?;
    let hpke = match hpke {
        Some((private, public)) => {
            let path = dir.join("hpke.key");
            files::write_secret(&path, hex::encode(private).as_bytes())?;
            Some((path, public))
        }
        None => None,
    };
    Ok(CsrFiles {
        key: key_path,
        csr: csr_path,
        hpke,
    })
}

fn subject_name(subject: &CsrSubject) -> anyhow::Result<DistinguishedName> {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, country_nl()?);
    dn.push(DnType::OrganizationName, subject.organisation.trim());
    if let Some(region) = &subject.region {
        dn.push(DnType::OrganizationalUnitName, region.as_str());
    }
    dn.push(DnType::CommonName, subject.common_name.trim());
    dn.push(
        DnType::CustomDnType(SERIAL_NUMBER_OID.to_vec()),
        DnValue::PrintableString(subject.oin.as_str().try_into()?),
    );
    Ok(dn)
}

fn alt_names(common_name: &str, hosts: &[String]) -> anyhow::Result<Vec<SanType>> {
    let mut names = Vec::new();
    for host in std::iter::once(common_name).chain(hosts.iter().map(String::as_str)) {
        let host = host.trim();
        let san = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                host.try_into()
                    .with_context(|| format!("{host:?} is not an ASCII DNS name"))?,
            ),
        };
        if !names.contains(&san) {
            names.push(san);
        }
    }
    Ok(names)
}

/// What a node's CSR asks for, read and checked.
struct NodeRequest {
    subject: CsrSubject,
    hpke_public_key: [u8; 32],
    spki_der: Vec<u8>,
    dns_names: Vec<String>,
}

/// Reads a node CSR: verifies its signature, and requires O, CN, OU and an OIN serialNumber and
/// exactly the HPKE key extension besides SAN, key usage and extended key usage.
fn read_node_csr(path: &Path) -> anyhow::Result<NodeRequest> {
    let pem = files::read_to_string(path)?;
    let der = CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
        .with_context(|| format!("{}: not a PEM certificate signing request", path.display()))?;
    let (_, csr) = X509CertificationRequest::from_der(der.as_ref())
        .with_context(|| format!("{}: unparseable CSR", path.display()))?;
    csr.verify_signature().map_err(|e| {
        anyhow::anyhow!(
            "{}: the CSR's signature does not verify: {e}",
            path.display()
        )
    })?;
    let info = &csr.certification_request_info;
    let attr = |oid: &Oid<'_>| {
        info.subject
            .iter_by_oid(oid)
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned)
    };
    let need = |oid: &Oid<'_>, what: &str| {
        attr(oid).with_context(|| format!("{}: the subject has no {what}", path.display()))
    };
    let oin: Oin = need(&oid_registry::OID_X509_SERIALNUMBER, "serialNumber (OIN)")?
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: serialNumber: {e}", path.display()))?;
    let region: RegionCode = need(&oid_registry::OID_X509_ORGANIZATIONAL_UNIT, "OU (region)")?
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: OU: {e}", path.display()))?;
    let hpke_oid = Oid::from(HPKE_KEY_OID).map_err(|_| anyhow::anyhow!("bad HPKE OID"))?;
    let mut hpke_public_key: Option<[u8; 32]> = None;
    let mut dns_names = Vec::new();
    let requested = info
        .iter_attributes()
        .filter_map(|a| match a.parsed_attribute() {
            ParsedCriAttribute::ExtensionRequest(r) => Some(r),
            _ => None,
        })
        .flat_map(|r| r.extensions.iter());
    for ext in requested {
        if ext.oid == hpke_oid {
            if let [0x04, 0x20, key @ ..] = ext.value {
                hpke_public_key = key.try_into().ok();
            }
            continue;
        }
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(dns) => dns_names.push((*dns).to_owned()),
                        other => {
                            bail!("{}: unsupported alternative name {other:?}", path.display())
                        }
                    }
                }
            }
            ParsedExtension::KeyUsage(_) | ParsedExtension::ExtendedKeyUsage(_) => {}
            _ => bail!(
                "{}: unexpected requested extension {}",
                path.display(),
                ext.oid.to_id_string()
            ),
        }
    }
    let hpke_public_key = hpke_public_key.with_context(|| {
        format!(
            "{}: no HPKE public key requested (make node CSRs with `vir-certs csr --role node`)",
            path.display()
        )
    })?;
    Ok(NodeRequest {
        subject: CsrSubject {
            organisation: need(&oid_registry::OID_X509_ORGANIZATION_NAME, "O")?,
            common_name: need(&oid_registry::OID_X509_COMMON_NAME, "CN")?,
            oin,
            region: Some(region),
            hosts: Vec::new(),
        },
        hpke_public_key,
        spki_der: info.subject_pki.raw.to_vec(),
        dns_names,
    })
}

/// What the node CA issued: the chain file, and the identity it certifies.
#[derive(Debug, Clone)]
pub struct IssuedNode {
    pub cert: PathBuf,
    pub oin: Oin,
    pub region: RegionCode,
    pub hpke_public_key: [u8; 32],
}

impl DevPki {
    /// The node CA signs a node's CSR made by [`write_csr`]: the requested subject, names and
    /// HPKE key, serverAuth + clientAuth, valid `days` from now. The expected region and OIN
    /// must match the request, so a CSR sent for one region cannot be signed for another.
    /// Writes the chain (leaf, issuing CA, domain CA) to `out`.
    pub fn sign_node_csr(
        &self,
        csr: &Path,
        region: &RegionCode,
        oin: &Oin,
        days: u32,
        out: &Path,
    ) -> anyhow::Result<IssuedNode> {
        let request = read_node_csr(csr)?;
        ensure!(
            request.subject.region.as_ref() == Some(region),
            "{}: the CSR is for region {:?}, not {region}",
            csr.display(),
            request.subject.region.as_ref().map(RegionCode::as_str)
        );
        ensure!(
            &request.subject.oin == oin,
            "{}: the CSR is for OIN {}, not {oin}",
            csr.display(),
            request.subject.oin
        );
        let mut params = CertificateParams::default();
        params.distinguished_name = subject_name(&request.subject)?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.subject_alt_names = alt_names(&request.subject.common_name, &request.dns_names)?;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.custom_extensions = vec![hpke_extension(&request.hpke_public_key)];
        params.use_authority_key_identifier_extension = true;
        let now = Utc::now();
        params.not_before = asn1_time(now - Duration::hours(1))?;
        params.not_after = asn1_time(now + Duration::days(i64::from(days)))?;
        let public_key = SubjectPublicKeyInfo::from_der(&request.spki_der)
            .context("the CSR's public key is not one rcgen can certify")?;
        let cert = params
            .signed_by(&public_key, &self.issuing)
            .context("signing the node certificate")?;
        let chain = format!("{}{}", cert.pem(), self.intermediates_pem);
        files::write_public(out, chain.as_bytes())?;
        Ok(IssuedNode {
            cert: out.to_owned(),
            oin: oin.clone(),
            region: region.clone(),
            hpke_public_key: request.hpke_public_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_csr_is_signed_with_its_hpke_key_and_only_for_its_region() {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevPki::create(&dir.path().join("ca"), "VIR Federatie").unwrap();
        let region: RegionCode = "twente".parse().unwrap();
        let oin = crate::test_oin(77);
        let files = write_csr(
            &dir.path().join("node"),
            Role::Node,
            &CsrSubject {
                organisation: "Verwijsindex Twente".into(),
                common_name: "vi.twente.example".into(),
                oin: oin.clone(),
                region: Some(region.clone()),
                hosts: vec!["vi-backup.twente.example".into()],
            },
        )
        .unwrap();
        let (_, public) = files.hpke.clone().unwrap();
        let out = dir.path().join("node").join("cert.pem");
        let other: RegionCode = "drenthe".parse().unwrap();
        assert!(ca
            .sign_node_csr(&files.csr, &other, &oin, 365, &out)
            .is_err());
        let issued = ca
            .sign_node_csr(&files.csr, &region, &oin, 365, &out)
            .unwrap();
        assert_eq!(issued.hpke_public_key, public);

        let certs = vir_shared::tls::load_certs(&out).unwrap();
        let leaf = vir_shared::tls::parse_leaf(certs[0].as_ref()).unwrap();
        assert_eq!(leaf.oin, oin);
        assert_eq!(leaf.organisational_unit.as_deref(), Some("twente"));
        assert_eq!(leaf.hpke_public_key, Some(public));
        // A second CSR would overwrite the key in use: refused.
        assert!(write_csr(
            &dir.path().join("node"),
            Role::Client,
            &CsrSubject {
                organisation: "x".into(),
                common_name: "x".into(),
                oin,
                region: None,
                hosts: Vec::new(),
            }
        )
        .is_err());
    }
}
