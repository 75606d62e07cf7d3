//! Services: a write that is more than one row — its transaction (in `db`), the files it
//! removes once that committed, the jobs that run it on a schedule. Handlers parse,
//! authorize, call a service and convert its answer.
//!
//! Depends on `db` and `domain`; must not import `http`.

pub mod accounts;
pub mod people;
pub mod personal_data;
pub mod tokens;
