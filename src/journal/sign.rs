//! ed25519 signatures of a journal's head, so that an auditor holding the public key can
//! tell that the journal is the one the run wrote, whole.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Why a journal could not be signed or its signature not checked.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// A key or signature file could not be read or written.
    #[error("cannot access {0}")]
    Io(PathBuf, #[source] std::io::Error),
    /// The private key is not an ed25519 PKCS#8 PEM file.
    #[error(
        "{0} is not an ed25519 private key in PKCS#8 PEM form (make one with `openssl genpkey -algorithm ed25519`)"
    )]
    PrivateKey(PathBuf),
    /// The public key is not an ed25519 SubjectPublicKeyInfo PEM file.
    #[error(
        "{0} is not an ed25519 public key in PEM form (make one with `openssl pkey -in KEY -pubout`)"
    )]
    PublicKey(PathBuf),
    /// The signature file is malformed.
    #[error("malformed signature file: {0}")]
    Malformed(String),
    /// The signature does not verify.
    #[error("the signature does not verify against {0}")]
    Mismatch(&'static str),
}

/// The content of `journal.sig`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Signature {
    /// Always `ed25519`.
    pub algorithm: String,
    /// How many records the signature covers.
    pub records: u64,
    /// The hash of the last covered record.
    pub head: String,
    /// Base64 of the 64-byte signature over [`Signature::message`].
    pub signature: String,
    /// Base64 of the 32-byte public key that made it.
    pub public_key: String,
}

impl Signature {
    /// The signed bytes: a domain prefix, the record count and the head hash.
    pub fn message(records: u64, head: &str) -> Vec<u8> {
        format!("firedrill-journal-v1\n{records}\n{head}").into_bytes()
    }

    /// Reads a signature file.
    pub fn read(path: &Path) -> Result<Self, SignError> {
        let text = std::fs::read_to_string(path).map_err(|e| SignError::Io(path.to_owned(), e))?;
        serde_json::from_str(&text).map_err(|e| SignError::Malformed(e.to_string()))
    }

    /// Checks the signature with `key`, or with the embedded public key when `key` is None
    /// (which proves integrity since signing, not who signed).
    pub fn verify(&self, key: Option<&VerifyingKey>) -> Result<(), SignError> {
        if self.algorithm != "ed25519" {
            return Err(SignError::Malformed(format!(
                "unknown algorithm `{}`",
                self.algorithm
            )));
        }
        let sig_bytes: [u8; 64] = B64
            .decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| SignError::Malformed("signature is not 64 bytes of base64".into()))?;
        let sig = ed25519_dalek::Signature::from_bytes(&sig_bytes);
        let (key, which) = match key {
            Some(k) => (*k, "the given public key"),
            None => {
                let raw: [u8; 32] = B64
                    .decode(&self.public_key)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        SignError::Malformed("publicKey is not 32 bytes of base64".into())
                    })?;
                let key = VerifyingKey::from_bytes(&raw).map_err(|_| {
                    SignError::Malformed("publicKey is not a valid ed25519 key".into())
                })?;
                (key, "the embedded public key")
            }
        };
        key.verify(&Self::message(self.records, &self.head), &sig)
            .map_err(|_| SignError::Mismatch(which))
    }
}

/// Where the signature of a journal is kept: `journal.sig` beside `journal.jsonl`.
pub fn signature_path(journal: &Path) -> PathBuf {
    journal.with_extension("sig")
}

/// Reads an ed25519 public key from a PEM file.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, SignError> {
    let pem = std::fs::read_to_string(path).map_err(|e| SignError::Io(path.to_owned(), e))?;
    VerifyingKey::from_public_key_pem(pem.trim()).map_err(|_| SignError::PublicKey(path.to_owned()))
}

/// Checks that `key` is an ed25519 PKCS#8 PEM private key, before anything is written that
/// it should sign.
pub fn check_private_key(key: &Path) -> Result<(), SignError> {
    let pem = std::fs::read_to_string(key).map_err(|e| SignError::Io(key.to_owned(), e))?;
    SigningKey::from_pkcs8_pem(pem.trim())
        .map(drop)
        .map_err(|_| SignError::PrivateKey(key.to_owned()))
}

/// Signs the head of the journal at `journal` with the PKCS#8 PEM private key at `key`, and
/// writes `journal.sig` beside it.
pub fn sign_head(
    journal: &Path,
    key: &Path,
    records: u64,
    head: &str,
) -> Result<Signature, SignError> {
    let pem = std::fs::read_to_string(key).map_err(|e| SignError::Io(key.to_owned(), e))?;
    let signing = SigningKey::from_pkcs8_pem(pem.trim())
        .map_err(|_| SignError::PrivateKey(key.to_owned()))?;
    let sig = signing.sign(&Signature::message(records, head));
    let out = Signature {
        algorithm: "ed25519".into(),
        records,
        head: head.to_owned(),
        signature: B64.encode(sig.to_bytes()),
        public_key: B64.encode(signing.verifying_key().to_bytes()),
    };
    let path = signature_path(journal);
    let text =
        serde_json::to_string_pretty(&out).map_err(|e| SignError::Malformed(e.to_string()))?;
    std::fs::write(&path, text + "\n").map_err(|e| SignError::Io(path, e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::journal::{Journal, verify};

    // Test keys only, made with `openssl genpkey -algorithm ed25519`.
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIOQkLZShsSSJlJ06CB8XQtJO6WPrym5N/xDu9kqKLXNO\n-----END PRIVATE KEY-----\n";
    const PUB: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAWpcXVCEOBpYwzND2kL+s8b4pLpkEyoWZBGZ2wFZvIoY=\n-----END PUBLIC KEY-----\n";
    const OTHER_PUB: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";

    #[test]
    fn signed_heads_verify_and_detect_cuts_and_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let key = dir.path().join("key.pem");
        std::fs::write(&key, KEY).unwrap();
        std::fs::write(dir.path().join("pub.pem"), PUB).unwrap();
        std::fs::write(dir.path().join("other.pem"), OTHER_PUB).unwrap();
        let j = Journal::create(&path).unwrap();
        for i in 0..3 {
            j.record("step", json!({ "i": i }), false);
        }
        sign_head(&path, &key, j.len(), &j.head()).unwrap();

        let public = read_public_key(&dir.path().join("pub.pem")).unwrap();
        let r = verify(&path, Some(&public)).unwrap();
        assert_eq!(
            r.signature,
            Some(verify::SignatureCheck::Valid { records: 3 })
        );
        assert!(r.intact());

        let other = read_public_key(&dir.path().join("other.pem")).unwrap();
        let r = verify(&path, Some(&other)).unwrap();
        assert!(
            matches!(r.signature, Some(verify::SignatureCheck::Invalid(_))),
            "{:?}",
            r.signature
        );

        // Cut the last record cleanly: only the signature can tell.
        let text = std::fs::read_to_string(&path).unwrap();
        let kept: Vec<&str> = text.lines().take(2).collect();
        std::fs::write(&path, kept.join("\n") + "\n").unwrap();
        let r = verify(&path, Some(&public)).unwrap();
        assert_eq!(
            r.signature,
            Some(verify::SignatureCheck::Truncated {
                signed: 3,
                present: 2
            })
        );
        assert!(!r.intact());
    }

    #[test]
    fn bad_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(&key, "not a key").unwrap();
        let err = sign_head(&dir.path().join("j.jsonl"), &key, 0, "x").unwrap_err();
        assert!(err.to_string().contains("key.pem"), "{err}");
    }
}
