//! The development certificate hierarchy: a PKIoverheid look-alike root → domain CA → issuing CA.
//!
//! Production chains run from "Staat der Nederlanden Private Root CA – G1" through the
//! "Private Services CA – G1" domain CA to a trust service provider's issuing CA
//! (domain.md "PKIoverheid-style certificates"). [`DevPki`] builds the same shape with fresh
//! ECDSA P-256 keys, so the services exercise the same chain lengths, path length constraints
//! and intermediates as they will in production.
//!
//! Files under the PKI directory:
//!
//! | file | contents |
//! | --- | --- |
//! | `root.pem`, `root.key` | the root certificate (what every service trusts) and its key |
//! | `domain-ca.pem`, `domain-ca.key` | the domain CA |
//! | `issuing-ca.pem`, `issuing-ca.key` | the issuing CA that signs every leaf |
//! | `<name>/cert.pem`, `<name>/key.pem` | a leaf: leaf + issuing CA + domain CA, and its key |
//!
//! Every key file has mode 0600.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context};
use chrono::{DateTime, Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::files;

const ROOT: &str = "root";
const DOMAIN_CA: &str = "domain-ca";
const ISSUING_CA: &str = "issuing-ca";

/// Object identifier of the X.520 `serialNumber` attribute, which carries the OIN.
pub(crate) const SERIAL_NUMBER_OID: [u64; 4] = [2, 5, 4, 5];

/// A PKIoverheid-style look-alike hierarchy: root (`"<prefix> Private Root CA - G1"`) → domain CA
/// (`"<prefix> Private Services CA - G1"`) → issuing CA (`"<prefix> TSP Issuing CA"`) → leaves.
/// ECDSA P-256. Files under `dir`: root.pem (+root.key), domain-ca.pem, issuing-ca.pem and keys,
/// all keys written with mode 0600.
pub struct DevPki {
    pub(crate) dir: PathBuf,
    /// Signs every leaf.
    pub(crate) issuing: Issuer<'static, KeyPair>,
    /// The issuing CA and then the domain CA, PEM: appended after each leaf in its `cert.pem`.
    pub(crate) intermediates_pem: String,
}

impl DevPki {
    /// Creates a fresh hierarchy in `dir` (created if missing). Refuses to overwrite an existing
    /// one, because every certificate issued from it would stop verifying; use [`DevPki::load`]
    /// or [`DevPki::load_or_create`] for a directory that may already hold one.
    pub fn create(dir: &Path, prefix: &str) -> anyhow::Result<DevPki> {
        let prefix = prefix.trim();
        ensure!(!prefix.is_empty(), "the PKI name prefix must not be empty");
        let root_path = dir.join(format!("{ROOT}.pem"));
        if root_path.exists() {
            bail!(
                "{} already exists; load the existing PKI or remove the directory first",
                root_path.display()
            );
        }
        files::create_dir(dir)?;

        let now = Utc::now();
        let since = now - Duration::days(1);

        // pathLenConstraint counts the CA certificates that may follow: root → domain → issuing.
        let root_params = ca_params(
            prefix,
            &format!("{prefix} Private Root CA - G1"),
            2,
            since,
            now + Duration::days(365 * 30),
        )?;
        let root_key = new_key()?;
        let root_cert = root_params
            .self_signed(&root_key)
            .context("signing the root certificate")?;
        write_ca(dir, ROOT, &root_cert.pem(), &root_key)?;
        let root = Issuer::new(root_params, root_key);

        let domain_params = ca_params(
            prefix,
            &format!("{prefix} Private Services CA - G1"),
            1,
            since,
            now + Duration::days(365 * 20),
        )?;
        let domain_key = new_key()?;
        let domain_cert = domain_params
            .signed_by(&domain_key, &root)
            .context("signing the domain CA certificate")?;
        write_ca(dir, DOMAIN_CA, &domain_cert.pem(), &domain_key)?;
        let domain = Issuer::new(domain_params, domain_key);

        let issuing_params = ca_params(
            &format!("{prefix} TSP"),
            &format!("{prefix} TSP Issuing CA"),
            0,
            since,
            now + Duration::days(365 * 10),
        )?;
        let issuing_key = new_key()?;
        let issuing_cert = issuing_params
            .signed_by(&issuing_key, &domain)
            .context("signing the issuing CA certificate")?;
        write_ca(dir, ISSUING_CA, &issuing_cert.pem(), &issuing_key)?;

        Ok(DevPki {
            dir: dir.to_owned(),
            issuing: Issuer::new(issuing_params, issuing_key),
            intermediates_pem: format!("{}{}", issuing_cert.pem(), domain_cert.pem()),
        })
    }

    /// Reloads a hierarchy written by [`DevPki::create`], so that more leaves can be issued.
    /// Only the issuing CA's key is read: it is the only one a leaf needs.
    pub fn load(dir: &Path) -> anyhow::Result<DevPki> {
        let root_path = dir.join(format!("{ROOT}.pem"));
        ensure!(
            root_path.is_file(),
            "{} not found: is {} a PKI directory made by `vir-certs dev-pki`?",
            root_path.display(),
            dir.display()
        );
        let issuing_pem = files::read_to_string(&dir.join(format!("{ISSUING_CA}.pem")))?;
        let domain_pem = files::read_to_string(&dir.join(format!("{DOMAIN_CA}.pem")))?;
        let key_path = dir.join(format!("{ISSUING_CA}.key"));
        let issuing_key = KeyPair::from_pem(&files::read_to_string(&key_path)?)
            .with_context(|| format!("{}: not a PKCS#8 private key", key_path.display()))?;

        let issuing_der = CertificateDer::from_pem_slice(issuing_pem.as_bytes())
            .with_context(|| format!("{}/{ISSUING_CA}.pem: no certificate", dir.display()))?;
        let (_, parsed) = X509Certificate::from_der(&issuing_der)
            .with_context(|| format!("{}/{ISSUING_CA}.pem: unparseable", dir.display()))?;
        ensure!(
            parsed.public_key().subject_public_key.data.as_ref() == issuing_key.public_key_raw(),
            "{} does not belong to the certificate in {ISSUING_CA}.pem",
            key_path.display()
        );
        let issuing = Issuer::from_ca_cert_der(&issuing_der, issuing_key)
            .with_context(|| format!("{}/{ISSUING_CA}.pem: not usable as issuer", dir.display()))?;

        Ok(DevPki {
            dir: dir.to_owned(),
            issuing,
            intermediates_pem: format!("{}{}", ensure_newline(issuing_pem), domain_pem),
        })
    }

    /// Loads the hierarchy in `dir` if there is one, else creates it with `prefix`.
    pub fn load_or_create(dir: &Path, prefix: &str) -> anyhow::Result<DevPki> {
        if dir.join(format!("{ROOT}.pem")).exists() {
            DevPki::load(dir)
        } else {
            DevPki::create(dir, prefix)
        }
    }

    /// The directory holding the hierarchy.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The root certificate every service trusts (`TlsPaths::ca`).
    pub fn root_path(&self) -> PathBuf {
        self.dir.join(format!("{ROOT}.pem"))
    }

    /// The domain CA ("Private Services CA - G1") certificate.
    pub fn domain_ca_path(&self) -> PathBuf {
        self.dir.join(format!("{DOMAIN_CA}.pem"))
    }

    /// The issuing CA certificate, which signs every leaf.
    pub fn issuing_ca_path(&self) -> PathBuf {
        self.dir.join(format!("{ISSUING_CA}.pem"))
    }
}

/// A fresh ECDSA P-256 key.
pub(crate) fn new_key() -> anyhow::Result<KeyPair> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("generating an ECDSA P-256 key")
}

/// Converts a chrono instant to the time type rcgen takes (whole seconds).
pub(crate) fn asn1_time(t: DateTime<Utc>) -> anyhow::Result<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp())
        .with_context(|| format!("{t} cannot be written in a certificate"))
}

/// `C=NL` as PrintableString, as X.520 requires for countryName.
pub(crate) fn country_nl() -> anyhow::Result<DnValue> {
    Ok(DnValue::PrintableString("NL".try_into()?))
}

fn ca_params(
    organisation: &str,
    common_name: &str,
    path_len: u8,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> anyhow::Result<CertificateParams> {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, country_nl()?);
    dn.push(DnType::OrganizationName, organisation);
    dn.push(DnType::CommonName, common_name);

    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.use_authority_key_identifier_extension = true;
    params.not_before = asn1_time(not_before)?;
    params.not_after = asn1_time(not_after)?;
    Ok(params)
}

fn write_ca(dir: &Path, stem: &str, cert_pem: &str, key: &KeyPair) -> anyhow::Result<()> {
    files::write_public(&dir.join(format!("{stem}.pem")), cert_pem.as_bytes())?;
    files::write_secret(
        &dir.join(format!("{stem}.key")),
        key.serialize_pem().as_bytes(),
    )
}

fn ensure_newline(mut pem: String) -> String {
    if !pem.ends_with('\n') {
        pem.push('\n');
    }
    pem
}
