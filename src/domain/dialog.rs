//! The dialog state machine (R18–R26, R33): `decide(state, command, actor)` says which
//! events a command produces or why it is refused; `apply` folds an event into the state.
//! Both are pure: the `DialogActor` feeds them, persists the events and keeps the state.
//!
//! Statuses: New (nobody took it) → Accepted (one responsible user writes) → Returned
//! (redirected to a user or role, waiting in "New") → … → Closed (final: nothing more is
//! written; the next inbound message opens a new dialog).

use std::fmt;

use super::access::Rights;
use super::{InterestId, RoleId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialogStatus {
    New,
    Accepted,
    Returned,
    Closed,
}

impl DialogStatus {
    pub const ALL: [DialogStatus; 4] = [
        DialogStatus::New,
        DialogStatus::Accepted,
        DialogStatus::Returned,
        DialogStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DialogStatus::New => "new",
            DialogStatus::Accepted => "accepted",
            DialogStatus::Returned => "returned",
            DialogStatus::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn is_active(self) -> bool {
        self != DialogStatus::Closed
    }
}

impl fmt::Display for DialogStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a dialog is redirected to (R26).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    User(UserId),
    Role(RoleId),
}

/// What the state machine needs to know about a dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogState {
    pub status: DialogStatus,
    pub responsible_user: Option<UserId>,
    pub responsible_role: Option<RoleId>,
    pub title: Option<String>,
    pub interest: Option<InterestId>,
    pub has_client: bool,
    /// A lead (обращение, R3): from a lead-source account or marked by a rule (R8).
    pub is_lead: bool,
    /// The account's "require close reason" (R4).
    pub require_close_reason: bool,
}

impl DialogState {
    /// A dialog opened by an inbound message, waiting in the pool.
    pub fn opened(require_close_reason: bool) -> Self {
        Self {
            status: DialogStatus::New,
            responsible_user: None,
            responsible_role: None,
            title: None,
            interest: None,
            has_client: true,
            is_lead: false,
            require_close_reason,
        }
    }

    /// The invariants every reachable state keeps (the database checks the same).
    pub fn is_valid(&self) -> bool {
        let accepted_has_user =
            self.status != DialogStatus::Accepted || self.responsible_user.is_some();
        let one_responsible = self.responsible_user.is_none() || self.responsible_role.is_none();
        let title_ok = self
            .title
            .as_deref()
            .is_none_or(|t| !t.trim().is_empty() && t.chars().count() <= TITLE_MAX_CHARS);
        accepted_has_user && one_responsible && title_ok
    }

    fn taken_by_other(&self, user: UserId) -> bool {
        self.status == DialogStatus::Accepted && self.responsible_user != Some(user)
    }
}

/// The user acting, with their rights on the dialog's account and their roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: UserId,
    pub roles: Vec<RoleId>,
    pub rights: Rights,
}

pub const TITLE_MAX_CHARS: usize = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A message from the interlocutor arrived.
    Inbound,
    /// Take the dialog into work (R24).
    Accept,
    /// Write to the interlocutor; accepts the dialog when it is not the writer's yet (R21).
    Reply,
    /// Finish the dialog (R25), with a reason when the account requires one (R4).
    Close { reason_given: bool },
    /// Hand the dialog to another user or a role; it becomes Returned (R26).
    Redirect { to: Target },
    /// Rename (R33); `None` goes back to the automatic name.
    Rename { title: Option<String> },
    /// Link to an existing interest of the client (R23).
    LinkInterest { interest: InterestId },
    /// Accept the lead: a new interest from this dialog, and the dialog accepted (R22).
    /// The interest is created with the events; its id joins the state afterwards.
    AcceptLead,
    /// A rule gives the dialog a responsible without taking it into work (R8); a dialog
    /// someone took stays theirs.
    Assign { to: Target },
    /// A rule answers automatically (R8): the dialog is not accepted by it.
    AutoReply,
    /// A rule marks the dialog as a lead (R8).
    MarkLead,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    MessageReceived,
    Accepted { by: UserId },
    Replied { by: UserId },
    Closed { by: UserId },
    Redirected { by: UserId, to: Target },
    Renamed { title: Option<String> },
    InterestLinked { interest: InterestId },
    LeadAccepted { by: UserId },
    Assigned { to: Target },
    AutoReplied,
    MarkedLead,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("you may not see this dialog")]
    NotVisible,
    #[error("you may not write on this account (no send right)")]
    NoSendRight,
    #[error("the dialog is closed; nothing more can be done in it")]
    Closed,
    #[error("another user has taken this dialog into work")]
    TakenByOther,
    #[error("the dialog was redirected to another user")]
    RedirectedToOther,
    #[error("the dialog was redirected to a role you do not hold")]
    RedirectedToOtherRole,
    #[error("this account requires a close reason")]
    ReasonRequired,
    #[error("a title is 1 to 300 characters")]
    InvalidTitle,
    #[error("the dialog has no client to link an interest of")]
    NoClient,
    #[error("the dialog is already linked to this interest")]
    AlreadyLinked,
}

/// Decides what `command` by `actor` does to a dialog in `state`: the events to record, or
/// why not. An empty list means "already so" (e.g. accepting your own dialog).
pub fn decide(
    state: &DialogState,
    command: &Command,
    actor: &Actor,
) -> Result<Vec<Event>, Rejection> {
    if !actor.rights.view {
        return Err(Rejection::NotVisible);
    }
    let me = actor.user;
    match command {
        Command::Inbound => {
            if state.status == DialogStatus::Closed {
                return Err(Rejection::Closed);
            }
            Ok(vec![Event::MessageReceived])
        }
        Command::Accept => accept(state, actor),
        Command::Reply => {
            let mut events = accept(state, actor)?;
            events.push(Event::Replied { by: me });
            Ok(events)
        }
        Command::Close { reason_given } => {
            may_manage(state, actor)?;
            if state.require_close_reason && !reason_given {
                return Err(Rejection::ReasonRequired);
            }
            Ok(vec![Event::Closed { by: me }])
        }
        Command::Redirect { to } => {
            may_manage(state, actor)?;
            Ok(vec![Event::Redirected { by: me, to: *to }])
        }
        Command::Rename { title } => {
            // The taker's alone (R20, the seed: "переименовать диалог, взятый в работу"):
            // as closing and redirecting.
            may_manage(state, actor)?;
            let title = match title {
                Some(raw) => {
                    let trimmed = raw.trim();
                    if trimmed.is_empty() || trimmed.chars().count() > TITLE_MAX_CHARS {
                        return Err(Rejection::InvalidTitle);
                    }
                    Some(trimmed.to_owned())
                }
                None => None,
            };
            if title == state.title {
                return Ok(Vec::new());
            }
            Ok(vec![Event::Renamed { title }])
        }
        Command::LinkInterest { interest } => {
            may_manage(state, actor)?;
            if !state.has_client {
                return Err(Rejection::NoClient);
            }
            if state.interest == Some(*interest) {
                return Ok(Vec::new());
            }
            Ok(vec![Event::InterestLinked {
                interest: *interest,
            }])
        }
        Command::AcceptLead => {
            if !state.has_client {
                return Err(Rejection::NoClient);
            }
            let mut events = accept(state, actor)?;
            events.push(Event::LeadAccepted { by: me });
            Ok(events)
        }
        Command::Assign { to } => {
            may_manage(state, actor)?;
            if state.status == DialogStatus::Accepted {
                return Err(Rejection::TakenByOther);
            }
            let already = match to {
                Target::User(user) => state.responsible_user == Some(*user),
                Target::Role(role) => state.responsible_role == Some(*role),
            };
            if already {
                return Ok(Vec::new());
            }
            Ok(vec![Event::Assigned { to: *to }])
        }
        Command::AutoReply => {
            if state.status == DialogStatus::Closed {
                return Err(Rejection::Closed);
            }
            if !actor.rights.send {
                return Err(Rejection::NoSendRight);
            }
            Ok(vec![Event::AutoReplied])
        }
        Command::MarkLead => {
            may_manage(state, actor)?;
            if state.is_lead {
                return Ok(Vec::new());
            }
            Ok(vec![Event::MarkedLead])
        }
    }
}

/// Accepting: needs "send"; a dialog taken by someone else stays theirs; a dialog
/// redirected to a user waits for that user, one redirected to a role for its members
/// (account administrators may take either).
fn accept(state: &DialogState, actor: &Actor) -> Result<Vec<Event>, Rejection> {
    if !actor.rights.send {
        return Err(Rejection::NoSendRight);
    }
    let me = actor.user;
    match state.status {
        DialogStatus::Closed => Err(Rejection::Closed),
        DialogStatus::Accepted if state.responsible_user == Some(me) => Ok(Vec::new()),
        DialogStatus::Accepted => Err(Rejection::TakenByOther),
        DialogStatus::Returned if !actor.rights.admin => {
            if let Some(user) = state.responsible_user
                && user != me
            {
                return Err(Rejection::RedirectedToOther);
            }
            if let Some(role) = state.responsible_role
                && !actor.roles.contains(&role)
            {
                return Err(Rejection::RedirectedToOtherRole);
            }
            Ok(vec![Event::Accepted { by: me }])
        }
        DialogStatus::New | DialogStatus::Returned => Ok(vec![Event::Accepted { by: me }]),
    }
}

/// Closing, redirecting and linking: the responsible may; while nobody has taken the
/// dialog, anyone who may send; an account administrator always.
fn may_manage(state: &DialogState, actor: &Actor) -> Result<(), Rejection> {
    if state.status == DialogStatus::Closed {
        return Err(Rejection::Closed);
    }
    if actor.rights.admin {
        return Ok(());
    }
    if !actor.rights.send {
        return Err(Rejection::NoSendRight);
    }
    if state.taken_by_other(actor.user) {
        return Err(Rejection::TakenByOther);
    }
    Ok(())
}

/// Whether `actor` may add a task to a dialog with `status` and `responsible` user: a
/// dialog someone else took is theirs to plan (R20); an account administrator always
/// may, and anyone who may send while nobody has taken it. Closed dialogs may get
/// follow-up tasks.
pub fn may_add_task(
    status: DialogStatus,
    responsible: Option<UserId>,
    actor: &Actor,
) -> Result<(), Rejection> {
    if !actor.rights.view {
        return Err(Rejection::NotVisible);
    }
    if actor.rights.admin {
        return Ok(());
    }
    if !actor.rights.send {
        return Err(Rejection::NoSendRight);
    }
    if status == DialogStatus::Accepted && responsible != Some(actor.user) {
        return Err(Rejection::TakenByOther);
    }
    Ok(())
}

/// The state after `event`.
pub fn apply(mut state: DialogState, event: &Event) -> DialogState {
    match event {
        Event::MessageReceived
        | Event::Replied { .. }
        | Event::LeadAccepted { .. }
        | Event::AutoReplied => {}
        Event::Assigned { to } => match to {
            Target::User(user) => {
                state.responsible_user = Some(*user);
                state.responsible_role = None;
            }
            Target::Role(role) => {
                state.responsible_user = None;
                state.responsible_role = Some(*role);
            }
        },
        Event::MarkedLead => state.is_lead = true,
        Event::Accepted { by } => {
            state.status = DialogStatus::Accepted;
            state.responsible_user = Some(*by);
            state.responsible_role = None;
        }
        Event::Closed { .. } => state.status = DialogStatus::Closed,
        Event::Redirected { to, .. } => {
            state.status = DialogStatus::Returned;
            match to {
                Target::User(user) => {
                    state.responsible_user = Some(*user);
                    state.responsible_role = None;
                }
                Target::Role(role) => {
                    state.responsible_user = None;
                    state.responsible_role = Some(*role);
                }
            }
        }
        Event::Renamed { title } => state.title = title.clone(),
        Event::InterestLinked { interest } => state.interest = Some(*interest),
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANNA: UserId = UserId(1);
    const BORIS: UserId = UserId(2);
    const SALES: RoleId = RoleId(10);

    fn operator(user: UserId) -> Actor {
        Actor {
            user,
            roles: vec![SALES],
            rights: Rights {
                view: true,
                send: true,
                admin: false,
            },
        }
    }

    fn viewer(user: UserId) -> Actor {
        Actor {
            rights: Rights {
                view: true,
                send: false,
                admin: false,
            },
            ..operator(user)
        }
    }

    fn account_admin(user: UserId) -> Actor {
        Actor {
            roles: Vec::new(),
            rights: Rights {
                view: true,
                send: true,
                admin: true,
            },
            ..operator(user)
        }
    }

    fn run(state: DialogState, command: Command, actor: &Actor) -> Result<DialogState, Rejection> {
        let events = decide(&state, &command, actor)?;
        Ok(events.iter().fold(state, apply))
    }

    fn accepted_by(user: UserId) -> DialogState {
        run(DialogState::opened(false), Command::Accept, &operator(user)).unwrap()
    }

    #[test]
    fn r20_a_dialog_someone_took_is_renamed_and_planned_by_them_alone() {
        let state = accepted_by(ANNA);
        let rename = Command::Rename {
            title: Some("Моё".into()),
        };
        assert_eq!(
            decide(&state, &rename, &operator(BORIS)),
            Err(Rejection::TakenByOther)
        );
        assert!(decide(&state, &rename, &operator(ANNA)).is_ok());
        assert!(decide(&state, &rename, &account_admin(BORIS)).is_ok());
        let status = DialogStatus::Accepted;
        assert_eq!(
            may_add_task(status, Some(ANNA), &operator(BORIS)),
            Err(Rejection::TakenByOther)
        );
        assert_eq!(may_add_task(status, Some(ANNA), &operator(ANNA)), Ok(()));
        assert_eq!(
            may_add_task(status, Some(ANNA), &account_admin(BORIS)),
            Ok(())
        );
        assert_eq!(
            may_add_task(DialogStatus::New, None, &operator(BORIS)),
            Ok(())
        );
    }

    #[test]
    fn r24_accepting_a_new_dialog_makes_the_user_responsible() {
        let state = accepted_by(ANNA);
        assert_eq!(state.status, DialogStatus::Accepted);
        assert_eq!(state.responsible_user, Some(ANNA));
    }

    #[test]
    fn r20_accepting_a_taken_dialog_is_refused_and_accepting_your_own_is_a_no_op() {
        let state = accepted_by(ANNA);
        assert_eq!(
            decide(&state, &Command::Accept, &operator(BORIS)),
            Err(Rejection::TakenByOther)
        );
        assert_eq!(
            decide(&state, &Command::Accept, &operator(ANNA)),
            Ok(vec![])
        );
        assert_eq!(
            decide(&state, &Command::Reply, &operator(BORIS)),
            Err(Rejection::TakenByOther)
        );
    }

    #[test]
    fn r21_replying_to_a_new_dialog_accepts_it_for_the_writer() {
        let state = DialogState::opened(false);
        let events = decide(&state, &Command::Reply, &operator(ANNA)).unwrap();
        assert_eq!(
            events,
            vec![Event::Accepted { by: ANNA }, Event::Replied { by: ANNA }]
        );
        let state = accepted_by(ANNA);
        assert_eq!(
            decide(&state, &Command::Reply, &operator(ANNA)),
            Ok(vec![Event::Replied { by: ANNA }])
        );
    }

    #[test]
    fn r9_r10_without_send_a_user_cannot_answer_or_accept() {
        let state = DialogState::opened(false);
        for command in [
            Command::Reply,
            Command::Accept,
            Command::Close { reason_given: true },
        ] {
            assert_eq!(
                decide(&state, &command, &viewer(ANNA)),
                Err(Rejection::NoSendRight),
                "{command:?}"
            );
        }
        let nobody = Actor {
            rights: Rights::NONE,
            ..operator(ANNA)
        };
        assert_eq!(
            decide(&state, &Command::Accept, &nobody),
            Err(Rejection::NotVisible)
        );
    }

    #[test]
    fn r4_r25_closing_needs_a_reason_when_the_account_requires_one() {
        let state = DialogState::opened(true);
        assert_eq!(
            decide(
                &state,
                &Command::Close {
                    reason_given: false
                },
                &operator(ANNA)
            ),
            Err(Rejection::ReasonRequired)
        );
        let closed = run(
            state,
            Command::Close { reason_given: true },
            &operator(ANNA),
        )
        .unwrap();
        assert_eq!(closed.status, DialogStatus::Closed);
        let open = DialogState::opened(false);
        assert!(
            decide(
                &open,
                &Command::Close {
                    reason_given: false
                },
                &operator(ANNA)
            )
            .is_ok()
        );
    }

    #[test]
    fn r18_a_closed_dialog_takes_nothing_more() {
        let closed = run(
            DialogState::opened(false),
            Command::Close {
                reason_given: false,
            },
            &operator(ANNA),
        )
        .unwrap();
        for command in [
            Command::Inbound,
            Command::Accept,
            Command::Reply,
            Command::Close { reason_given: true },
            Command::Redirect {
                to: Target::User(BORIS),
            },
            Command::LinkInterest {
                interest: InterestId(1),
            },
            Command::AcceptLead,
            Command::Rename {
                title: Some("Архив".into()),
            },
        ] {
            assert_eq!(
                decide(&closed, &command, &account_admin(ANNA)),
                Err(Rejection::Closed),
                "{command:?}"
            );
        }
    }

    #[test]
    fn r26_redirecting_returns_the_dialog_to_a_user_or_a_role() {
        let state = accepted_by(ANNA);
        let to_boris = run(
            state.clone(),
            Command::Redirect {
                to: Target::User(BORIS),
            },
            &operator(ANNA),
        )
        .unwrap();
        assert_eq!(to_boris.status, DialogStatus::Returned);
        assert_eq!(to_boris.responsible_user, Some(BORIS));
        // It waits for Boris: others may not take it, Boris may.
        assert_eq!(
            decide(&to_boris, &Command::Accept, &operator(UserId(3))),
            Err(Rejection::RedirectedToOther)
        );
        assert!(decide(&to_boris, &Command::Accept, &operator(BORIS)).is_ok());

        let to_role = run(
            state,
            Command::Redirect {
                to: Target::Role(SALES),
            },
            &operator(ANNA),
        )
        .unwrap();
        assert_eq!(
            (to_role.responsible_user, to_role.responsible_role),
            (None, Some(SALES))
        );
        let outsider = Actor {
            roles: vec![],
            ..operator(UserId(4))
        };
        assert_eq!(
            decide(&to_role, &Command::Accept, &outsider),
            Err(Rejection::RedirectedToOtherRole)
        );
        assert!(decide(&to_role, &Command::Accept, &operator(BORIS)).is_ok());
        // An account administrator may take it anyway.
        assert!(decide(&to_role, &Command::Accept, &account_admin(UserId(5))).is_ok());
    }

    #[test]
    fn only_the_responsible_or_an_account_admin_manages_a_taken_dialog() {
        let state = accepted_by(ANNA);
        let redirect = Command::Redirect {
            to: Target::Role(SALES),
        };
        assert_eq!(
            decide(&state, &redirect, &operator(BORIS)),
            Err(Rejection::TakenByOther)
        );
        assert!(decide(&state, &redirect, &account_admin(BORIS)).is_ok());
        assert_eq!(
            decide(
                &state,
                &Command::Close { reason_given: true },
                &operator(BORIS)
            ),
            Err(Rejection::TakenByOther)
        );
    }

    #[test]
    fn r33_renaming_trims_validates_and_can_go_back_to_the_automatic_name() {
        let state = DialogState::opened(false);
        let renamed = run(
            state,
            Command::Rename {
                title: Some("  Оптовый заказ ".into()),
            },
            &operator(ANNA),
        )
        .unwrap();
        assert_eq!(renamed.title.as_deref(), Some("Оптовый заказ"));
        assert_eq!(
            decide(
                &renamed,
                &Command::Rename {
                    title: Some("   ".into())
                },
                &operator(ANNA)
            ),
            Err(Rejection::InvalidTitle)
        );
        assert_eq!(
            decide(
                &renamed,
                &Command::Rename {
                    title: Some("x".repeat(301))
                },
                &operator(ANNA)
            ),
            Err(Rejection::InvalidTitle)
        );
        let reset = run(renamed, Command::Rename { title: None }, &operator(ANNA)).unwrap();
        assert_eq!(reset.title, None);
    }

    #[test]
    fn r22_r23_accepting_a_lead_accepts_and_links_and_linking_is_idempotent() {
        let state = DialogState::opened(false);
        let events = decide(&state, &Command::AcceptLead, &operator(ANNA)).unwrap();
        assert_eq!(
            events,
            vec![
                Event::Accepted { by: ANNA },
                Event::LeadAccepted { by: ANNA }
            ]
        );
        let accepted = events.iter().fold(state, apply);
        assert_eq!(accepted.status, DialogStatus::Accepted);
        let linked = run(
            accepted,
            Command::LinkInterest {
                interest: InterestId(5),
            },
            &operator(ANNA),
        )
        .unwrap();
        assert_eq!(
            decide(
                &linked,
                &Command::LinkInterest {
                    interest: InterestId(5)
                },
                &operator(ANNA)
            ),
            Ok(vec![])
        );
        let no_client = DialogState {
            has_client: false,
            ..DialogState::opened(false)
        };
        assert_eq!(
            decide(
                &no_client,
                &Command::LinkInterest {
                    interest: InterestId(5)
                },
                &operator(ANNA)
            ),
            Err(Rejection::NoClient)
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn any_actor() -> impl Strategy<Value = Actor> {
            (
                1i64..4,
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(user, view, send, admin, in_role)| Actor {
                    user: UserId(user),
                    roles: if in_role { vec![SALES] } else { vec![] },
                    rights: Rights { view, send, admin },
                })
        }

        fn any_command() -> impl Strategy<Value = Command> {
            prop_oneof![
                Just(Command::Inbound),
                Just(Command::Accept),
                Just(Command::Reply),
                any::<bool>().prop_map(|reason_given| Command::Close { reason_given }),
                (1i64..4).prop_map(|u| Command::Redirect {
                    to: Target::User(UserId(u))
                }),
                Just(Command::Redirect {
                    to: Target::Role(SALES)
                }),
                proptest::option::of("[ a-zA-Zа-я]{0,5}")
                    .prop_map(|title| Command::Rename { title }),
                (1i64..3).prop_map(|i| Command::LinkInterest {
                    interest: InterestId(i)
                }),
                Just(Command::AcceptLead),
            ]
        }

        proptest! {
            #[test]
            fn random_command_sequences_never_reach_an_invalid_state(
                require_reason in any::<bool>(),
                steps in proptest::collection::vec((any_command(), any_actor()), 0..60),
            ) {
                let mut state = DialogState::opened(require_reason);
                for (command, actor) in steps {
                    let before = state.clone();
                    match decide(&state, &command, &actor) {
                        Ok(events) => {
                            // Only someone who may see the dialog changes it, and a closed
                            // dialog never changes again.
                            prop_assert!(actor.rights.view);
                            prop_assert!(before.status != DialogStatus::Closed || events.is_empty());
                            state = events.iter().fold(state, apply);
                            if state.status == DialogStatus::Accepted && before.status != DialogStatus::Accepted {
                                prop_assert_eq!(state.responsible_user, Some(actor.user));
                                prop_assert!(actor.rights.send);
                            }
                            if state.status == DialogStatus::Closed && before.status != DialogStatus::Closed {
                                let with_reason = matches!(command, Command::Close { reason_given: true });
                                prop_assert!(!state.require_close_reason || with_reason);
                            }
                        }
                        Err(_) => prop_assert_eq!(&state, &before),
                    }
                    prop_assert!(state.is_valid(), "invalid state {:?}", state);
                }
            }
        }
    }
}
