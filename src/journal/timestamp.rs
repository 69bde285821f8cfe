//! RFC 3161 time-stamps of a journal's head: a time-stamping authority (TSA) attests that
//! the journal, as it stood, existed at a time it states and signs.
//!
//! The time-stamped bytes are the message the ed25519 signature covers,
//! `firedrill-journal-v1\n{records}\n{head}` ([`Signature::message`]): the request carries
//! their SHA-256, so the token binds both the record count and the head hash. The token (a
//! CMS SignedData holding the TSTInfo, DER) is kept as `journal.tst` beside the journal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::asn1::{Any, BitString, Int, ObjectIdentifier, OctetString, Utf8StringRef};
use der::{Decode, Encode, Enumerated, Sequence, Tag, Tagged};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::Signature;

/// How long a TSA may take to connect and answer, in all.
pub const TIMEOUT: Duration = Duration::from_secs(20);
/// The largest reply read from a TSA; a token is a few kilobytes.
const MAX_REPLY: usize = 1 << 20;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// Why a journal could not be time-stamped or its token not checked.
#[derive(Debug, thiserror::Error)]
pub enum TimestampError {
    /// The TSA's address is not an http or https URL.
    #[error("`{0}` is not an http or https URL")]
    Url(String),
    /// The TSA could not be reached, or did not answer in time.
    #[error("cannot reach the time-stamping authority")]
    Request(#[source] reqwest::Error),
    /// The TSA answered with an HTTP error.
    #[error("the time-stamping authority answered HTTP {0}")]
    Http(u16),
    /// The TSA's answer is not a TimeStampResp.
    #[error("the time-stamping authority's answer is not an RFC 3161 reply")]
    Reply(#[source] der::Error),
    /// The TSA refused the request.
    #[error("the time-stamping authority refused the request: {0}")]
    Refused(String),
    /// The token is not a well-formed RFC 3161 token.
    #[error("malformed time-stamp token: {0}")]
    Malformed(String),
    /// The token does not answer the request that was sent.
    #[error("the time-stamping authority's token does not answer the request: its {0} differs")]
    Mismatch(&'static str),
    /// A token or certificate file could not be read or written.
    #[error("cannot access {0}")]
    Io(PathBuf, #[source] std::io::Error),
    /// The certificate file holds no X.509 certificate.
    #[error("{0} is not an X.509 certificate in PEM or DER form")]
    Certificate(PathBuf),
    /// The token's signature does not verify with the certificate.
    #[error("the token's signature does not verify: {0}")]
    Signature(String),
}

impl TimestampError {
    /// Whether the error is the user's input (a URL or a certificate file), not the TSA.
    pub fn is_user_input(&self) -> bool {
        matches!(self, Self::Url(_) | Self::Certificate(_) | Self::Io(..))
    }
}

#[derive(Clone, Copy, Debug, Enumerated, Eq, PartialEq)]
#[asn1(type = "INTEGER")]
#[repr(u8)]
enum TspVersion {
    V1 = 1,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TimeStampReq {
    version: TspVersion,
    message_imprint: MessageImprint,
    #[asn1(optional = "true")]
    req_policy: Option<ObjectIdentifier>,
    #[asn1(optional = "true")]
    nonce: Option<u64>,
    #[asn1(default = "Default::default")]
    cert_req: bool,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct PkiStatusInfo {
    status: u8,
    #[asn1(optional = "true")]
    status_string: Option<Vec<Any>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitString>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    #[asn1(optional = "true")]
    time_stamp_token: Option<ContentInfo>,
}

/// TSTInfo (RFC 3161 section 2.4.2). `genTime` is read as a raw value: TSAs may give
/// fractions of a second, which der's `GeneralizedTime` refuses.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TstInfo {
    version: TspVersion,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: Any,
    #[asn1(optional = "true")]
    accuracy: Option<Any>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<x509_cert::ext::Extensions>,
}

/// A time-stamp token, read: what its TSTInfo says and the CMS envelope that signs it.
#[derive(Clone, Debug)]
pub struct Token {
    /// The time the TSA attests, as it wrote it, in RFC 3339 form.
    pub gen_time: String,
    /// The TSA's name: the token's `tsa` field, or else the subject of the signing
    /// certificate the token carries.
    pub tsa: Option<String>,
    /// The SHA-256 the token time-stamps.
    pub imprint: Vec<u8>,
    nonce: Option<Int>,
    tst_info: Vec<u8>,
    signed_data: SignedData,
}

/// The bytes a time-stamp of `records` records ending in `head` covers, hashed: the SHA-256
/// of the message the signature covers.
pub fn imprint(records: u64, head: &str) -> [u8; 32] {
    Sha256::digest(Signature::message(records, head)).into()
}

/// Where the token of a journal is kept: `journal.tst` beside `journal.jsonl`.
pub fn token_path(journal: &Path) -> PathBuf {
    journal.with_extension("tst")
}

/// Checks that `url` can name a TSA, before a run that would ask it.
pub fn check_url(url: &str) -> Result<(), TimestampError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(()),
        _ => Err(TimestampError::Url(url.to_owned())),
    }
}

fn request(imprint: &[u8; 32], nonce: u64) -> Vec<u8> {
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: ID_SHA256,
                parameters: None,
            },
            hashed_message: OctetString::new(imprint.as_slice()).expect("32 bytes fit"),
        },
        req_policy: None,
        nonce: Some(nonce),
        cert_req: true,
    };
    req.to_der().expect("a request of fixed shape encodes")
}

/// Reads a TSA's reply to the request for `imprint` with `nonce`; returns the token's DER.
fn read_reply(reply: &[u8], imprint: &[u8; 32], nonce: u64) -> Result<Vec<u8>, TimestampError> {
    let resp = TimeStampResp::from_der(reply).map_err(TimestampError::Reply)?;
    // 0 granted, 1 granted with modifications; the others refuse.
    if resp.status.status > 1 {
        let what = match resp.status.status {
            2 => "rejection",
            3 => "waiting",
            4 => "revocation warning",
            5 => "revocation notification",
            _ => "unknown status",
        };
        let text: Vec<String> = resp
            .status
            .status_string
            .iter()
            .flatten()
            .filter_map(|s| s.decode_as::<Utf8StringRef<'_>>().ok())
            .map(|s| s.to_string())
            .collect();
        return Err(TimestampError::Refused(if text.is_empty() {
            what.to_owned()
        } else {
            format!("{what} ({})", text.join("; "))
        }));
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| TimestampError::Malformed("a granted reply holds no token".into()))?;
    let der = token
        .to_der()
        .map_err(|e| TimestampError::Malformed(e.to_string()))?;
    let read = Token::from_der(&der)?;
    if read.imprint != imprint {
        return Err(TimestampError::Mismatch("message imprint"));
    }
    if read.nonce.as_ref().and_then(int_value) != Some(u128::from(nonce)) {
        return Err(TimestampError::Mismatch("nonce"));
    }
    Ok(der)
}

/// Asks the TSA at `url` to time-stamp the journal's head (`records` records ending in
/// `head`), and writes the token to `journal.tst` beside `journal`.
pub fn stamp_head(
    journal: &Path,
    url: &str,
    records: u64,
    head: &str,
) -> Result<Token, TimestampError> {
    check_url(url)?;
    let imprint = imprint(records, head);
    let mut nonce = [0u8; 8];
    // A nonce only has to be unpredictable enough to tell replies apart; without OS
    // randomness, a fastrand one still does that.
    let nonce = match getrandom::fill(&mut nonce) {
        Ok(()) => u64::from_be_bytes(nonce),
        Err(_) => fastrand::u64(..),
    } >> 1;
    let body = request(&imprint, nonce);
    let reply = post(url, body)?;
    let der = read_reply(&reply, &imprint, nonce)?;
    let path = token_path(journal);
    std::fs::write(&path, &der).map_err(|e| TimestampError::Io(path, e))?;
    Token::from_der(&der)
}

/// POSTs a request to the TSA. The blocking client runs on a thread of its own, so that it
/// may be called from inside the run's async runtime too.
fn post(url: &str, body: Vec<u8>) -> Result<Vec<u8>, TimestampError> {
    crate::tls::install_crypto_provider();
    std::thread::scope(|s| {
        s.spawn(|| {
            let client = reqwest::blocking::Client::builder()
                .timeout(TIMEOUT)
                .connect_timeout(TIMEOUT)
                .build()
                .map_err(|e| TimestampError::Request(e.without_url()))?;
            let resp = client
                .post(url)
                .header(http::header::CONTENT_TYPE, "application/timestamp-query")
                .header(http::header::ACCEPT, "application/timestamp-reply")
                .body(body)
                .send()
                .map_err(|e| TimestampError::Request(e.without_url()))?;
            if !resp.status().is_success() {
                return Err(TimestampError::Http(resp.status().as_u16()));
            }
            let bytes = resp
                .bytes()
                .map_err(|e| TimestampError::Request(e.without_url()))?;
            if bytes.len() > MAX_REPLY {
                return Err(TimestampError::Malformed(
                    "the reply is larger than 1 MiB".into(),
                ));
            }
            Ok(bytes.to_vec())
        })
        .join()
        .unwrap_or_else(|_| {
            Err(TimestampError::Malformed(
                "the request thread failed".into(),
            ))
        })
    })
}

impl Token {
    /// Reads a token file (`journal.tst`).
    pub fn read(path: &Path) -> Result<Self, TimestampError> {
        let der = std::fs::read(path).map_err(|e| TimestampError::Io(path.to_owned(), e))?;
        Self::from_der(&der)
    }

    /// Reads a token: a ContentInfo holding a SignedData whose content is a TSTInfo.
    pub fn from_der(der: &[u8]) -> Result<Self, TimestampError> {
        let bad = |e: der::Error| TimestampError::Malformed(e.to_string());
        let info = ContentInfo::from_der(der).map_err(bad)?;
        if info.content_type != ID_SIGNED_DATA {
            return Err(TimestampError::Malformed(
                "the token is not a CMS SignedData".into(),
            ));
        }
        let signed_data: SignedData = info.content.decode_as().map_err(bad)?;
        let encap = &signed_data.encap_content_info;
        if encap.econtent_type != ID_CT_TST_INFO {
            return Err(TimestampError::Malformed(
                "the signed content is not a TSTInfo".into(),
            ));
        }
        let content = encap
            .econtent
            .as_ref()
            .ok_or_else(|| TimestampError::Malformed("the token holds no TSTInfo".into()))?;
        let tst_info = content
            .decode_as::<OctetString>()
            .map_err(bad)?
            .into_bytes();
        let tst = TstInfo::from_der(&tst_info).map_err(bad)?;
        if tst.message_imprint.hash_algorithm.oid != ID_SHA256 {
            return Err(TimestampError::Malformed(
                "the token's imprint is not a SHA-256".into(),
            ));
        }
        let tsa = match &tst.tsa {
            Some(GeneralName::DirectoryName(name)) => Some(name.to_string()),
            Some(GeneralName::DnsName(name)) => Some(name.to_string()),
            Some(GeneralName::UniformResourceIdentifier(uri)) => Some(uri.to_string()),
            Some(_) => None,
            None => None,
        }
        .or_else(|| {
            signer_certificate(&signed_data).map(|c| c.tbs_certificate().subject().to_string())
        });
        Ok(Self {
            gen_time: gen_time(&tst.gen_time)?,
            tsa,
            imprint: tst.message_imprint.hashed_message.as_bytes().to_vec(),
            nonce: tst.nonce,
            tst_info: tst_info.into_vec(),
            signed_data,
        })
    }

    /// Checks the token's CMS signature with the TSA's certificate: the signed attributes
    /// name a TSTInfo, their message digest is the TSTInfo's, and the signature over them
    /// verifies with the certificate's key.
    pub fn verify_signature(&self, cert: &Certificate) -> Result<(), TimestampError> {
        let fail = |s: &str| TimestampError::Signature(s.to_owned());
        let signers = &self.signed_data.signer_infos.0;
        let [signer] = signers.as_slice() else {
            return Err(fail("the token does not have exactly one signer"));
        };
        let attrs = signer
            .signed_attrs
            .as_ref()
            .ok_or_else(|| fail("the signer has no signed attributes"))?;
        let attr = |oid: ObjectIdentifier| {
            attrs
                .iter()
                .find(|a| a.oid == oid)
                .and_then(|a| a.values.iter().next())
        };
        let content_type = attr(ID_CONTENT_TYPE)
            .and_then(|v| v.decode_as::<ObjectIdentifier>().ok())
            .ok_or_else(|| fail("the signed attributes name no content type"))?;
        if content_type != ID_CT_TST_INFO {
            return Err(fail("the signed attributes name another content type"));
        }
        let digest = attr(ID_MESSAGE_DIGEST)
            .and_then(|v| v.decode_as::<OctetString>().ok())
            .ok_or_else(|| fail("the signed attributes hold no message digest"))?;
        let algorithm = digest_algorithm(&signer.digest_alg.oid)
            .ok_or_else(|| fail("the signer's digest algorithm is not SHA-2"))?;
        if ring::digest::digest(algorithm, &self.tst_info).as_ref() != digest.as_bytes() {
            return Err(fail(
                "the message digest attribute is not the digest of the TSTInfo",
            ));
        }
        // The signature covers the DER of the attributes as a SET, not their [0] form.
        let signed = attrs
            .to_der()
            .map_err(|e| TimestampError::Malformed(e.to_string()))?;
        let spki = cert.tbs_certificate().subject_public_key_info();
        let key = spki.subject_public_key.raw_bytes();
        let scheme = verification_algorithm(
            &spki.algorithm,
            &signer.signature_algorithm.oid,
            &signer.digest_alg.oid,
        )
        .ok_or_else(|| fail("the signature algorithm is not RSA PKCS#1 or ECDSA P-256/P-384"))?;
        ring::signature::UnparsedPublicKey::new(scheme, key)
            .verify(&signed, signer.signature.as_bytes())
            .map_err(|_| fail("it was not made with the given certificate's key"))
    }
}

/// The certificate of the token's signer, when the token carries it (certReq).
fn signer_certificate(sd: &SignedData) -> Option<&Certificate> {
    use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
    use cms::signed_data::SignerIdentifier;
    let signer = sd.signer_infos.0.iter().next()?;
    let certs = sd.certificates.as_ref()?.0.iter().filter_map(|c| match c {
        CertificateChoices::Certificate(c) => Some(c),
        CertificateChoices::Other(_) => None,
    });
    let mut certs = certs.collect::<Vec<_>>().into_iter();
    match &signer.sid {
        SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer,
            serial_number,
        }) => certs.find(|c| {
            c.tbs_certificate().issuer() == issuer
                && c.tbs_certificate().serial_number() == serial_number
        }),
        SignerIdentifier::SubjectKeyIdentifier(_) => certs.next(),
    }
}

fn digest_algorithm(oid: &ObjectIdentifier) -> Option<&'static ring::digest::Algorithm> {
    match *oid {
        ID_SHA256 => Some(&ring::digest::SHA256),
        ID_SHA384 => Some(&ring::digest::SHA384),
        ID_SHA512 => Some(&ring::digest::SHA512),
        _ => None,
    }
}

/// ring's verification algorithm for a key and the signer's signature and digest
/// algorithms. OpenSSL names the key's algorithm (rsaEncryption) as the signature
/// algorithm, so the digest algorithm decides the hash then.
fn verification_algorithm(
    key: &AlgorithmIdentifierOwned,
    signature: &ObjectIdentifier,
    digest: &ObjectIdentifier,
) -> Option<&'static dyn ring::signature::VerificationAlgorithm> {
    use ring::signature as s;
    let hash = match *signature {
        SHA256_WITH_RSA | ECDSA_SHA256 => ID_SHA256,
        SHA384_WITH_RSA | ECDSA_SHA384 => ID_SHA384,
        SHA512_WITH_RSA | ECDSA_SHA512 => ID_SHA512,
        RSA_ENCRYPTION | EC_PUBLIC_KEY => *digest,
        _ => return None,
    };
    if key.oid == RSA_ENCRYPTION {
        return match hash {
            ID_SHA256 => Some(&s::RSA_PKCS1_2048_8192_SHA256),
            ID_SHA384 => Some(&s::RSA_PKCS1_2048_8192_SHA384),
            ID_SHA512 => Some(&s::RSA_PKCS1_2048_8192_SHA512),
            _ => None,
        };
    }
    if key.oid != EC_PUBLIC_KEY {
        return None;
    }
    let curve = key
        .parameters
        .as_ref()?
        .decode_as::<ObjectIdentifier>()
        .ok()?;
    match (curve, hash) {
        (SECP256R1, ID_SHA256) => Some(&s::ECDSA_P256_SHA256_ASN1),
        (SECP256R1, ID_SHA384) => Some(&s::ECDSA_P256_SHA384_ASN1),
        (SECP384R1, ID_SHA256) => Some(&s::ECDSA_P384_SHA256_ASN1),
        (SECP384R1, ID_SHA384) => Some(&s::ECDSA_P384_SHA384_ASN1),
        _ => None,
    }
}

/// An INTEGER's value, when it is non-negative and fits.
fn int_value(int: &Int) -> Option<u128> {
    let bytes = int.as_bytes();
    if bytes.first().is_some_and(|b| b & 0x80 != 0) || bytes.len() > 17 {
        return None;
    }
    let bytes = if bytes.len() == 17 {
        (bytes[0] == 0).then_some(&bytes[1..])?
    } else {
        bytes
    };
    Some(bytes.iter().fold(0u128, |n, b| (n << 8) | u128::from(*b)))
}

/// `YYYYMMDDHHMMSS[.fff]Z` as RFC 3339.
fn gen_time(value: &Any) -> Result<String, TimestampError> {
    let bad = || TimestampError::Malformed("genTime is not a UTC GeneralizedTime".into());
    if value.tag() != Tag::GeneralizedTime {
        return Err(bad());
    }
    let text = std::str::from_utf8(value.value()).map_err(|_| bad())?;
    let digits = text.strip_suffix('Z').ok_or_else(bad)?;
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.len() != 14
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let fraction = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    };
    Ok(format!(
        "{}-{}-{}T{}:{}:{}{fraction}Z",
        &whole[0..4],
        &whole[4..6],
        &whole[6..8],
        &whole[8..10],
        &whole[10..12],
        &whole[12..14]
    ))
}

/// Reads the TSA's certificate, PEM or DER.
pub fn read_certificate(path: &Path) -> Result<Certificate, TimestampError> {
    use der::DecodePem;
    let bytes = std::fs::read(path).map_err(|e| TimestampError::Io(path.to_owned(), e))?;
    Certificate::from_pem(&bytes)
        .or_else(|_| Certificate::from_der(&bytes))
        .map_err(|_| TimestampError::Certificate(path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_version_1_with_the_sha256_imprint_a_nonce_and_cert_req() {
        let imprint = imprint(3, &"a".repeat(64));
        let der = request(&imprint, 0x1234_5678);
        let req = TimeStampReq::from_der(&der).unwrap();
        assert_eq!(req.version, TspVersion::V1);
        assert_eq!(req.message_imprint.hash_algorithm.oid, ID_SHA256);
        assert_eq!(req.message_imprint.hashed_message.as_bytes(), imprint);
        assert_eq!(req.nonce, Some(0x1234_5678));
        assert!(req.cert_req);
        // The imprint is the SHA-256 of the signed message.
        let expected: [u8; 32] =
            Sha256::digest(format!("firedrill-journal-v1\n3\n{}", "a".repeat(64))).into();
        assert_eq!(imprint, expected);
    }

    #[test]
    fn a_refusal_is_named_with_the_tsa_text() {
        let resp = TimeStampResp {
            status: PkiStatusInfo {
                status: 2,
                status_string: Some(vec![
                    Any::encode_from(&der::asn1::Utf8StringRef::new("bad digest").unwrap())
                        .unwrap(),
                ]),
                fail_info: None,
            },
            time_stamp_token: None,
        };
        let err = read_reply(&resp.to_der().unwrap(), &[0; 32], 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the time-stamping authority refused the request: rejection (bad digest)"
        );
    }

    #[test]
    fn garbage_is_not_a_reply() {
        let err = read_reply(b"<html>busy</html>", &[0; 32], 1).unwrap_err();
        assert!(matches!(err, TimestampError::Reply(_)), "{err:?}");
        assert!(Token::from_der(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
    }

    #[test]
    fn gen_time_keeps_fractions_and_refuses_local_time() {
        let at = |s: &str| {
            Any::new(Tag::GeneralizedTime, s.as_bytes())
                .map_err(|e| TimestampError::Malformed(e.to_string()))
                .and_then(|a| gen_time(&a))
        };
        assert_eq!(at("20261207210512Z").unwrap(), "2026-12-07T21:05:12Z");
        assert_eq!(at("20261207210512.25Z").unwrap(), "2026-12-07T21:05:12.25Z");
        assert!(at("20261207210512").is_err());
    }

    #[test]
    fn nonces_compare_by_value() {
        assert_eq!(int_value(&Int::new(&[0x00, 0x80]).unwrap()), Some(0x80));
        assert_eq!(int_value(&Int::new(&[0x7f, 0x01]).unwrap()), Some(0x7f01));
        assert_eq!(int_value(&Int::new(&[0xff]).unwrap()), None);
    }

    #[test]
    fn urls_must_be_http() {
        assert!(check_url("http://127.0.0.1:3180/tsa").is_ok());
        assert!(check_url("https://tsa.example").is_ok());
        assert!(check_url("ftp://x").unwrap_err().is_user_input());
        assert!(check_url("not a url").is_err());
    }
}
