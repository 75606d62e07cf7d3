//! Id newtypes, so that a dialog id is never passed where a user id is expected.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    /// A person who signs in: an operator or an administrator.
    UserId,
    /// A role that users hold and that rights and dialogs may be given to.
    RoleId,
    /// A department of the company.
    DepartmentId,
    /// A browser session or an API token.
    TokenId,
    /// A channel account: one Telegram bot, VK community, Viber bot or WhatsApp number.
    AccountId,
    /// A client or prospect.
    ClientId,
    /// A dialog with one interlocutor on one account.
    DialogId,
    /// A message, inbound, outbound or system line.
    MessageId,
    /// A person's identity on one channel account.
    InterlocutorId,
    /// An interest (deal) of a client.
    InterestId,
    /// A reason a dialog was closed with.
    CloseReasonId,
);
