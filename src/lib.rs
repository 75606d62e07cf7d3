//! Dialogi: a self-hosted operator inbox for messenger conversations.
//!
//! # Layout
//! - [`config`]: settings from flags and environment, passed down (no globals).
//! - [`startup`]: builds the HTTP server on an address, exposes the bound port.
//! - [`telemetry`]: tracing setup; blocking work that keeps its span.
//! - [`error`]: the one mapping from errors to HTTP statuses and JSON bodies.
//! - [`security`]: password hashes, random tokens, constant-time comparison.
//! - [`domain`]: pure rules and validated values; imports nothing of the project.
//! - [`actors`]: the registry, account and dialog actors; every change goes through them.
//! - [`channels`]: Telegram, VK, Viber, WhatsApp, MAX: webhooks, polling, the outbox sender.
//! - [`db`]: diesel queries per aggregate, the pool, migrations, embedded PostgreSQL.
//! - [`backup`]: `dialogi backup` / `restore`: one archive of the database dump and media.
//! - [`services`]: every write outside the dialog actor, one function per use case
//!   (its transaction, event, audit entry, and what follows the commit), and daily jobs.
//! - [`http`]: routes, wire types (`dto`) and thin handlers.
//! - [`demo`]: the demo company for `dialogi demo` / `--demo`, and its living demo: the
//!   four messengers simulated on loopback and clients who write back.
//!
//! Dependencies point one way: `http` → `services` → `channels` → `actors` → `db` →
//! `domain`, each layer also free to use any below it (`http` reads `db` directly for
//! lists and reports, and never writes it); `demo` → `db`; `domain` → nothing (as each
//! folder's `use crate::` lines show). Database rows, domain values and wire types are
//! three families of types, converted explicitly.

pub mod actors;
pub mod backup;
pub mod channels;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod http;
pub mod security;
pub mod services;
pub mod startup;
pub mod telemetry;
