//! Dialogi's integration tests: one binary, one module per area, all through the public
//! interface (HTTP, the command line, the database's own guarantees).

mod helpers;

mod auth;
mod bad_input;
mod database;
mod embedded;
mod operations;
mod users;
