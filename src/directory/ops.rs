//! Operations that keep the server's whole answer (result code, diagnostic text, response
//! controls) and send request controls, where [`Endpoint::bind`](super::conn::Endpoint::bind)
//! only says yes or no: Active Directory explains a refused bind or password in its text
//! (`data 773`, `0000052D`), 389-DS a restricted bind or a refused password in its controls.

use std::hash::Hash;

use ldap3::controls::{Control, RawControl};
use ldap3::{Ldap, Mod};

use super::DirectoryError;
use super::conn::{Endpoint, Pool};
use crate::secret::Secret;

/// What an operation answered.
pub(crate) struct Answer {
    pub rc: u32,
    pub text: String,
    pub ctrls: Vec<Control>,
}

impl Answer {
    /// The answer as an error (for result codes the caller has no better word for).
    pub fn into_error(self, op: &'static str, dn: &str) -> DirectoryError {
        DirectoryError::Operation {
            op,
            dn: dn.to_owned(),
            rc: self.rc,
            text: self.text,
        }
    }
}

/// A connection bound (or not) as a user, with the bind's answer.
pub(crate) struct UserBind {
    pub answer: Answer,
    pub ldap: Ldap,
}

impl UserBind {
    /// Unbinds and closes the connection.
    pub async fn close(mut self) {
        let _ = self.ldap.unbind().await;
    }
}

/// Opens a connection and binds as `dn` with `ctrls`. Any result code is an answer; only
/// transport failures are errors.
pub(crate) async fn bind(
    endpoint: &Endpoint,
    dn: &str,
    password: &Secret,
    ctrls: Vec<RawControl>,
) -> Result<UserBind, DirectoryError> {
    let mut ldap = endpoint.open().await?;
    let res = ldap
        .with_controls(ctrls)
        .with_timeout(endpoint.timeout)
        .simple_bind(dn, password.expose())
        .await
        .map_err(|e| DirectoryError::from_op(&endpoint.url, "bind", dn, e, endpoint.timeout_secs()))?;
    Ok(UserBind {
        answer: Answer {
            rc: res.rc,
            text: res.text,
            ctrls: res.ctrls,
        },
        ldap,
    })
}

/// Modifies `dn` on `ldap` with `ctrls`; any result code is an answer.
pub(crate) async fn modify_on<S: AsRef<[u8]> + Eq + Hash>(
    ldap: &mut Ldap,
    endpoint: &Endpoint,
    dn: &str,
    op: &'static str,
    mods: Vec<Mod<S>>,
    ctrls: Vec<RawControl>,
) -> Result<Answer, DirectoryError> {
    let res = ldap
        .with_controls(ctrls)
        .with_timeout(endpoint.timeout)
        .modify(dn, mods)
        .await
        .map_err(|e| DirectoryError::from_op(&endpoint.url, op, dn, e, endpoint.timeout_secs()))?;
    Ok(Answer {
        rc: res.rc,
        text: res.text,
        ctrls: res.ctrls,
    })
}

/// Modifies `dn` as the service account; any result code is an answer.
pub(crate) async fn modify<S: AsRef<[u8]> + Eq + Hash>(
    pool: &Pool,
    dn: &str,
    op: &'static str,
    mods: Vec<Mod<S>>,
    ctrls: Vec<RawControl>,
) -> Result<Answer, DirectoryError> {
    let mut ldap = pool.get().await?;
    modify_on(&mut ldap, pool.endpoint(), dn, op, mods, ctrls).await
}

/// Modifies `dn` as the service account; success (or rc 16, nothing to delete) or an error.
pub(crate) async fn modify_ok<S: AsRef<[u8]> + Eq + Hash>(
    pool: &Pool,
    dn: &str,
    op: &'static str,
    mods: Vec<Mod<S>>,
) -> Result<(), DirectoryError> {
    let answer = modify(pool, dn, op, mods, Vec::new()).await?;
    match answer.rc {
        0 | 16 => Ok(()),
        _ => Err(answer.into_error(op, dn)),
    }
}
