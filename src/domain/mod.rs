//! The pure rules of Dialogi: values that parse and validate themselves, and the
//! decisions made on them. No I/O here: nothing from actix, diesel, tokio or the network.
//! Everything else may import `domain`; `domain` imports nothing of the project.

pub mod access;
pub mod account;
pub mod content;
pub mod dialog;
pub mod hosts;
pub mod ids;
pub mod media;
pub mod outbox;
pub mod people;
pub mod presence;
pub mod quick_replies;
pub mod rules;
pub mod sections;
pub mod text;
pub mod unread;
pub mod widget;

pub use ids::*;
