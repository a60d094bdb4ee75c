//! 389-DS: the service account's administrative set leaves the account free, also when many
//! sets run at once. 389 writes a `passwordAdminDN` member's "must change" mark after it has
//! answered the set (src/directory/ds389/reset.rs): a clear sent straight after the answer loses
//! that race now and then, more often on a loaded machine. Many marked accounts set in parallel,
//! round after round, make the race show up reliably when the order is not respected (measured:
//! the former clear-and-read-back failed 10 runs of 10, 1 to 11 accounts of 60 left marked).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::time::Duration;

use common::flavor::{Case, Kind, Person, Restriction};
use pwresetd::secret::Secret;

const USERS: [&str; 12] = [
    "r01", "r02", "r03", "r04", "r05", "r06", "r07", "r08", "r09", "r10", "r11", "r12",
];
const ROUNDS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_admin_sets_leave_no_account_marked() {
    let people: Vec<Person> = USERS.iter().map(|l| Person::new(l, l)).collect();
    let case = Case::new(Kind::Ds389, "reset-race", &people, "").await;
    let dir = case.directory();
    let mut still_marked = Vec::new();
    let mut password = String::new();
    for round in 0..ROUNDS {
        for login in USERS {
            dir.mark(&case.dn(login)).await.unwrap();
        }
        password = format!("Reset-Race-{round}-{:08x}", common::rand_u32());
        let sets: Vec<_> = USERS
            .iter()
            .map(|login| {
                let (dir, dn, new) = (dir.clone(), case.dn(login), Secret::new(password.clone()));
                tokio::spawn(async move { dir.set_password_as_admin(&dn, &new).await })
            })
            .collect();
        for set in sets {
            set.await.unwrap().unwrap();
        }
        // The server's own write follows its answer within milliseconds; a mark that is still
        // to come after this long would be one no clear waited for.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut marked: Vec<String> = case.flagged().await.into_iter().collect();
        marked.sort();
        still_marked.extend(marked.into_iter().map(|dn| format!("round {round}: {dn}")));
    }
    assert!(
        still_marked.is_empty(),
        "{} of {} sets left the account marked: {still_marked:#?}",
        still_marked.len(),
        USERS.len() * ROUNDS
    );
    for login in USERS {
        assert_eq!(case.restriction(login, &password).await, Restriction::Free, "{login}");
    }
}
