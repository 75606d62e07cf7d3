//! Reports: the analysis of close reasons (R35).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DbError;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Timestamptz};

use super::schema::close_reasons;

#[derive(Debug, Clone)]
pub struct CloseReasonFilter {
    pub visible_accounts: Vec<i64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub account_id: Option<i64>,
    pub closed_by: Option<i64>,
    pub leads_only: bool,
}

/// One line of the report: the reason (None: closed without one), its name, the count.
pub type ReasonCount = (Option<i64>, Option<String>, i64);

/// Closed dialogs per close reason (`None` = closed without a reason), most frequent first.
pub fn close_reasons(
    conn: &mut PgConnection,
    filter: &CloseReasonFilter,
) -> Result<Vec<ReasonCount>, DbError> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = Nullable<BigInt>)]
        close_reason_id: Option<i64>,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let counts: Vec<(Option<i64>, i64)> = diesel::sql_query(
        "SELECT close_reason_id, count(*) AS n FROM dialogs \
         WHERE status = 'closed' AND account_id = ANY($1) \
           AND ($2::timestamptz IS NULL OR closed_at >= $2) \
           AND ($3::timestamptz IS NULL OR closed_at < $3) \
           AND ($4::bigint IS NULL OR account_id = $4) \
           AND ($5::bigint IS NULL OR closed_by = $5) \
           AND (NOT $6 OR is_lead) \
         GROUP BY close_reason_id",
    )
    .bind::<Array<BigInt>, _>(&filter.visible_accounts)
    .bind::<Nullable<Timestamptz>, _>(filter.from)
    .bind::<Nullable<Timestamptz>, _>(filter.to)
    .bind::<Nullable<BigInt>, _>(filter.account_id)
    .bind::<Nullable<BigInt>, _>(filter.closed_by)
    .bind::<Bool, _>(filter.leads_only)
    .load::<Count>(conn)?
    .into_iter()
    .map(|c| (c.close_reason_id, c.n))
    .collect();
    let names: Vec<(i64, String)> = close_reasons::table
        .select((close_reasons::id, close_reasons::name))
        .load(conn)?;
    let mut rows: Vec<ReasonCount> = counts
        .into_iter()
        .map(|(id, n)| {
            let name = id.and_then(|id| {
                names
                    .iter()
                    .find(|(r, _)| *r == id)
                    .map(|(_, name)| name.clone())
            });
            (id, name, n)
        })
        .collect();
    rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    Ok(rows)
}
