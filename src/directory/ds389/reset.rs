//! 389-DS's administrative set and taking off the "must change" mark it leaves, in the order the
//! server really writes them. Owns only that ordering; the set itself is `password.rs`'s, the
//! mark's value and the clear are `ds389.rs`'s. Must not touch any other attribute.
//!
//! Why it waits: 389 answers the `replace: userPassword` as soon as its backend has written the
//! entry, and only then (same worker thread, after the answer is on the wire) writes the password
//! policy's state with an internal modify: `pwdReset: TRUE` and `passwordExpirationTime:
//! 19700101000000Z` for a set by a `passwordAdminDN` member (389-ds-base `op_shared_modify` →
//! `be_modify` sends the result in `ldbm_back_modify`'s `common_return`, then `update_pw_info` →
//! `pw_apply_mods`). A clear sent right after the answer, over any connection (the same one too:
//! 389 runs a connection's operations on several threads), can land before that write, which then
//! marks the account again; a read-back can be clean and the mark come a moment later. Deleting
//! the value in the set's own operation does not help either (the late write replaces it).
//! Measured with a script doing 16 users' sets in parallel against 2.3: clear on another connection, 154 of 320 sets
//! left marked; on the same connection 158 of 320; in the set's own modify 302 of 320; waiting for
//! the late write as here, 0 of 320.
//!
//! So the set first makes the late write visible: a value the server will write again (the mark,
//! or 19700101000001Z, "changed, no expiry") is deleted in the set's own modify, so that whatever
//! `passwordExpirationTime` becomes afterwards is the server's own write. Then it waits for that
//! change (a bounded time: a server that marks nothing, with neither `passwordMustChange` nor
//! `passwordExp` on, writes none) and takes the mark off only once it is there.

use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::super::common::Shared;
use super::super::{DirectoryError, PasswordError};
use super::{EXPIRY, MARK, password};
use crate::secret::Secret;

/// What a change leaves when expiry is off (389's NOT_FIRST_TIME): written again by a set that
/// does not mark, so deleted first to see that write too.
const CHANGED: &str = "19700101000001Z";
/// How long the late write may take. It follows the answer at once on the server's side; this
/// is for a loaded machine. Waited out in full only when the server writes no expiry at all.
const LATE_WRITE_WAIT: Duration = Duration::from_secs(3);
/// First pause between reads of the entry; doubled each time, up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(5);
const MAX_POLL: Duration = Duration::from_millis(200);

/// Sets `dn`'s password as the service account and leaves the account unmarked.
pub(super) async fn set(s: &Shared, dn: &str, new: &Secret) -> Result<(), PasswordError> {
    // Twice at most: the value to delete can vanish between the read and the set (rc 16, nothing
    // written); the second read sees what is there now.
    let mut tries = 0;
    let before = loop {
        tries += 1;
        let current = expiry(s, dn).await?;
        let drop = current.as_deref().filter(|v| *v == MARK || *v == CHANGED);
        if password::set_as_admin(&s.pool, dn, new, drop).await? {
            break if drop.is_some() { None } else { current };
        }
        if tries == 2 {
            return Err(PasswordError::Directory(moved(dn)));
        }
    };
    super::super::test_hook::between_set_and_clear();
    let after = late_write(s, dn, before.as_deref()).await?;
    if after.as_deref() == Some(MARK) {
        super::clear(s, dn).await?;
    }
    Ok(())
}

/// Waits until `passwordExpirationTime` is no longer `before` (the server's late write is done)
/// and returns the new value; returns `before` when nothing changed within [`LATE_WRITE_WAIT`].
async fn late_write(s: &Shared, dn: &str, before: Option<&str>) -> Result<Option<String>, DirectoryError> {
    let deadline = Instant::now() + LATE_WRITE_WAIT;
    let mut pause = FIRST_POLL;
    loop {
        let now = expiry(s, dn).await?;
        if now.as_deref() != before {
            return Ok(now);
        }
        if Instant::now() >= deadline {
            tracing::debug!(dn, "389-DS: no expiry written after the set within the wait");
            return Ok(now);
        }
        sleep(pause).await;
        pause = (pause * 2).min(MAX_POLL);
    }
}

async fn expiry(s: &Shared, dn: &str) -> Result<Option<String>, DirectoryError> {
    let entry = s.entry(dn, &[EXPIRY]).await?;
    Ok(entry.and_then(|e| e.first(EXPIRY).map(str::to_owned)))
}

fn moved(dn: &str) -> DirectoryError {
    DirectoryError::Operation {
        op: "password set",
        dn: dn.to_owned(),
        rc: 16,
        text: format!("{EXPIRY} changed twice while the password was being set"),
    }
}
