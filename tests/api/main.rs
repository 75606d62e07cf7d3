//! Dialogi's integration tests: one binary, one module per area, all through the public
//! interface (HTTP, the command line, the database's own guarantees).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fakes;
mod helpers;
mod matrix;

mod access;
mod auth;
mod backup;
mod bad_input;
mod browser;
mod channels;
mod conversations;
mod crm;
mod database;
mod demo;
mod dialogs;
mod embedded;
mod events;
mod faults;
mod hardening;
mod max;
mod operations;
mod peers;
mod personal_data;
mod schema;
mod services;
mod tools;
mod users;
mod widget;
