//! The campaign state machine, per account and per campaign. Pure: no I/O.
//!
//! The runner feeds events in, performs the returned [`Effect`] on the directory, and stores the
//! new state. Keeping the rules here means they are tested as tables, and the runner, the daemon
//! and the helpdesk cannot disagree about them.

use serde::Serialize;

/// Where one account stands in one campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    /// In scope, not marked yet.
    Pending,
    /// Carries the flag (set by us, or already set before the campaign).
    Marked,
    /// Marking was refused by the directory (the reason is kept).
    Failed,
    /// Changed the password: the campaign's goal for this account is met.
    Completed,
    /// Taken out of the campaign by an operator.
    Exempted,
    /// The campaign was reverted; the flag restored to what it was before.
    Reverted,
    /// Matches the user filter but is out of scope (exclusion filter, no login…).
    Excluded,
    /// Deleted, or moved out of scope, after the campaign started.
    Gone,
}

impl AccountState {
    pub const ALL: [AccountState; 8] = [
        AccountState::Pending,
        AccountState::Marked,
        AccountState::Failed,
        AccountState::Completed,
        AccountState::Exempted,
        AccountState::Reverted,
        AccountState::Excluded,
        AccountState::Gone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Pending => "pending",
            AccountState::Marked => "marked",
            AccountState::Failed => "failed",
            AccountState::Completed => "completed",
            AccountState::Exempted => "exempted",
            AccountState::Reverted => "reverted",
            AccountState::Excluded => "excluded",
            AccountState::Gone => "gone",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Counted in the campaign's scope (everything but exclusions).
    pub fn in_scope(self) -> bool {
        self != AccountState::Excluded
    }
}

/// What happened to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Found in scope at scan time, with or without the flag already set.
    Scanned(PriorFlag),
    /// The runner is about to mark it.
    MarkRequested,
    MarkSucceeded,
    MarkFailed,
    /// The campaign is being reverted.
    RevertRequested(PriorFlag),
    RevertSucceeded,
    /// The account's password was changed (through the portal, or seen in the directory).
    PasswordChanged,
    /// Reconciliation found the password the portal wrote with the flag its write raised still
    /// set: the portal's process stopped (or lost the directory) between its write and the
    /// clear that follows it (`campaign::reconcile`). The change is the portal's; the flag goes.
    PortalWriteInterrupted,
    /// Reconciliation found the flag removed although the password did not change.
    FlagMissing,
    /// Reconciliation found the entry deleted or out of scope.
    Vanished,
    /// An operator takes the account out of the campaign (helpdesk). The flag is cleared unless
    /// the account carried it before the campaign.
    Exempt(PriorFlag),
    /// An operator puts the account back in the campaign (e.g. an exemption withdrawn), or makes
    /// sure its flag is set.
    MarkAgain,
    /// An operator gives the account a later deadline.
    DeadlineExtended,
    /// An operator sends the account a new link.
    LinkResent,
}

/// How an account completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The user set a new password through pwresetd's portal.
    Portal,
    /// The password changed in the directory by other means (noticed by reconciliation).
    Directory,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Portal => "portal",
            Via::Directory => "directory",
        }
    }
}

/// Whether the account carried the flag before the campaign touched it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriorFlag {
    Set,
    Unset,
}

impl PriorFlag {
    pub fn from_flagged(flagged: bool) -> Self {
        if flagged { PriorFlag::Set } else { PriorFlag::Unset }
    }
}

/// The directory work an event calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    SetFlag,
    ClearFlag,
}

/// The result of applying an event: the next state and the effect to perform first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub next: AccountState,
    pub effect: Effect,
}

/// An event that does not apply to the account's state, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// Applies `event` to an account in `state` (`None`: not yet recorded).
pub fn apply(state: Option<AccountState>, event: Event) -> Result<Transition, Refused> {
    use AccountState::*;
    let t = |next, effect| Ok(Transition { next, effect });
    match (state, event) {
        (None, Event::Scanned(PriorFlag::Set)) => t(Marked, Effect::None),
        (None, Event::Scanned(PriorFlag::Unset)) => t(Pending, Effect::None),
        (Some(Pending | Failed), Event::MarkRequested) => t(Marked, Effect::SetFlag),
        (Some(Pending | Failed), Event::MarkSucceeded) => t(Marked, Effect::None),
        (Some(Pending | Failed), Event::MarkFailed) => t(Failed, Effect::None),
        // Never marked by us, or marked by us: the flag goes back to what it was.
        (Some(Pending | Marked | Failed), Event::RevertRequested(PriorFlag::Unset)) => t(Reverted, Effect::ClearFlag),
        (Some(Pending | Marked | Failed), Event::RevertRequested(PriorFlag::Set)) => t(Reverted, Effect::None),
        (Some(Reverted), Event::RevertRequested(_)) => t(Reverted, Effect::None),
        (Some(Pending | Marked | Failed), Event::RevertSucceeded) => t(Reverted, Effect::None),
        // The goal is met whatever the flag's state; a changed password also clears it.
        (Some(Pending | Marked | Failed), Event::PasswordChanged) => t(Completed, Effect::None),
        // What the portal's own change does: the password is set, then the flag taken off.
        (Some(Pending | Marked | Failed), Event::PortalWriteInterrupted) => t(Completed, Effect::ClearFlag),
        (Some(Marked), Event::FlagMissing) => t(Marked, Effect::SetFlag),
        (Some(Pending | Marked | Failed), Event::Vanished) => t(Gone, Effect::None),
        // Helpdesk actions. Repeating one is safe: an exempted account stays exempted (the flag
        // was dealt with the first time), marking a marked account makes sure of its flag.
        (Some(Pending | Marked | Failed), Event::Exempt(PriorFlag::Unset)) => t(Exempted, Effect::ClearFlag),
        (Some(Pending | Marked | Failed), Event::Exempt(PriorFlag::Set)) => t(Exempted, Effect::None),
        (Some(Exempted), Event::Exempt(_)) => t(Exempted, Effect::None),
        (Some(Pending | Marked | Failed | Exempted), Event::MarkAgain) => t(Marked, Effect::SetFlag),
        (Some(s @ (Pending | Marked | Failed)), Event::DeadlineExtended | Event::LinkResent) => t(s, Effect::None),
        (
            Some(s @ (Completed | Exempted | Reverted | Excluded | Gone)),
            e @ (Event::Exempt(_) | Event::MarkAgain | Event::DeadlineExtended | Event::LinkResent),
        ) => Err(Refused(operator_refusal(s, e))),
        (Some(s), e) => Err(Refused(format!(
            "{e:?} does not apply to an account that is {}",
            s.as_str()
        ))),
        (None, e) => Err(Refused(format!(
            "{e:?} does not apply to an account not in the campaign"
        ))),
    }
}

/// Why a helpdesk action does not apply, in words for the operator.
fn operator_refusal(state: AccountState, event: Event) -> String {
    let what = match event {
        Event::Exempt(_) => "exempt it",
        Event::MarkAgain => "mark it again",
        Event::DeadlineExtended => "extend its deadline",
        _ => "send it a new link",
    };
    let why = match state {
        AccountState::Completed => "the account already changed its password in this campaign",
        AccountState::Exempted => "the account is exempted from this campaign (mark it again first)",
        AccountState::Reverted => "the campaign was reverted for this account",
        AccountState::Excluded => "the account is excluded from this campaign by its scope",
        AccountState::Gone => "the account was deleted or moved out of the campaign's scope",
        _ => "the account's state does not allow it",
    };
    format!("cannot {what}: {why}")
}

/// The lifecycle of a whole campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Started; accounts are being scanned and marked (or a run was interrupted).
    Marking,
    /// Every in-scope account was dealt with; the campaign runs until its deadline.
    Active,
    /// A revert started and may have been interrupted.
    Reverting,
    Reverted,
}

impl CampaignState {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Marking => "marking",
            CampaignState::Active => "active",
            CampaignState::Reverting => "reverting",
            CampaignState::Reverted => "reverted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            CampaignState::Marking,
            CampaignState::Active,
            CampaignState::Reverting,
            CampaignState::Reverted,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Whether helpdesk actions (resend, exempt, extend, mark) apply to the campaign's accounts.
    pub fn accepts_operator_actions(self) -> Result<(), Refused> {
        match self {
            CampaignState::Marking | CampaignState::Active => Ok(()),
            CampaignState::Reverting | CampaignState::Reverted => Err(Refused(
                "the campaign was reverted: its accounts can no longer be changed".into(),
            )),
        }
    }

    /// Whether `campaign start` may (re)run marking in this state.
    pub fn can_mark(self) -> Result<(), Refused> {
        match self {
            CampaignState::Marking | CampaignState::Active => Ok(()),
            CampaignState::Reverting | CampaignState::Reverted => Err(Refused(
                "the campaign was reverted; start a new campaign under another name".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AccountState::*;
    use super::*;

    fn check(state: Option<AccountState>, event: Event, expected: Option<(AccountState, Effect)>) {
        let got = apply(state, event).ok().map(|t| (t.next, t.effect));
        assert_eq!(got, expected, "{state:?} + {event:?}");
    }

    #[test]
    fn transitions() {
        use Effect as E;
        use Event as Ev;
        use PriorFlag::{Set, Unset};
        let table = [
            (None, Ev::Scanned(Set), Some((Marked, E::None))),
            (None, Ev::Scanned(Unset), Some((Pending, E::None))),
            (Some(Pending), Ev::MarkRequested, Some((Marked, E::SetFlag))),
            (Some(Failed), Ev::MarkRequested, Some((Marked, E::SetFlag))),
            (Some(Marked), Ev::MarkRequested, None),
            (Some(Completed), Ev::MarkRequested, None),
            (Some(Excluded), Ev::MarkRequested, None),
            (Some(Pending), Ev::MarkFailed, Some((Failed, E::None))),
            (Some(Marked), Ev::RevertRequested(Unset), Some((Reverted, E::ClearFlag))),
            (Some(Marked), Ev::RevertRequested(Set), Some((Reverted, E::None))),
            (
                Some(Pending),
                Ev::RevertRequested(Unset),
                Some((Reverted, E::ClearFlag)),
            ),
            (Some(Failed), Ev::RevertRequested(Unset), Some((Reverted, E::ClearFlag))),
            (Some(Completed), Ev::RevertRequested(Unset), None),
            (Some(Exempted), Ev::RevertRequested(Unset), None),
            (Some(Excluded), Ev::RevertRequested(Unset), None),
            (Some(Reverted), Ev::RevertRequested(Unset), Some((Reverted, E::None))),
            (None, Ev::MarkRequested, None),
            (Some(Marked), Ev::PasswordChanged, Some((Completed, E::None))),
            (Some(Pending), Ev::PasswordChanged, Some((Completed, E::None))),
            (Some(Completed), Ev::PasswordChanged, None),
            (Some(Exempted), Ev::PasswordChanged, None),
            (Some(Reverted), Ev::PasswordChanged, None),
            (
                Some(Marked),
                Ev::PortalWriteInterrupted,
                Some((Completed, E::ClearFlag)),
            ),
            (
                Some(Failed),
                Ev::PortalWriteInterrupted,
                Some((Completed, E::ClearFlag)),
            ),
            (Some(Completed), Ev::PortalWriteInterrupted, None),
            (Some(Exempted), Ev::PortalWriteInterrupted, None),
            (Some(Reverted), Ev::PortalWriteInterrupted, None),
            (Some(Marked), Ev::FlagMissing, Some((Marked, E::SetFlag))),
            (Some(Completed), Ev::FlagMissing, None),
            (Some(Marked), Ev::Vanished, Some((Gone, E::None))),
            (Some(Gone), Ev::Vanished, None),
            // Helpdesk: exempt clears the flag unless it was there before; repeating is a no-op.
            (Some(Marked), Ev::Exempt(Unset), Some((Exempted, E::ClearFlag))),
            (Some(Marked), Ev::Exempt(Set), Some((Exempted, E::None))),
            (Some(Pending), Ev::Exempt(Unset), Some((Exempted, E::ClearFlag))),
            (Some(Failed), Ev::Exempt(Unset), Some((Exempted, E::ClearFlag))),
            (Some(Exempted), Ev::Exempt(Unset), Some((Exempted, E::None))),
            (Some(Exempted), Ev::Exempt(Set), Some((Exempted, E::None))),
            (Some(Completed), Ev::Exempt(Unset), None),
            (Some(Reverted), Ev::Exempt(Unset), None),
            (Some(Excluded), Ev::Exempt(Set), None),
            (Some(Gone), Ev::Exempt(Unset), None),
            (None, Ev::Exempt(Unset), None),
            // Mark again: back from an exemption, a retry of a failure, or a repeat.
            (Some(Exempted), Ev::MarkAgain, Some((Marked, E::SetFlag))),
            (Some(Marked), Ev::MarkAgain, Some((Marked, E::SetFlag))),
            (Some(Pending), Ev::MarkAgain, Some((Marked, E::SetFlag))),
            (Some(Failed), Ev::MarkAgain, Some((Marked, E::SetFlag))),
            (Some(Completed), Ev::MarkAgain, None),
            (Some(Reverted), Ev::MarkAgain, None),
            (Some(Excluded), Ev::MarkAgain, None),
            (Some(Gone), Ev::MarkAgain, None),
            // Deadline and new link: for accounts that still have to change, state unchanged.
            (Some(Marked), Ev::DeadlineExtended, Some((Marked, E::None))),
            (Some(Pending), Ev::DeadlineExtended, Some((Pending, E::None))),
            (Some(Failed), Ev::DeadlineExtended, Some((Failed, E::None))),
            (Some(Exempted), Ev::DeadlineExtended, None),
            (Some(Completed), Ev::DeadlineExtended, None),
            (Some(Marked), Ev::LinkResent, Some((Marked, E::None))),
            (Some(Failed), Ev::LinkResent, Some((Failed, E::None))),
            (Some(Completed), Ev::LinkResent, None),
            (Some(Exempted), Ev::LinkResent, None),
            (Some(Gone), Ev::LinkResent, None),
            (None, Ev::LinkResent, None),
            // Worker events leave an exempted account alone.
            (Some(Exempted), Ev::FlagMissing, None),
            (Some(Exempted), Ev::MarkRequested, None),
            (Some(Exempted), Ev::Vanished, None),
        ];
        for (state, event, expected) in table {
            check(state, event, expected);
        }
    }

    #[test]
    fn names_round_trip() {
        for s in AccountState::ALL {
            assert_eq!(AccountState::parse(s.as_str()), Some(s));
        }
        assert!(CampaignState::Reverted.can_mark().is_err());
        assert!(CampaignState::Marking.can_mark().is_ok());
        assert!(CampaignState::Active.accepts_operator_actions().is_ok());
        assert!(CampaignState::Reverting.accepts_operator_actions().is_err());
    }

    #[test]
    fn operator_refusals_say_why() {
        let refused = apply(Some(Completed), Event::Exempt(PriorFlag::Unset)).unwrap_err();
        assert_eq!(
            refused.0,
            "cannot exempt it: the account already changed its password in this campaign"
        );
        let refused = apply(Some(Exempted), Event::LinkResent).unwrap_err();
        assert!(refused.0.contains("mark it again first"), "{}", refused.0);
    }

    /// The table's guarantees along whole event sequences, from the scan onwards.
    mod properties {
        use proptest::prelude::*;

        use super::super::*;
        use AccountState::*;
        use PriorFlag::{Set, Unset};

        /// Every event, with the account's true prior flag where one is carried (the runner and
        /// the helpdesk pass the one the store recorded at scan time).
        fn event(prior: PriorFlag) -> impl Strategy<Value = Event> {
            prop::sample::select(vec![
                Event::Scanned(prior),
                Event::MarkRequested,
                Event::MarkSucceeded,
                Event::MarkFailed,
                Event::RevertRequested(prior),
                Event::RevertSucceeded,
                Event::PasswordChanged,
                Event::PortalWriteInterrupted,
                Event::FlagMissing,
                Event::Vanished,
                Event::Exempt(prior),
                Event::MarkAgain,
                Event::DeadlineExtended,
                Event::LinkResent,
            ])
        }

        fn scenario() -> impl Strategy<Value = (PriorFlag, Vec<Event>)> {
            prop_oneof![Just(Set), Just(Unset)]
                .prop_flat_map(|prior| (Just(prior), prop::collection::vec(event(prior), 0..40)))
        }

        proptest! {
            #[test]
            fn no_sequence_clears_a_flag_the_campaign_did_not_set_or_revives_a_final_account(
                (prior, events) in scenario()
            ) {
                let mut state = apply(None, Event::Scanned(prior)).map_err(|r| TestCaseError::fail(r.0))?.next;
                for event in events {
                    let Ok(t) = apply(Some(state), event) else { continue };
                    // A completed change through the portal takes the flag off whatever it was
                    // before (the portal's own write does): that is the campaign's goal met.
                    if t.effect == Effect::ClearFlag && event != Event::PortalWriteInterrupted {
                        prop_assert_eq!(prior, Unset, "cleared a flag that was there before: {:?} + {:?}", state, event);
                        prop_assert!(matches!(t.next, Reverted | Exempted), "{:?} + {:?}", state, event);
                    }
                    if t.effect == Effect::SetFlag {
                        prop_assert_eq!(t.next, Marked, "{:?} + {:?}", state, event);
                    }
                    match state {
                        // Final: no mail (only marked accounts get mail) and no directory work again.
                        Completed | Reverted | Gone | Excluded => {
                            prop_assert_eq!((t.next, t.effect), (state, Effect::None), "{:?}", event);
                        }
                        // Only an operator's explicit "mark again" brings an exempted account back.
                        Exempted if event != Event::MarkAgain => {
                            prop_assert_eq!((t.next, t.effect), (Exempted, Effect::None), "{:?}", event);
                        }
                        _ => {}
                    }
                    state = t.next;
                }
            }

            /// The runner's and the helpdesk's use of the machine, with a directory whose writes
            /// may fail and whose flag the outside world may remove: after a revert or an
            /// exemption, a flag the campaign set is gone, and a flag that was there before is
            /// still there unless the outside world removed it (pwresetd never does).
            #[test]
            fn reverted_and_exempted_accounts_carry_their_prior_flag(
                (prior, events) in scenario(),
                failures in prop::collection::vec(any::<bool>(), 40),
            ) {
                let fed_by_the_code = |e: &Event| !matches!(e, Event::Scanned(_) | Event::MarkSucceeded | Event::MarkFailed | Event::RevertSucceeded);
                let mut state = apply(None, Event::Scanned(prior)).map_err(|r| TestCaseError::fail(r.0))?.next;
                let mut flag = prior == Set;
                // The outside world removed the flag since pwresetd last set it.
                let mut removed_outside = false;
                for (event, fails) in events.into_iter().filter(fed_by_the_code).zip(failures) {
                    match event {
                        // Reconciliation reports a missing flag once somebody removed it; a
                        // changed password clears it.
                        Event::FlagMissing | Event::PasswordChanged if state == Marked => {
                            (flag, removed_outside) = (false, true);
                        }
                        _ => {}
                    }
                    let Ok(t) = apply(Some(state), event) else { continue };
                    if fails && t.effect != Effect::None {
                        // The write failed: a mark is recorded as failed, anything else unchanged.
                        if event == Event::MarkRequested {
                            state = Failed;
                        }
                        continue;
                    }
                    match t.effect {
                        Effect::SetFlag => (flag, removed_outside) = (true, false),
                        Effect::ClearFlag => flag = false,
                        Effect::None => {}
                    }
                    state = t.next;
                    if matches!(state, Reverted | Exempted) {
                        let expected = prior == Set && !removed_outside;
                        prop_assert_eq!(flag, expected, "{:?} after {:?}", state, event);
                    }
                }
            }
        }
    }
}
