//! Services: a write that is more than one row — its transaction (in `db`), the files it
//! removes once that committed, the jobs that run it on a schedule. Handlers parse,
//! authorize, call a service and convert its answer.
//!
//! Depends on `db` and `domain`, and on `actors` and `channels` for what a write voids or
//! refreshes in this process before its answer (the registry's recalled rules, the
//! channels' integration switch); must not import `http`.

pub mod accounts;
pub mod clients;
pub mod delivery;
pub mod notes;
pub mod org;
pub mod people;
pub mod personal_data;
pub mod presence;
pub mod push;
pub mod quick_replies;
pub mod rules;
pub mod sessions;
pub mod settings;
pub mod tasks;
pub mod tokens;
pub mod widget;
