//! Secrets and their hashes. Public session ids and remember-me tokens are generated here and
//! handed out once; only their SHA-256 hashes are ever stored.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// The prefix GitLab puts before the hex SHA-256 of a public session id.
pub const PRIVATE_ID_PREFIX: &str = "2::";

/// A new random public session id: 32 hex characters (128 bits), like a Rails session id.
pub fn generate_public_id() -> String {
    random_hex::<16>()
}

/// A new random remember-me token: 64 hex characters (256 bits).
pub fn generate_token() -> String {
    random_hex::<32>()
}

/// The private id stored for a public session id: `2::` + hex SHA-256 of it.
pub fn private_id(public_id: &str) -> String {
    let mut id = String::with_capacity(PRIVATE_ID_PREFIX.len() + 64);
    id.push_str(PRIVATE_ID_PREFIX);
    id.push_str(&sha256_hex(public_id));
    id
}

/// The stored form of a remember-me token: hex SHA-256 of it.
pub fn token_hash(token: &str) -> String {
    sha256_hex(token)
}

/// Whether `id` has the shape of a private id (`2::` and 64 lower-case hex digits).
pub fn is_private_id(id: &str) -> bool {
    id.strip_prefix(PRIVATE_ID_PREFIX).is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn sha256_hex(value: &str) -> String {
    // Through a buffer: `hex::encode` collects characters one by one (a touch pays for it).
    let mut digits = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(value.as_bytes()), &mut digits)
        .expect("32 bytes fit 64 hex digits");
    String::from_utf8(digits.to_vec()).expect("hex is ASCII")
}

fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether `hash` is a stored remember-me token hash: 64 lower-case hex digits.
pub fn is_token_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_id_is_prefixed_sha256_of_the_public_id() {
        // SHA-256("abc"), a published test vector.
        assert_eq!(
            private_id("abc"),
            "2::ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_private_id(&private_id("anything")));
        assert!(!is_private_id("abc"));
        assert!(!is_private_id("2::XYZ"));
    }

    #[test]
    fn generated_secrets_are_random_hex() {
        let a = generate_public_id();
        let b = generate_public_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_eq!(generate_token().len(), 64);
        assert_ne!(token_hash("t"), "t");
    }
}
