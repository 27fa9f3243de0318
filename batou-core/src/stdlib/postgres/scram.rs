//! PostgreSQL password verifiers, computed here so that the password
//! itself never reaches the server, its logs or `pg_stat_activity`: the
//! role gets `PASSWORD 'SCRAM-SHA-256$…'`, which PostgreSQL stores as
//! given. Checking a password recomputes the verifier with the stored
//! salt and iteration count and compares the keys.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};

/// PostgreSQL's default iteration count (`scram_iterations`).
const ITERATIONS: u32 = 4096;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `(StoredKey, ServerKey)` for `password` (RFC 5802 §3).
fn keys(password: &str, salt: &[u8], iterations: u32) -> (Vec<u8>, Vec<u8>) {
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    let client = hmac(&salted, b"Client Key");
    let stored = Sha256::digest(&client).to_vec();
    let server = hmac(&salted, b"Server Key");
    (stored, server)
}

/// A fresh verifier for `password` with a random salt.
pub(super) fn verifier(password: &str) -> std::io::Result<String> {
    let mut salt = [0u8; 16];
    // The agent runs on Linux targets; the kernel's generator is enough
    // for a salt.
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut salt)?;
    Ok(verifier_with(password, &salt, ITERATIONS))
}

fn verifier_with(password: &str, salt: &[u8], iterations: u32) -> String {
    let (stored, server) = keys(password, salt, iterations);
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        B64.encode(salt),
        B64.encode(stored),
        B64.encode(server)
    )
}

/// Whether `stored` (a `pg_authid.rolpassword`) is a verifier of
/// `password` for `role`: SCRAM-SHA-256 or the older `md5…` form.
pub(super) fn matches(stored: &str, role: &str, password: &str) -> bool {
    if let Some(hex) = stored.strip_prefix("md5") {
        let digest = Md5::digest(format!("{password}{role}").as_bytes());
        let mine: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        return hex == mine;
    }
    let Some(rest) = stored.strip_prefix("SCRAM-SHA-256$") else {
        return false;
    };
    let Some((params, keys_part)) = rest.split_once('$') else {
        return false;
    };
    let (Some((iterations, salt)), Some((stored_key, server_key))) =
        (params.split_once(':'), keys_part.split_once(':'))
    else {
        return false;
    };
    let (Ok(iterations), Ok(salt), Ok(stored_key), Ok(server_key)) = (
        iterations.parse::<u32>(),
        B64.decode(salt),
        B64.decode(stored_key),
        B64.decode(server_key),
    ) else {
        return false;
    };
    if iterations == 0 || iterations > 10_000_000 {
        return false;
    }
    let (mine_stored, mine_server) = keys(password, &salt, iterations);
    mine_stored == stored_key && mine_server == server_key
}

/// Passwords the verifier can be computed for: PostgreSQL applies
/// SASLprep (Unicode normalisation) to non-ASCII passwords, which this
/// module does not implement; printable ASCII is the same either way.
pub(super) fn supported(password: &str) -> bool {
    !password.is_empty() && password.bytes().all(|b| (0x20..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_matches_its_password_only() {
        let v = verifier("s3cret pass").unwrap();
        assert!(v.starts_with("SCRAM-SHA-256$4096:"), "{v}");
        assert!(!v.contains("s3cret"));
        assert!(matches(&v, "app", "s3cret pass"));
        assert!(!matches(&v, "app", "s3cret pasS"));
        assert!(!matches("SCRAM-SHA-256$garbage", "app", "x"));
        assert!(!matches("", "app", ""));
    }

    #[test]
    fn md5_verifiers_are_recognised() {
        // md5("secret" + "app"), as PostgreSQL stores it.
        let digest = Md5::digest(b"secretapp");
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert!(matches(&format!("md5{hex}"), "app", "secret"));
        assert!(!matches(&format!("md5{hex}"), "app", "Secret"));
    }

    #[test]
    fn only_printable_ascii_is_supported() {
        assert!(supported("a b~C1"));
        assert!(!supported(""));
        assert!(!supported("pässword"));
        assert!(!supported("tab\there"));
    }
}
