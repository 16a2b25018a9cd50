//! Certificate revocation lists signed by the issuing CA of a [`DevPki`] (or of the federation's
//! own node CA, which has the same shape): what services load through `tls.crls`.

use std::path::Path;

use anyhow::{ensure, Context};
use chrono::{Duration, Utc};
use rcgen::{
    CertificateRevocationListParams, KeyIdMethod, RevocationReason, RevokedCertParams, SerialNumber,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::files;
use crate::pki::{asn1_time, DevPki};

/// How long a CRL says it is current: services warn about none of this, but a relying party
/// that enforces `nextUpdate` needs a new CRL within this time.
const CRL_VALIDITY_DAYS: i64 = 7;

impl DevPki {
    /// Writes to `out` (PEM) a CRL of the issuing CA that revokes the leaf certificates in
    /// `revoked` (each a `cert.pem` chain; its first certificate is the one revoked). An empty
    /// list makes an empty CRL, which is how a revocation is lifted.
    pub fn write_crl(&self, revoked: &[&Path], out: &Path) -> anyhow::Result<()> {
        let now = Utc::now();
        let mut revoked_certs = Vec::with_capacity(revoked.len());
        for path in revoked {
            revoked_certs.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&self.leaf_serial(path)?),
                revocation_time: asn1_time(now)?,
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            });
        }
        let params = CertificateRevocationListParams {
            this_update: asn1_time(now - Duration::minutes(5))?,
            next_update: asn1_time(now + Duration::days(CRL_VALIDITY_DAYS))?,
            // Seconds since the epoch only ever grow, as a CRL number must.
            crl_number: SerialNumber::from(u64::try_from(now.timestamp()).unwrap_or(0)),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.issuing).context("signing the CRL")?;
        files::write_public(out, crl.pem().context("encoding the CRL")?.as_bytes())
    }

    /// The serial number of the first certificate in `path`, which this PKI must have issued.
    fn leaf_serial(&self, path: &Path) -> anyhow::Result<Vec<u8>> {
        let der = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("reading {}", path.display()))?
            .next()
            .with_context(|| format!("{}: no certificate", path.display()))?
            .with_context(|| format!("{}: malformed PEM", path.display()))?;
        let (_, cert) = X509Certificate::from_der(&der)
            .with_context(|| format!("{}: unparseable certificate", path.display()))?;
        let issuing = files::read_to_string(&self.issuing_ca_path())?;
        let issuing = CertificateDer::from_pem_slice(issuing.as_bytes())
            .context("reading the issuing CA certificate")?;
        let (_, issuing) =
            X509Certificate::from_der(&issuing).context("parsing the issuing CA certificate")?;
        ensure!(
            cert.issuer() == issuing.subject(),
            "{} was not issued by this PKI's issuing CA ({})",
            path.display(),
            issuing.subject()
        );
        Ok(cert.raw_serial().to_vec())
    }
}
