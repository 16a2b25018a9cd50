//! Leaf certificates issued by a [`DevPki`]: services, regional nodes and partner organisations.
//!
//! Every leaf subject is `C=NL, O=<organisation>, [OU=<region>,] CN=<host or organisation>,
//! serialNumber=<OIN>`, the shape `vir_shared::tls::parse_leaf` reads. The key is a fresh
//! ECDSA P-256 key; `cert.pem` holds the leaf followed by the issuing and domain CA (never the
//! root, which the peer already trusts).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context};
use chrono::{DateTime, Duration, Utc};
use hpke::kem::X25519HkdfSha256;
use hpke::{Kem, Serializable};
use rand::RngCore;
use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType,
};
use vir_shared::ids::{Oin, RegionCode};
use vir_shared::tls::{TlsPaths, HPKE_KEY_OID};

use crate::files;
use crate::pki::{asn1_time, country_nl, new_key, DevPki, SERIAL_NUMBER_OID};

/// How long a leaf is valid by default: from a day ago (clock skew) to a year ahead.
const LEAF_BACKDATE_DAYS: i64 = 1;
const LEAF_VALIDITY_DAYS: i64 = 365;

/// A node's TLS identity plus the HPKE key pair whose public half its certificate carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCredentials {
    pub tls: TlsPaths,
    /// Hex-encoded X25519 private key, mode 0600; read it with [`crate::read_hpke_private_key`].
    pub hpke_private_key: PathBuf,
    /// The X25519 public key, as certified in the node's certificate.
    pub hpke_public_key: [u8; 32],
}

/// Everything that differs between the kinds of leaf.
struct LeafSpec<'a> {
    organisation: &'a str,
    organisational_unit: Option<&'a str>,
    common_name: &'a str,
    oin: &'a Oin,
    subject_alt_names: Vec<SanType>,
    key_usages: Vec<KeyUsagePurpose>,
    extended_key_usages: Vec<ExtendedKeyUsagePurpose>,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    custom_extensions: Vec<CustomExtension>,
}

impl DevPki {
    /// Server+client leaf for a service (hub, pseudonymiser): EKU serverAuth+clientAuth,
    /// KU digitalSignature+keyEncipherment, SAN DNS host + "localhost" + IP 127.0.0.1.
    pub fn issue_service(
        &self,
        name: &str,
        organisation: &str,
        oin: &Oin,
        host: &str,
    ) -> anyhow::Result<TlsPaths> {
        let (not_before, not_after) = default_validity();
        self.issue_leaf(
            name,
            LeafSpec {
                organisation,
                organisational_unit: None,
                common_name: host,
                oin,
                subject_alt_names: server_names(host)?,
                key_usages: server_key_usages(),
                extended_key_usages: vec![
                    ExtendedKeyUsagePurpose::ServerAuth,
                    ExtendedKeyUsagePurpose::ClientAuth,
                ],
                not_before,
                not_after,
                custom_extensions: Vec::new(),
            },
        )
    }

    /// Node leaf: like [`DevPki::issue_service`] plus subject OU = region code, plus a fresh
    /// X25519 HPKE key pair whose public key goes into a non-critical extension with OID
    /// [`HPKE_KEY_OID`] (extnValue = DER OCTET STRING of the 32 bytes); the private key is
    /// written hex-encoded to `<dir>/<name>/hpke.key` (0600).
    pub fn issue_node(
        &self,
        name: &str,
        region: &RegionCode,
        oin: &Oin,
        host: &str,
    ) -> anyhow::Result<NodeCredentials> {
        let (hpke_private, hpke_public) = new_hpke_key_pair();
        let extension = hpke_extension(&hpke_public);

        let organisation = node_organisation(region);
        let (not_before, not_after) = default_validity();
        let tls = self.issue_leaf(
            name,
            LeafSpec {
                organisation: &organisation,
                organisational_unit: Some(region.as_str()),
                common_name: host,
                oin,
                subject_alt_names: server_names(host)?,
                key_usages: server_key_usages(),
                extended_key_usages: vec![
                    ExtendedKeyUsagePurpose::ServerAuth,
                    ExtendedKeyUsagePurpose::ClientAuth,
                ],
                not_before,
                not_after,
                custom_extensions: vec![extension],
            },
        )?;

        let hpke_private_key = files::leaf_dir(&self.dir, name)?.join("hpke.key");
        // No trailing newline: the file is exactly the 64 hex digits.
        files::write_secret(&hpke_private_key, hex::encode(hpke_private).as_bytes())?;
        Ok(NodeCredentials {
            tls,
            hpke_private_key,
            hpke_public_key: hpke_public,
        })
    }

    /// Organisation client certificate (a school, JGZ, social-work org calling a node):
    /// EKU clientAuth only, KU digitalSignature. CN is the organisation name.
    pub fn issue_client(
        &self,
        name: &str,
        organisation: &str,
        oin: &Oin,
    ) -> anyhow::Result<TlsPaths> {
        let (not_before, not_after) = default_validity();
        self.issue_client_valid(name, organisation, oin, not_before, not_after)
    }

    /// [`DevPki::issue_client`] with an explicit validity window, for expired and not-yet-valid
    /// certificate tests.
    pub fn issue_client_valid(
        &self,
        name: &str,
        organisation: &str,
        oin: &Oin,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> anyhow::Result<TlsPaths> {
        self.issue_leaf(
            name,
            LeafSpec {
                organisation,
                organisational_unit: None,
                common_name: organisation,
                oin,
                subject_alt_names: Vec::new(),
                key_usages: vec![KeyUsagePurpose::DigitalSignature],
                extended_key_usages: vec![ExtendedKeyUsagePurpose::ClientAuth],
                not_before,
                not_after,
                custom_extensions: Vec::new(),
            },
        )
    }

    fn issue_leaf(&self, name: &str, spec: LeafSpec<'_>) -> anyhow::Result<TlsPaths> {
        let dir = files::leaf_dir(&self.dir, name)?;
        ensure!(
            !spec.organisation.trim().is_empty(),
            "certificate {name}: the organisation must not be empty"
        );
        ensure!(
            spec.not_before < spec.not_after,
            "certificate {name}: not_before {} is not before not_after {}",
            spec.not_before,
            spec.not_after
        );

        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, country_nl()?);
        dn.push(DnType::OrganizationName, spec.organisation);
        if let Some(unit) = spec.organisational_unit {
            dn.push(DnType::OrganizationalUnitName, unit);
        }
        dn.push(DnType::CommonName, spec.common_name);
        // X.520 serialNumber is a PrintableString; an OIN is 20 digits, so it always fits.
        dn.push(
            DnType::CustomDnType(SERIAL_NUMBER_OID.to_vec()),
            DnValue::PrintableString(spec.oin.as_str().try_into()?),
        );

        let mut params = CertificateParams::default();
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.subject_alt_names = spec.subject_alt_names;
        params.key_usages = spec.key_usages;
        params.extended_key_usages = spec.extended_key_usages;
        params.custom_extensions = spec.custom_extensions;
        params.use_authority_key_identifier_extension = true;
        params.not_before = asn1_time(spec.not_before)?;
        params.not_after = asn1_time(spec.not_after)?;

        let key = new_key()?;
        let cert = params
            .signed_by(&key, &self.issuing)
            .with_context(|| format!("signing certificate {name}"))?;

        files::create_dir(&dir)?;
        let paths = TlsPaths::new(dir.join("cert.pem"), dir.join("key.pem"), self.root_path());
        files::write_secret(&paths.key, key.serialize_pem().as_bytes())?;
        let chain = format!("{}{}", cert.pem(), self.intermediates_pem);
        files::write_public(&paths.cert, chain.as_bytes())?;
        Ok(paths)
    }
}

/// Reads a hex HPKE private key file written by [`DevPki::issue_node`].
pub fn read_hpke_private_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    let text = files::read_to_string(path)?;
    let bytes = hex::decode(text.trim())
        .with_context(|| format!("{}: not a hex-encoded key", path.display()))?;
    bytes.as_slice().try_into().map_err(|_| {
        anyhow::anyhow!(
            "{}: an X25519 private key has 32 bytes, found {}",
            path.display(),
            bytes.len()
        )
    })
}

/// A 20-digit test OIN: "00000099" followed by `n` zero-padded to 12 digits (`n` is taken
/// modulo 10^12 so the result always has 20 digits).
pub fn test_oin(n: u64) -> Oin {
    let digits = format!("{}{:012}", Oin::TEST_PREFIX, n % 1_000_000_000_000);
    digits
        .parse()
        .expect("a test prefix and 12 digits form a 20-digit OIN")
}

/// The non-critical extension that certifies a node's HPKE public key: OID [`HPKE_KEY_OID`],
/// extnValue the DER OCTET STRING of the 32 bytes.
pub(crate) fn hpke_extension(public: &[u8; 32]) -> CustomExtension {
    let mut content = Vec::with_capacity(34);
    content.extend_from_slice(&[0x04, 0x20]);
    content.extend_from_slice(public);
    CustomExtension::from_oid_content(HPKE_KEY_OID, content)
}

/// A fresh X25519 key pair for HPKE (RFC 9180 DeriveKeyPair over 32 random bytes).
///
/// hpke 0.13 takes a rand_core 0.9 RNG while this workspace uses rand 0.8, so the key is
/// derived from fresh OS randomness rather than generated with `Kem::gen_keypair`.
pub(crate) fn new_hpke_key_pair() -> ([u8; 32], [u8; 32]) {
    let mut ikm = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut ikm);
    let (private, public) = X25519HkdfSha256::derive_keypair(&ikm);
    let mut private_bytes = [0u8; 32];
    private_bytes.copy_from_slice(&private.to_bytes());
    let mut public_bytes = [0u8; 32];
    public_bytes.copy_from_slice(&public.to_bytes());
    (private_bytes, public_bytes)
}

fn default_validity() -> (DateTime<Utc>, DateTime<Utc>) {
    let now = Utc::now();
    (
        now - Duration::days(LEAF_BACKDATE_DAYS),
        now + Duration::days(LEAF_VALIDITY_DAYS),
    )
}

fn server_key_usages() -> Vec<KeyUsagePurpose> {
    vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ]
}

/// SANs for a server: the host itself (DNS name or IP address), and `localhost` and 127.0.0.1 so
/// the same certificate serves the local federation and tests.
fn server_names(host: &str) -> anyhow::Result<Vec<SanType>> {
    let host = host.trim();
    ensure!(!host.is_empty(), "the host name must not be empty");
    let mut names = Vec::new();
    let mut push = |san: SanType| {
        if !names.contains(&san) {
            names.push(san);
        }
    };
    match host.parse::<IpAddr>() {
        Ok(ip) => push(SanType::IpAddress(ip)),
        Err(_) => {
            push(SanType::DnsName(host.try_into().with_context(|| {
                format!("host {host:?} is not an ASCII DNS name")
            })?))
        }
    }
    push(SanType::DnsName("localhost".try_into()?));
    push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    Ok(names)
}

/// "Verwijsindex Drenthe" for a shipped region, "Verwijsindex <code>" for a configured one.
fn node_organisation(region: &RegionCode) -> String {
    let name = vir_shared::regions::ALL
        .iter()
        .find(|r| r.code == region.as_str())
        .map_or(region.as_str(), |r| r.name);
    format!("Verwijsindex {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_oins_are_20_digit_test_oins() {
        assert_eq!(test_oin(42).as_str(), "00000099000000000042");
        assert!(test_oin(u64::MAX).is_test());
    }

    #[test]
    fn server_names_deduplicate_localhost() {
        assert_eq!(server_names("localhost").unwrap().len(), 2);
        assert_eq!(server_names("127.0.0.1").unwrap().len(), 2);
        assert_eq!(server_names("hub.vir.test").unwrap().len(), 3);
        assert!(server_names(" ").is_err());
    }

    #[test]
    fn node_organisation_uses_the_region_name() {
        let drenthe: RegionCode = "drenthe".parse().unwrap();
        assert_eq!(node_organisation(&drenthe), "Verwijsindex Drenthe");
        let other: RegionCode = "twente".parse().unwrap();
        assert_eq!(node_organisation(&other), "Verwijsindex twente");
    }
}
