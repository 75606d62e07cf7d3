//! Hand-written statements that each connection prepares once.
//!
//! `diesel::sql_query` marks itself as never to be cached, so PostgreSQL parses and plans
//! it again on every run. On the hot write paths (every commit's guarded dialog update and
//! its events' append) that planning is a good part of a one-row statement's cost, so
//! those statements go through [`Prepared`]: diesel's statement cache keeps them by their
//! text, as it keeps the statements its query builder writes.

use std::marker::PhantomData;

use diesel::RunQueryDsl;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::{Error, QueryResult};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};

/// A statement whose SQL names its parameters `$1`, `$2`, … each once and in that order,
/// with the values [`bind`](Prepared::bind) gives in the same order. Load its rows as
/// `QueryableByName` types, as from `sql_query`.
#[must_use = "a statement runs only when it is executed or loaded"]
pub struct Prepared<'a> {
    sql: &'static str,
    binds: Vec<Box<dyn QueryFragment<Pg> + 'a>>,
}

impl<'a> Prepared<'a> {
    pub fn new(sql: &'static str) -> Self {
        Self {
            sql,
            binds: Vec::new(),
        }
    }

    /// The next parameter's value, as SQL type `ST`.
    pub fn bind<ST, U>(mut self, value: U) -> Self
    where
        ST: 'static,
        Pg: HasSqlType<ST>,
        U: ToSql<ST, Pg> + 'a,
    {
        self.binds.push(Box::new(Bind::<ST, U> {
            value,
            sql_type: PhantomData,
        }));
        self
    }
}

struct Bind<ST, U> {
    value: U,
    sql_type: PhantomData<fn() -> ST>,
}

impl<ST, U> QueryFragment<Pg> for Bind<ST, U>
where
    Pg: HasSqlType<ST>,
    U: ToSql<ST, Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_bind_param::<ST, U>(&self.value)
    }
}

/// The SQL between the parameters: `pieces[i]` comes before parameter `i + 1`, the last
/// piece after the last parameter. `None` unless the parameters are `$1`…`$n`, each once,
/// in order.
fn split_at_parameters(sql: &str) -> Option<Vec<&str>> {
    let mut pieces = Vec::new();
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let number: usize = rest[at + 1..at + 1 + digits].parse().ok()?;
        if number != pieces.len() + 1 {
            return None;
        }
        pieces.push(&rest[..at]);
        rest = &rest[at + 1 + digits..];
    }
    pieces.push(rest);
    Some(pieces)
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let pieces = split_at_parameters(self.sql)
            .filter(|pieces| pieces.len() == self.binds.len() + 1)
            .ok_or_else(|| {
                Error::QueryBuilderError(
                    format!(
                        "a prepared statement needs its {} values as $1…${0}, each once, in order",
                        self.binds.len()
                    )
                    .into(),
                )
            })?;
        // diesel writes each parameter's `$n` where its value is pushed.
        for (piece, bind) in pieces.iter().zip(&self.binds) {
            out.push_sql(piece);
            bind.walk_ast(out.reborrow())?;
        }
        if let Some(last) = pieces.last() {
            out.push_sql(last);
        }
        Ok(())
    }
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    // Cached by its text, not by a Rust type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for Prepared<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_split_the_sql_in_order() {
        assert_eq!(
            split_at_parameters("SELECT $1::int + $2, $3"),
            Some(vec!["SELECT ", "::int + ", ", ", ""])
        );
        assert_eq!(split_at_parameters("SELECT 1"), Some(vec!["SELECT 1"]));
    }

    #[test]
    fn parameters_out_of_order_repeated_or_unnumbered_are_refused() {
        assert_eq!(split_at_parameters("SELECT $2, $1"), None);
        assert_eq!(split_at_parameters("SELECT $1, $1"), None);
        assert_eq!(split_at_parameters("SELECT $x"), None);
        assert_eq!(split_at_parameters("unnest($9, $10)"), None);
    }

    #[test]
    fn ten_and_more_parameters_are_read_whole() {
        let sql = (1..=12)
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(",");
        let pieces = split_at_parameters(&sql).map(|p| p.len());
        assert_eq!(pieces, Some(13));
    }
}
