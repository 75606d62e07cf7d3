//! Quick replies (R41): who may use and who may change a template of each scope, and the
//! placeholders filled in when one is inserted.

use super::access::Rights;

/// Whose a template is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Its owner's alone.
    Personal,
    /// An account's: whoever may view the account uses it.
    Account,
    /// Everyone's.
    Global,
}

impl Scope {
    pub fn parse(raw: &str) -> Option<Scope> {
        match raw {
            "personal" => Some(Scope::Personal),
            "account" => Some(Scope::Account),
            "global" => Some(Scope::Global),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Personal => "personal",
            Scope::Account => "account",
            Scope::Global => "global",
        }
    }
}

/// Who is asking: their id, whether they administer the program, and their rights on
/// the template's account (for an account's template).
#[derive(Debug, Clone, Copy)]
pub struct Asker {
    pub user_id: i64,
    pub is_admin: bool,
    pub account_rights: Rights,
}

/// Whether the asker may insert the template.
pub fn may_use(scope: Scope, owner: Option<i64>, asker: Asker) -> bool {
    match scope {
        Scope::Personal => owner == Some(asker.user_id),
        Scope::Account => asker.is_admin || asker.account_rights.view,
        Scope::Global => true,
    }
}

/// Whether the asker may create, change or delete the template: the owner a personal
/// one, the account's administrators an account's, the program's administrators a
/// global one.
pub fn may_edit(scope: Scope, owner: Option<i64>, asker: Asker) -> bool {
    match scope {
        Scope::Personal => owner == Some(asker.user_id),
        Scope::Account => asker.is_admin || asker.account_rights.admin,
        Scope::Global => asker.is_admin,
    }
}

/// The placeholders a template may hold, as the composer fills them.
pub const PLACEHOLDERS: [&str; 4] = [
    "{client.name}",
    "{operator.name}",
    "{dialog.number}",
    "{account.name}",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn asker(user_id: i64, is_admin: bool, rights: Rights) -> Asker {
        Asker {
            user_id,
            is_admin,
            account_rights: rights,
        }
    }

    #[test]
    fn r41_each_scope_is_used_and_edited_by_its_own_people() {
        let viewer = Rights {
            view: true,
            send: false,
            admin: false,
        };
        let account_admin = Rights {
            view: true,
            send: true,
            admin: true,
        };
        // Personal: the owner alone, even against an administrator.
        assert!(may_use(
            Scope::Personal,
            Some(1),
            asker(1, false, Rights::NONE)
        ));
        assert!(!may_use(
            Scope::Personal,
            Some(1),
            asker(2, true, Rights::ALL)
        ));
        assert!(!may_edit(
            Scope::Personal,
            Some(1),
            asker(2, true, Rights::ALL)
        ));
        // An account's: its viewers use it, its administrators change it.
        assert!(may_use(Scope::Account, None, asker(2, false, viewer)));
        assert!(!may_use(
            Scope::Account,
            None,
            asker(2, false, Rights::NONE)
        ));
        assert!(!may_edit(Scope::Account, None, asker(2, false, viewer)));
        assert!(may_edit(
            Scope::Account,
            None,
            asker(2, false, account_admin)
        ));
        // Global: everyone uses it, the program's administrators change it.
        assert!(may_use(Scope::Global, None, asker(3, false, Rights::NONE)));
        assert!(!may_edit(
            Scope::Global,
            None,
            asker(3, false, account_admin)
        ));
        assert!(may_edit(Scope::Global, None, asker(3, true, Rights::NONE)));
        assert_eq!(Scope::parse("team"), None);
        assert_eq!(Scope::parse("account").map(Scope::as_str), Some("account"));
    }
}
