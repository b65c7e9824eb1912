//! TLS server setup (openssl): a certificate and key from files, or in dev mode a
//! self-signed one generated at start (browsers and TURN clients that verify will
//! refuse it; turnutils and test peers do not verify).

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509NameBuilder, X509};
use std::path::Path;
use std::sync::Arc;

/// A self-signed P-256 certificate for `localhost` and 127.0.0.1/::1, valid a year.
pub fn self_signed(common_name: &str) -> Result<(X509, PKey<Private>), openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(365)?);
    b.set_not_before(&from)?;
    b.set_not_after(&until)?;
    let san = SubjectAlternativeName::new().dns("localhost").ip("127.0.0.1").ip("::1").build(&b.x509v3_context(None, None))?;
    b.append_extension(san)?;
    b.sign(&key, MessageDigest::sha256())?;
    Ok((b.build(), key))
}

/// A TLS 1.2+ acceptor from PEM files, or a generated certificate when both are None.
pub fn acceptor(cert: Option<&Path>, key: Option<&Path>) -> Result<Arc<SslAcceptor>, String> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).map_err(|e| e.to_string())?;
    match (cert, key) {
        (Some(c), Some(k)) => {
            b.set_certificate_chain_file(c).map_err(|e| format!("{}: {e}", c.display()))?;
            b.set_private_key_file(k, SslFiletype::PEM).map_err(|e| format!("{}: {e}", k.display()))?;
        }
        (None, None) => {
            let (c, k) = self_signed("mediad").map_err(|e| e.to_string())?;
            b.set_certificate(&c).map_err(|e| e.to_string())?;
            b.set_private_key(&k).map_err(|e| e.to_string())?;
            tracing::warn!("TLS: no cert/pkey configured, using a generated self-signed certificate (dev mode)");
        }
        _ => return Err("TLS needs both `cert` and `pkey`".into()),
    }
    b.check_private_key().map_err(|e| format!("certificate and key do not match: {e}"))?;
    Ok(Arc::new(b.build()))
}
