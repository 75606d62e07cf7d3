//! Reports: the analysis of close reasons (R35).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DbError;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Timestamptz};

use super::schema::{channel_accounts, close_reasons, users};

#[derive(Debug, Clone)]
pub struct CloseReasonFilter {
    pub visible_accounts: Vec<i64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub account_id: Option<i64>,
    pub closed_by: Option<i64>,
    pub leads_only: bool,
}

/// One group of closed dialogs: reason (None: without one), account, who closed it
/// (None: the system or a deleted user), the period's start, and how many.
#[derive(Debug, Clone, QueryableByName)]
pub struct ClosedGroup {
    #[diesel(sql_type = Nullable<BigInt>)]
    pub close_reason_id: Option<i64>,
    #[diesel(sql_type = BigInt)]
    pub account_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub closed_by: Option<i64>,
    #[diesel(sql_type = Timestamptz)]
    pub period: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// Closed dialogs grouped by reason, account, user and period (`day`, `week` or
/// `month`, in UTC), with the names of reasons, accounts and users.
pub struct ClosedReport {
    pub groups: Vec<ClosedGroup>,
    pub reasons: Vec<(i64, String)>,
    pub accounts: Vec<(i64, String)>,
    pub users: Vec<(i64, String)>,
}

pub fn close_reasons(
    conn: &mut PgConnection,
    filter: &CloseReasonFilter,
    period: &str,
) -> Result<ClosedReport, DbError> {
    let groups: Vec<ClosedGroup> = diesel::sql_query(
        "SELECT close_reason_id, account_id, closed_by, \
                date_trunc($7, closed_at, 'UTC') AS period, count(*) AS n FROM dialogs \
         WHERE status = 'closed' AND account_id = ANY($1) \
           AND ($2::timestamptz IS NULL OR closed_at >= $2) \
           AND ($3::timestamptz IS NULL OR closed_at < $3) \
           AND ($4::bigint IS NULL OR account_id = $4) \
           AND ($5::bigint IS NULL OR closed_by = $5) \
           AND (NOT $6 OR is_lead) \
         GROUP BY 1, 2, 3, 4",
    )
    .bind::<Array<BigInt>, _>(&filter.visible_accounts)
    .bind::<Nullable<Timestamptz>, _>(filter.from)
    .bind::<Nullable<Timestamptz>, _>(filter.to)
    .bind::<Nullable<BigInt>, _>(filter.account_id)
    .bind::<Nullable<BigInt>, _>(filter.closed_by)
    .bind::<Bool, _>(filter.leads_only)
    .bind::<diesel::sql_types::Text, _>(period)
    .load(conn)?;
    let reasons = close_reasons::table
        .select((close_reasons::id, close_reasons::name))
        .load(conn)?;
    let mut account_ids: Vec<i64> = groups.iter().map(|g| g.account_id).collect();
    account_ids.sort_unstable();
    account_ids.dedup();
    let accounts = channel_accounts::table
        .filter(channel_accounts::id.eq_any(&account_ids))
        .select((channel_accounts::id, channel_accounts::name))
        .load(conn)?;
    let mut user_ids: Vec<i64> = groups.iter().filter_map(|g| g.closed_by).collect();
    user_ids.sort_unstable();
    user_ids.dedup();
    let users = users::table
        .filter(users::id.eq_any(&user_ids))
        .select((users::id, users::display_name))
        .load(conn)?;
    Ok(ClosedReport {
        groups,
        reasons,
        accounts,
        users,
    })
}
