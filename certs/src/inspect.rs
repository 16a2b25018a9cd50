//! A readable summary of certificates, for operators checking what a file really holds: whose
//! OIN, valid when, for which usages, and whether it certifies a node's HPKE key.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::Serialize;
use x509_parser::der_parser::Oid;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

/// What one certificate says, in the terms this federation cares about.
#[derive(Debug, Clone, Serialize)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    /// The certificate's serial number (hex), not to be confused with the subject serialNumber.
    pub serial: String,
    /// The subject serialNumber: the organisation's OIN on a leaf.
    pub oin: Option<String>,
    pub organisation: Option<String>,
    pub organisational_unit: Option<String>,
    pub common_name: Option<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// "valid", "expired" or "not yet valid", at the time of inspection.
    pub status: &'static str,
    pub is_ca: bool,
    pub path_len_constraint: Option<u32>,
    pub key_usage: Vec<&'static str>,
    pub extended_key_usage: Vec<String>,
    pub subject_alt_names: Vec<String>,
    /// Hex of the certified X25519 HPKE public key, if the certificate carries one.
    pub hpke_public_key: Option<String>,
}

/// Summarises every certificate in a PEM file (leaf first, as in a chain), or a single DER one.
pub fn inspect_file(path: &Path) -> anyhow::Result<Vec<CertSummary>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let ders: Vec<CertificateDer<'static>> = if bytes.starts_with(b"-----") {
        CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<_, _>>()
            .with_context(|| format!("{}: malformed PEM", path.display()))?
    } else {
        vec![CertificateDer::from(bytes)]
    };
    if ders.is_empty() {
        bail!("{}: no certificate in the file", path.display());
    }
    let now = Utc::now();
    ders.iter()
        .enumerate()
        .map(|(i, der)| {
            summarise(der, now)
                .with_context(|| format!("{}: certificate #{}", path.display(), i + 1))
        })
        .collect()
}

/// Summarises one DER certificate; `now` decides the validity status.
pub fn summarise(der: &[u8], now: DateTime<Utc>) -> anyhow::Result<CertSummary> {
    let (_, cert) = X509Certificate::from_der(der).context("not an X.509 certificate")?;
    let subject = cert.subject();
    let validity = cert.validity();
    let not_before = to_chrono(validity.not_before.timestamp())?;
    let not_after = to_chrono(validity.not_after.timestamp())?;
    let status = if now < not_before {
        "not yet valid"
    } else if now > not_after {
        "expired"
    } else {
        "valid"
    };

    let basic = cert.basic_constraints().context("basicConstraints")?;
    let key_usage = cert
        .key_usage()
        .context("keyUsage")?
        .map(|ku| {
            let v = ku.value;
            [
                (v.digital_signature(), "digitalSignature"),
                (v.non_repudiation(), "nonRepudiation"),
                (v.key_encipherment(), "keyEncipherment"),
                (v.data_encipherment(), "dataEncipherment"),
                (v.key_agreement(), "keyAgreement"),
                (v.key_cert_sign(), "keyCertSign"),
                (v.crl_sign(), "cRLSign"),
            ]
            .into_iter()
            .filter_map(|(set, name)| set.then_some(name))
            .collect()
        })
        .unwrap_or_default();
    let extended_key_usage = cert
        .extended_key_usage()
        .context("extendedKeyUsage")?
        .map(|eku| {
            let v = eku.value;
            let mut names: Vec<String> = [
                (v.any, "any"),
                (v.server_auth, "serverAuth"),
                (v.client_auth, "clientAuth"),
                (v.code_signing, "codeSigning"),
                (v.email_protection, "emailProtection"),
                (v.time_stamping, "timeStamping"),
                (v.ocsp_signing, "OCSPSigning"),
            ]
            .into_iter()
            .filter(|(set, _)| *set)
            .map(|(_, name)| name.to_owned())
            .collect();
            names.extend(v.other.iter().map(|oid| oid.to_id_string()));
            names
        })
        .unwrap_or_default();
    let subject_alt_names = cert
        .subject_alternative_name()
        .context("subjectAltName")?
        .map(|san| san.value.general_names.iter().map(general_name).collect())
        .unwrap_or_default();

    Ok(CertSummary {
        subject: subject.to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        oin: attribute(subject, &oid_registry::OID_X509_SERIALNUMBER),
        organisation: attribute(subject, &oid_registry::OID_X509_ORGANIZATION_NAME),
        organisational_unit: attribute(subject, &oid_registry::OID_X509_ORGANIZATIONAL_UNIT),
        common_name: attribute(subject, &oid_registry::OID_X509_COMMON_NAME),
        not_before,
        not_after,
        status,
        is_ca: basic.as_ref().is_some_and(|b| b.value.ca),
        path_len_constraint: basic.and_then(|b| b.value.path_len_constraint),
        key_usage,
        extended_key_usage,
        subject_alt_names,
        hpke_public_key: hpke_key(&cert)?,
    })
}

fn attribute(name: &X509Name<'_>, oid: &Oid<'_>) -> Option<String> {
    name.iter_by_oid(oid)
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_owned)
}

/// The HPKE key extension's 32 bytes as hex; an error if the extension is there but malformed,
/// because a node would then refuse to seal to this certificate.
fn hpke_key(cert: &X509Certificate<'_>) -> anyhow::Result<Option<String>> {
    let oid = Oid::from(vir_shared::tls::HPKE_KEY_OID)
        .map_err(|_| anyhow::anyhow!("the HPKE key OID is not encodable"))?;
    match cert.extensions().iter().find(|ext| ext.oid == oid) {
        None => Ok(None),
        Some(ext) => match ext.value {
            [0x04, 0x20, key @ ..] if key.len() == 32 => Ok(Some(hex::encode(key))),
            _ => bail!("the HPKE key extension is not an OCTET STRING of 32 bytes"),
        },
    }
}

fn general_name(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::DNSName(dns) => format!("DNS:{dns}"),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => <[u8; 4]>::try_from(*bytes)
                .map_or_else(|_| "IP:?".to_owned(), |b| format!("IP:{}", IpAddr::from(b))),
            16 => <[u8; 16]>::try_from(*bytes)
                .map_or_else(|_| "IP:?".to_owned(), |b| format!("IP:{}", IpAddr::from(b))),
            _ => format!("IP:{}", hex::encode(bytes)),
        },
        GeneralName::RFC822Name(mail) => format!("email:{mail}"),
        GeneralName::URI(uri) => format!("URI:{uri}"),
        other => format!("{other:?}"),
    }
}

fn to_chrono(timestamp: i64) -> anyhow::Result<DateTime<Utc>> {
    DateTime::from_timestamp(timestamp, 0)
        .with_context(|| format!("validity time {timestamp} out of range"))
}

impl fmt::Display for CertSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_owned());
        let list = |v: &[String]| {
            if v.is_empty() {
                "(none)".to_owned()
            } else {
                v.join(", ")
            }
        };
        writeln!(f, "subject:      {}", self.subject)?;
        writeln!(f, "issuer:       {}", self.issuer)?;
        writeln!(f, "OIN:          {}", or_none(&self.oin))?;
        writeln!(
            f,
            "validity:     {} .. {} ({})",
            self.not_before.format("%Y-%m-%d %H:%M:%SZ"),
            self.not_after.format("%Y-%m-%d %H:%M:%SZ"),
            self.status
        )?;
        let ca = match (self.is_ca, self.path_len_constraint) {
            (false, _) => "no".to_owned(),
            (true, Some(n)) => format!("yes, path length {n}"),
            (true, None) => "yes, unconstrained".to_owned(),
        };
        writeln!(f, "CA:           {ca}")?;
        let key_usage: Vec<String> = self.key_usage.iter().map(|s| (*s).to_owned()).collect();
        writeln!(f, "key usage:    {}", list(&key_usage))?;
        writeln!(f, "ext. usage:   {}", list(&self.extended_key_usage))?;
        writeln!(f, "alt. names:   {}", list(&self.subject_alt_names))?;
        writeln!(f, "serial:       {}", self.serial)?;
        match &self.hpke_public_key {
            Some(key) => write!(f, "HPKE key:     present ({key})"),
            None => write!(f, "HPKE key:     absent"),
        }
    }
}
