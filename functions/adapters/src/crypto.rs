//! Encryption at rest of merchant secrets (AES KEY, RID): AES-256-GCM under a master key from
//! Secrets Manager, a random 96-bit nonce per write, AAD = merchant id + field name (so a
//! ciphertext copied to another merchant or field does not decrypt), and the key id stored
//! beside the ciphertext so the master key can be rotated.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// A sealed value as stored in DynamoDB: readable attribute names, base64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: String,
    pub ciphertext: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the master key set is not valid: {0}")]
    BadKeySet(String),
    #[error("no master key with id {0}")]
    UnknownKey(String),
    /// Wrong key, tampered ciphertext, or a ciphertext from another merchant or field.
    #[error("the stored value does not decrypt for this merchant and field")]
    Undecryptable,
}

/// The master keys: the one new writes use, and older ones still accepted for reading.
pub struct MasterKeys {
    current: String,
    keys: BTreeMap<String, Aes256Gcm>,
}

/// Context string of the key derivation, so these keys serve nothing else.
const KDF_INFO: &[u8] = b"wixtar-link/credentials/aes-256-gcm/v1";
/// Shortest key material accepted (Secrets Manager generates 64 characters).
const MIN_MATERIAL_CHARS: usize = 32;

fn aad(merchant_id: &str, field: &str) -> Vec<u8> {
    format!("{merchant_id}\u{1f}{field}").into_bytes()
}

impl MasterKeys {
    /// Parses the master-key secret: a flat JSON object `{"current": "k2", "k1": "<material>",
    /// "k2": "<material>"}` (what Secrets Manager's GenerateSecretString writes, and what an
    /// operator extends to rotate). Each key is HKDF-SHA256 of its material.
    pub fn from_secret(secret: &Secret) -> Result<Self, CryptoError> {
        let mut set: BTreeMap<String, String> =
            serde_json::from_str(secret.expose()).map_err(|_| CryptoError::BadKeySet("not a JSON object of strings".into()))?;
        let current = set.remove("current").ok_or_else(|| CryptoError::BadKeySet("no \"current\" key id".into()))?;
        let mut keys = BTreeMap::new();
        for (id, material) in set {
            if material.chars().count() < MIN_MATERIAL_CHARS {
                return Err(CryptoError::BadKeySet(format!("key {id} is shorter than {MIN_MATERIAL_CHARS} characters")));
            }
            let mut key = [0u8; 32];
            hkdf::Hkdf::<sha2::Sha256>::new(None, material.as_bytes()).expand(KDF_INFO, &mut key).expect("32 bytes is a valid HKDF-SHA256 output length");
            keys.insert(id, Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)));
        }
        if !keys.contains_key(&current) {
            return Err(CryptoError::BadKeySet(format!("current key {current} is not in the set")));
        }
        Ok(Self { current, keys })
    }

    /// A fresh key set with one random key (for bootstrapping a local stack).
    pub fn generate_json(key_id: &str) -> String {
        let material: [u8; 32] = rand::random();
        let set = BTreeMap::from([("current", key_id.to_owned()), (key_id, hex::encode(material))]);
        serde_json::to_string(&set).expect("a map of strings serializes")
    }

    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    pub fn seal(&self, merchant_id: &str, field: &str, plaintext: &str) -> Sealed {
        let nonce: [u8; 12] = rand::random();
        let cipher = &self.keys[&self.current];
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: &aad(merchant_id, field) })
            .expect("AES-GCM encryption of a short value cannot fail");
        Sealed { key_id: self.current.clone(), nonce: B64.encode(nonce), ciphertext: B64.encode(ciphertext) }
    }

    pub fn open(&self, merchant_id: &str, field: &str, sealed: &Sealed) -> Result<Secret, CryptoError> {
        let cipher = self.keys.get(&sealed.key_id).ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.clone()))?;
        let nonce = B64.decode(&sealed.nonce).map_err(|_| CryptoError::Undecryptable)?;
        let ciphertext = B64.decode(&sealed.ciphertext).map_err(|_| CryptoError::Undecryptable)?;
        if nonce.len() != 12 {
            return Err(CryptoError::Undecryptable);
        }
        let plain =
            cipher.decrypt(Nonce::from_slice(&nonce), Payload { msg: &ciphertext, aad: &aad(merchant_id, field) }).map_err(|_| CryptoError::Undecryptable)?;
        String::from_utf8(plain).map(Secret::new).map_err(|_| CryptoError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(json: &str) -> MasterKeys {
        MasterKeys::from_secret(&Secret::new(json)).unwrap()
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let k = keys(&MasterKeys::generate_json("k1"));
        let a = k.seal("m1", "rid", "RID-secret");
        let b = k.seal("m1", "rid", "RID-secret");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        let bytes = B64.decode(&a.ciphertext).unwrap();
        assert!(!bytes.windows(b"RID-secret".len()).any(|w| w == b"RID-secret"), "the plaintext is not stored");
        assert_eq!(k.open("m1", "rid", &a).unwrap().expose(), "RID-secret");
    }

    #[test]
    fn another_merchant_or_field_cannot_open_it() {
        let k = keys(&MasterKeys::generate_json("k1"));
        let sealed = k.seal("m1", "aes_key", "0123456789abcdef0123456789abcdef");
        assert_eq!(k.open("m2", "aes_key", &sealed).unwrap_err(), CryptoError::Undecryptable);
        assert_eq!(k.open("m1", "rid", &sealed).unwrap_err(), CryptoError::Undecryptable);
        let mut tampered = sealed.clone();
        tampered.ciphertext.replace_range(0..2, "AA");
        assert_eq!(k.open("m1", "aes_key", &tampered).unwrap_err(), CryptoError::Undecryptable);
    }

    #[test]
    fn rotation_keeps_old_items_readable_and_writes_with_the_new_key() {
        let v1 = keys(r#"{"current":"k1","k1":"first-key-material-0123456789abcdef"}"#);
        let old = v1.seal("m1", "rid", "old");
        let v2 = keys(r#"{"current":"k2","k1":"first-key-material-0123456789abcdef","k2":"second-key-material-0123456789abcdef"}"#);
        assert_eq!(v2.open("m1", "rid", &old).unwrap().expose(), "old");
        let new = v2.seal("m1", "rid", "new");
        assert_eq!(new.key_id, "k2");
        assert_eq!(v1.open("m1", "rid", &new).unwrap_err(), CryptoError::UnknownKey("k2".into()));
    }

    #[test]
    fn bad_key_sets_are_refused() {
        for bad in [r#"{"current":"k9"}"#, r#"{"current":"k1","k1":"short"}"#, r#"{"k1":"first-key-material-0123456789abcdef"}"#, "not json"] {
            assert!(MasterKeys::from_secret(&Secret::new(bad)).is_err(), "{bad}");
        }
    }
}
