//! Persistence: diesel (sync) over an r2d2 pool, the embedded migrations, the embedded
//! PostgreSQL launcher, and one file of query functions per aggregate.
//!
//! Every query function takes `&mut PgConnection` and is called off the async threads
//! (`run` below, or `web::block` in a handler). Rows (`*Row`, `New*Row`) stay in this
//! module's files; callers convert them to `domain` values or `http::dto` types.
//! Must not import `http`, `actors` or `channels`.

pub mod accounts;
pub mod audit;
pub mod changes;
pub mod clients;
pub mod crm;
pub mod data_access;
pub mod demo;
pub mod dialog_list;
pub mod dialogs;
pub mod embedded;
pub mod events;
pub mod idempotency;
pub mod messages;
pub mod monitor;
pub mod notes;
pub mod org;
pub mod outbox;
pub mod personal_data;
pub mod prepared;
pub mod presence;
pub mod push;
pub mod quick_replies;
pub mod reports;
pub mod rules;
pub mod schema;
pub mod settings;
pub mod tasks;
pub mod tokens;
pub mod users;
pub mod widget;

use std::time::Duration;

use diesel::PgConnection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub type DbPool = Pool<ConnectionManager<PgConnection>>;
pub type DbConn = PooledConnection<ConnectionManager<PgConnection>>;

/// The SQL migrations of `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// How long a request waits for a free connection before it fails (the r2d2 default of
/// 30 s would hold blocking threads through a database outage).
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no database connection available: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// As `Pool`, for each of several jobs that waited on one failed checkout.
    #[error("no database connection available: {0}")]
    Unreachable(String),
    #[error(transparent)]
    Query(#[from] DieselError),
    #[error("the blocking task was cancelled")]
    Cancelled,
    #[error("migrations: {0}")]
    Migration(String),
    /// A guarded update found the row changed by someone else; nothing was written.
    #[error("the record changed meanwhile")]
    VersionConflict,
    /// A rule of the data that the caller should have kept was broken.
    #[error("inconsistent request: {0}")]
    Invariant(&'static str),
}

impl DbError {
    /// Whether the database could not be used (no connection, the connection broke, a
    /// serialization failure or a concurrent change): the same work may succeed later.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::DatabaseErrorKind as Kind;
        match self {
            DbError::Pool(_) | DbError::Unreachable(_) | DbError::Cancelled => true,
            DbError::VersionConflict | DbError::Migration(_) => true,
            DbError::Query(DieselError::DatabaseError(kind, info)) => match kind {
                Kind::ClosedConnection
                | Kind::UnableToSendCommand
                | Kind::SerializationFailure
                | Kind::ReadOnlyTransaction => true,
                // A server shutting down or starting up, a lost connection.
                _ => {
                    let message = info.message();
                    message.contains("terminating connection")
                        || message.contains("the database system is")
                        || message.contains("server closed the connection")
                        || message.contains("could not connect")
                        || message.contains("deadlock detected")
                }
            },
            DbError::Query(DieselError::BrokenTransactionManager) => true,
            DbError::Query(_) | DbError::Invariant(_) => false,
        }
    }

    /// The violated constraint, when the database refused a write because of one.
    pub fn constraint(&self) -> Option<(DatabaseErrorKind, String)> {
        match self {
            DbError::Query(DieselError::DatabaseError(kind, info)) => {
                Some((*kind, info.constraint_name().unwrap_or_default().to_owned()))
            }
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, DbError::Query(DieselError::NotFound))
    }
}

/// Session settings for every pooled connection: no statement may hang a request forever,
/// and an abandoned transaction cannot hold locks.
#[derive(Debug, Clone, Copy)]
struct SessionSettings;

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            "SET statement_timeout = '30s'; \
             SET idle_in_transaction_session_timeout = '60s'; \
             SET TIME ZONE 'UTC'",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Builds the pool without waiting for connections, so a server can start while the
/// database is still coming up; `/readyz` tells when it is reachable.
pub fn build_pool(database_url: &str, max_size: u32) -> DbPool {
    Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(CHECKOUT_TIMEOUT)
        .test_on_check_out(false)
        .connection_customizer(Box::new(SessionSettings))
        .build_unchecked(ConnectionManager::new(database_url))
}

/// Applies the migrations that have not run yet; returns how many ran.
/// Several processes starting together take turns (a session advisory lock), so each
/// migration runs once.
pub fn run_migrations(conn: &mut PgConnection) -> Result<usize, DbError> {
    use diesel::RunQueryDsl;
    const MIGRATION_LOCK: i64 = 0x646c_676d_6967; // "dlg" "mig"
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(conn)?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|applied| applied.len())
        .map_err(|e| DbError::Migration(e.to_string()));
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(conn)?;
    applied
}

/// Whether every embedded migration has been applied.
pub fn migrations_complete(conn: &mut PgConnection) -> Result<bool, DbError> {
    let pending = conn
        .has_pending_migration(MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(!pending)
}

/// Runs a blocking database job on tokio's blocking pool, keeping the caller's tracing
/// span, so diesel never blocks an actix arbiter thread.
pub async fn run<T, F>(pool: &DbPool, job: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&mut PgConnection) -> Result<T, DbError> + Send + 'static,
{
    let pool = pool.clone();
    crate::telemetry::spawn_blocking_with_span(move || {
        let mut conn = pool.get()?;
        job(&mut conn)
    })
    .await
    .map_err(|_| DbError::Cancelled)?
}
