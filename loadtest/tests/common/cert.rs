//! A throwaway self-signed certificate for `localhost` and `127.0.0.1`, made at test time with
//! nothing but rustls: a random Ed25519 key (rustls/ring load a bare PKCS#8 v1 seed), its public
//! key from rustls' `SigningKey::public_key`, a hand-written DER `TBSCertificate`, signed with the
//! same key. No CA flag, so webpki accepts it as an end-entity certificate that is also its own
//! trust anchor.

use std::sync::Arc;

use rustls::crypto::ring::sign::any_eddsa_type;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use rustls::SignatureScheme;

/// A certificate and its key, DER and PEM.
pub struct SelfSigned {
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The certificate, PEM (`CERTIFICATE`).
    pub cert_pem: String,
    /// The private key, PEM (`PRIVATE KEY`, PKCS#8).
    pub key_pem: String,
}

/// OID 1.3.101.112, Ed25519.
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// OID 2.5.4.3, commonName.
const OID_CN: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x03];
/// OID 2.5.29.17, subjectAltName.
const OID_SAN: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x11];

/// One DER TLV.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    match n {
        0..=0x7f => out.push(n as u8),
        0x80..=0xff => out.extend([0x81, n as u8]),
        _ => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// A DER SEQUENCE of already encoded parts.
fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// Generates a fresh certificate valid from 2000 to 2099 for `localhost` and `127.0.0.1`.
pub fn localhost() -> SelfSigned {
    // PKCS#8 v1 Ed25519 private key: fixed header, then the 32-byte seed.
    let seed: Vec<u8> = std::iter::repeat_with(|| fastrand::u8(..))
        .take(32)
        .collect();
    let pkcs8 = [
        &[
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ][..],
        &seed,
    ]
    .concat();
    let key: Arc<dyn rustls::sign::SigningKey> =
        any_eddsa_type(&PrivatePkcs8KeyDer::from(pkcs8.clone())).expect("Ed25519 key");
    let spki = key.public_key().expect("public key").as_ref().to_vec();

    let alg = seq(&[OID_ED25519]);
    let name = seq(&[&tlv(0x31, &seq(&[OID_CN, &tlv(0x0c, b"localhost")]))]);
    let mut serial = std::iter::repeat_with(|| fastrand::u8(..))
        .take(12)
        .collect::<Vec<u8>>();
    serial[0] = (serial[0] & 0x7f) | 0x01; // positive, no leading zero byte
    let validity = seq(&[
        &tlv(0x17, b"000101000000Z"),   // UTCTime 2000-01-01
        &tlv(0x18, b"20991231235959Z"), // GeneralizedTime 2099-12-31
    ]);
    let san = tlv(
        0x04,
        &seq(&[&tlv(0x82, b"localhost"), &tlv(0x87, &[127, 0, 0, 1])]),
    );
    let extensions = tlv(0xa3, &seq(&[&seq(&[OID_SAN, &san])]));
    let tbs = seq(&[
        &[0xa0, 0x03, 0x02, 0x01, 0x02], // version v3
        &tlv(0x02, &serial),
        &alg,
        &name,
        &validity,
        &name,
        &spki,
        &extensions,
    ]);
    let signer = key
        .choose_scheme(&[SignatureScheme::ED25519])
        .expect("Ed25519 signer");
    let signature = signer.sign(&tbs).expect("sign");
    let cert = seq(&[&tbs, &alg, &tlv(0x03, &[&[0u8][..], &signature].concat())]);
    SelfSigned {
        cert_pem: pem("CERTIFICATE", &cert),
        key_pem: pem("PRIVATE KEY", &pkcs8),
        cert_der: CertificateDer::from(cert),
    }
}

/// PEM armour with 64-column base64.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(c.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(c.get(2).copied().unwrap_or(0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
