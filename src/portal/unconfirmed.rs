//! Passwords the portal sent to the directory without confirming them: the write's answer was
//! lost, or the verification bind failed (the directory went away between the two). The store
//! does not record such a change as completed, so the person retries with the same link — and
//! most people type the same password again. The directory now holds it, so the link flow's
//! "not the current password" rule would refuse it as if it were the old, compromised one.
//! This list tells the two apart: a current password that this process itself wrote for the
//! account, for someone who held a valid link or the current password, is not the old one.
//!
//! Only a keyed hash (HMAC-SHA256 under a key drawn at start-up) is kept, one per account, in
//! memory: a restart forgets them (the retry must then choose another password, as before).
//! Never logs, never stores anything on disk.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// At most this many accounts are remembered; past it the oldest note is dropped (a retry of
/// that account then needs another password: safe, only less convenient).
const CAPACITY: usize = 10_000;

pub struct Unconfirmed {
    key: [u8; 32],
    /// Account key (lowercased DN) → (order of the note, keyed hash of the password).
    notes: Mutex<HashMap<String, (u64, [u8; 32])>>,
    counter: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Unconfirmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unconfirmed([redacted])")
    }
}

impl Unconfirmed {
    /// An empty list with a fresh random key.
    pub fn new() -> std::io::Result<Unconfirmed> {
        let mut key = [0u8; 32];
        OsRng.try_fill_bytes(&mut key).map_err(std::io::Error::other)?;
        Ok(Unconfirmed {
            key,
            notes: Mutex::new(HashMap::new()),
            counter: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn digest(&self, dn: &str, password: &str) -> [u8; 32] {
        // HMAC accepts keys of any length: new_from_slice cannot fail here.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        // The DN is part of the input: a note for one account never vouches for another.
        mac.update(dn.to_lowercase().as_bytes());
        mac.update(&[0]);
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn notes(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, [u8; 32])>> {
        self.notes.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes that `password` is about to be written for `dn` (before the write: its answer may
    /// be lost after the directory applied it).
    pub fn note(&self, dn: &str, password: &str) {
        let digest = self.digest(dn, password);
        let order = self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut notes = self.notes();
        if notes.len() >= CAPACITY && !notes.contains_key(&dn.to_lowercase()) {
            let oldest = notes.iter().min_by_key(|(_, (o, _))| *o).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                notes.remove(&oldest);
            }
        }
        notes.insert(dn.to_lowercase(), (order, digest));
    }

    /// Whether `password` is the one last noted for `dn` (compared in constant time).
    pub fn written(&self, dn: &str, password: &str) -> bool {
        let digest = self.digest(dn, password);
        self.notes()
            .get(&dn.to_lowercase())
            .is_some_and(|(_, noted)| bool::from(noted.ct_eq(&digest)))
    }

    /// Forgets `dn`'s note once its change is recorded (or the write was refused).
    pub fn forget(&self, dn: &str) {
        self.notes().remove(&dn.to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_vouches_for_its_password_and_account_only_until_forgotten() {
        let u = Unconfirmed::new().unwrap();
        let dn = "uid=a,ou=people,dc=example,dc=org";
        assert!(!u.written(dn, "pw one"));
        u.note(dn, "pw one");
        assert!(u.written(dn, "pw one"));
        assert!(
            u.written(&dn.to_uppercase(), "pw one"),
            "DNs compare case-insensitively"
        );
        assert!(!u.written(dn, "pw two"));
        assert!(!u.written("uid=b,ou=people,dc=example,dc=org", "pw one"));
        u.note(dn, "pw two");
        assert!(!u.written(dn, "pw one"), "the last note wins");
        u.forget(dn);
        assert!(!u.written(dn, "pw two"));
    }

    #[test]
    fn the_oldest_note_goes_past_the_capacity() {
        let u = Unconfirmed::new().unwrap();
        for i in 0..=CAPACITY {
            u.note(&format!("uid={i}"), "pw");
        }
        assert!(!u.written("uid=0", "pw"));
        assert!(u.written(&format!("uid={CAPACITY}"), "pw"));
        assert_eq!(u.notes().len(), CAPACITY);
    }
}
