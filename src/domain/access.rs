//! Who may do what on a channel account (R9, R10, R20): rights come from grants to the
//! user and to their roles; "everyone may view" lets every user read, never write; the
//! program's administrator may do everything.

use super::{AccountId, RoleId, UserId};

/// What a user may do on one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rights {
    /// Read the account's dialogs.
    pub view: bool,
    /// Answer and act on the account's dialogs ("Отправка").
    pub send: bool,
    /// Administer the account: change its settings and grants, manage colleagues' dialogs.
    pub admin: bool,
}

impl Rights {
    pub const NONE: Rights = Rights {
        view: false,
        send: false,
        admin: false,
    };
    pub const ALL: Rights = Rights {
        view: true,
        send: true,
        admin: true,
    };
}

/// One grant on an account, to a user or to a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub account: AccountId,
    pub grantee: Grantee,
    pub view: bool,
    pub send: bool,
    pub admin: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grantee {
    User(UserId),
    Role(RoleId),
}

/// The person asking, with what decides their rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub user: UserId,
    pub roles: Vec<RoleId>,
    pub is_admin: bool,
}

impl Subject {
    pub fn holds(&self, grantee: Grantee) -> bool {
        match grantee {
            Grantee::User(user) => user == self.user,
            Grantee::Role(role) => self.roles.contains(&role),
        }
    }
}

/// The rights of `subject` on an account with these grants. Any grant implies viewing;
/// "send" comes only from a send grant (R9), never from "everyone may view" (R10).
pub fn rights(subject: &Subject, everyone_may_view: bool, grants: &[Grant]) -> Rights {
    if subject.is_admin {
        return Rights::ALL;
    }
    let mut rights = Rights {
        view: everyone_may_view,
        ..Rights::NONE
    };
    for grant in grants.iter().filter(|g| subject.holds(g.grantee)) {
        rights.view |= grant.view || grant.send || grant.admin;
        rights.send |= grant.send;
        rights.admin |= grant.admin;
    }
    rights
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: AccountId = AccountId(1);

    fn grant(grantee: Grantee, view: bool, send: bool, admin: bool) -> Grant {
        Grant {
            account: ACCOUNT,
            grantee,
            view,
            send,
            admin,
        }
    }

    fn subject(user: i64, roles: &[i64]) -> Subject {
        Subject {
            user: UserId(user),
            roles: roles.iter().copied().map(RoleId).collect(),
            is_admin: false,
        }
    }

    #[test]
    fn r9_rights_come_from_the_users_and_their_roles_grants() {
        let grants = [
            grant(Grantee::User(UserId(1)), true, false, false),
            grant(Grantee::Role(RoleId(7)), true, true, false),
        ];
        assert_eq!(
            rights(&subject(1, &[]), false, &grants),
            Rights {
                view: true,
                send: false,
                admin: false
            }
        );
        assert_eq!(
            rights(&subject(2, &[7]), false, &grants),
            Rights {
                view: true,
                send: true,
                admin: false
            }
        );
        assert_eq!(
            rights(&subject(1, &[7]), false, &grants),
            Rights {
                view: true,
                send: true,
                admin: false
            }
        );
        assert_eq!(rights(&subject(3, &[8]), false, &grants), Rights::NONE);
    }

    #[test]
    fn r10_everyone_may_view_never_lets_anyone_write() {
        let nobody = subject(5, &[]);
        assert_eq!(
            rights(&nobody, true, &[]),
            Rights {
                view: true,
                send: false,
                admin: false
            }
        );
    }

    #[test]
    fn r9_the_program_administrator_may_do_everything() {
        let admin = Subject {
            is_admin: true,
            ..subject(9, &[])
        };
        assert_eq!(rights(&admin, false, &[]), Rights::ALL);
    }

    #[test]
    fn an_account_admin_grant_lets_view_but_not_send() {
        let grants = [grant(Grantee::User(UserId(1)), false, false, true)];
        assert_eq!(
            rights(&subject(1, &[]), false, &grants),
            Rights {
                view: true,
                send: false,
                admin: true
            }
        );
    }
}
