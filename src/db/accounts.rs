//! Channel accounts (R1–R11) and the grants on them (R9), and the rights map of a user.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DbError;
use super::schema::{account_grants, channel_accounts, users};
use crate::domain::access::{self, Grant, Grantee, Rights, Subject};
use crate::domain::{AccountId, RoleId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = channel_accounts, check_for_backend(diesel::pg::Pg))]
pub struct AccountRow {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub credentials: serde_json::Value,
    pub lead_source: bool,
    pub require_close_reason: bool,
    pub create_clients: bool,
    pub responsible_user_id: Option<i64>,
    pub responsible_role_id: Option<i64>,
    pub auto_link_interests: bool,
    pub everyone_may_view: bool,
    pub priority: i32,
    pub department_id: Option<i64>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
    /// Its channel is simulated by this server (the demo company).
    pub demo: bool,
    /// Messages from group chats (VK conversations, Telegram groups) are taken.
    pub group_chats: bool,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = channel_accounts)]
pub struct NewAccountRow {
    pub kind: String,
    pub name: String,
    pub credentials: serde_json::Value,
    pub lead_source: bool,
    pub require_close_reason: bool,
    pub create_clients: bool,
    pub responsible_user_id: Option<i64>,
    pub responsible_role_id: Option<i64>,
    pub auto_link_interests: bool,
    pub everyone_may_view: bool,
    pub priority: i32,
    pub department_id: Option<i64>,
    pub enabled: bool,
    pub group_chats: bool,
}

/// Changes to an account; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = channel_accounts)]
pub struct AccountChanges {
    pub name: Option<String>,
    pub credentials: Option<serde_json::Value>,
    pub lead_source: Option<bool>,
    pub require_close_reason: Option<bool>,
    pub create_clients: Option<bool>,
    pub responsible_user_id: Option<Option<i64>>,
    pub responsible_role_id: Option<Option<i64>>,
    pub auto_link_interests: Option<bool>,
    pub everyone_may_view: Option<bool>,
    pub priority: Option<i32>,
    pub department_id: Option<Option<i64>>,
    pub enabled: Option<bool>,
    pub group_chats: Option<bool>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = account_grants, check_for_backend(diesel::pg::Pg))]
pub struct GrantRow {
    pub account_id: i64,
    pub user_id: Option<i64>,
    pub role_id: Option<i64>,
    pub can_view: bool,
    pub can_send: bool,
    pub can_admin: bool,
}

impl GrantRow {
    fn to_domain(&self) -> Option<Grant> {
        let grantee = match (self.user_id, self.role_id) {
            (Some(user), None) => Grantee::User(UserId(user)),
            (None, Some(role)) => Grantee::Role(RoleId(role)),
            _ => return None,
        };
        Some(Grant {
            account: AccountId(self.account_id),
            grantee,
            view: self.can_view,
            send: self.can_send,
            admin: self.can_admin,
        })
    }
}

pub fn insert(conn: &mut PgConnection, account: &NewAccountRow) -> Result<AccountRow, DbError> {
    Ok(diesel::insert_into(channel_accounts::table)
        .values(account)
        .returning(AccountRow::as_returning())
        .get_result(conn)?)
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Option<AccountRow>, DbError> {
    Ok(channel_accounts::table
        .find(id)
        .filter(channel_accounts::archived_at.is_null())
        .select(AccountRow::as_select())
        .first(conn)
        .optional()?)
}

/// Accounts that are not archived, among `ids` (all when `ids` is None), by priority.
pub fn list(conn: &mut PgConnection, ids: Option<&[i64]>) -> Result<Vec<AccountRow>, DbError> {
    let mut query = channel_accounts::table
        .filter(channel_accounts::archived_at.is_null())
        .order((
            channel_accounts::priority.desc(),
            channel_accounts::id.asc(),
        ))
        .select(AccountRow::as_select())
        .into_boxed();
    if let Some(ids) = ids {
        query = query.filter(channel_accounts::id.eq_any(ids));
    }
    Ok(query.load(conn)?)
}

pub fn update(
    conn: &mut PgConnection,
    id: i64,
    changes: &AccountChanges,
) -> Result<Option<AccountRow>, DbError> {
    Ok(diesel::update(
        channel_accounts::table
            .find(id)
            .filter(channel_accounts::archived_at.is_null()),
    )
    .set(changes)
    .returning(AccountRow::as_returning())
    .get_result(conn)
    .optional()?)
}

/// Archives an account: it stops receiving and sending, its dialogs stay readable.
pub fn archive(conn: &mut PgConnection, id: i64, now: DateTime<Utc>) -> Result<bool, DbError> {
    Ok(diesel::update(
        channel_accounts::table
            .find(id)
            .filter(channel_accounts::archived_at.is_null()),
    )
    .set((
        channel_accounts::archived_at.eq(now),
        channel_accounts::enabled.eq(false),
    ))
    .execute(conn)?
        == 1)
}

pub fn grants_of(conn: &mut PgConnection, account_id: i64) -> Result<Vec<GrantRow>, DbError> {
    Ok(account_grants::table
        .filter(account_grants::account_id.eq(account_id))
        .order(account_grants::id.asc())
        .select(GrantRow::as_select())
        .load(conn)?)
}

/// Replaces every grant of an account.
pub fn replace_grants(
    conn: &mut PgConnection,
    account_id: i64,
    grants: &[GrantRow],
) -> Result<(), DbError> {
    diesel::delete(account_grants::table.filter(account_grants::account_id.eq(account_id)))
        .execute(conn)?;
    let rows: Vec<_> = grants
        .iter()
        .map(|g| {
            (
                account_grants::account_id.eq(account_id),
                account_grants::user_id.eq(g.user_id),
                account_grants::role_id.eq(g.role_id),
                account_grants::can_view.eq(g.can_view),
                account_grants::can_send.eq(g.can_send),
                account_grants::can_admin.eq(g.can_admin),
            )
        })
        .collect();
    diesel::insert_into(account_grants::table)
        .values(&rows)
        .execute(conn)?;
    Ok(())
}

/// A user's rights on every account they may see, computed from grants.
#[derive(Debug, Clone, Default)]
pub struct AccessMap {
    pub subject: Option<Subject>,
    rights: HashMap<AccountId, Rights>,
}

impl AccessMap {
    pub fn rights(&self, account: AccountId) -> Rights {
        self.rights.get(&account).copied().unwrap_or(Rights::NONE)
    }

    /// This user acting on a dialog of `account`, with their rights there.
    pub fn actor_on(&self, account: AccountId) -> crate::domain::dialog::Actor {
        let subject = self.subject.as_ref();
        crate::domain::dialog::Actor {
            user: subject.map_or(UserId(0), |s| s.user),
            roles: subject.map(|s| s.roles.clone()).unwrap_or_default(),
            rights: self.rights(account),
        }
    }

    /// The ids of the accounts this user may read, ascending.
    pub fn visible(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .rights
            .iter()
            .filter(|(_, r)| r.view)
            .map(|(id, _)| id.0)
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// The subject (user, roles, admin flag) and their rights on every live account.
/// Who may answer on `account_id` (R26: whom a dialog may be handed to): the enabled
/// users with a send grant (theirs or a role's) or the administrator's rights, and the
/// roles with a send grant — in the rules of `domain::access::rights`, in two statements.
pub fn who_may_answer(
    conn: &mut PgConnection,
    account_id: i64,
) -> Result<(Vec<i64>, Vec<i64>), DbError> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let users: Vec<Id> = diesel::sql_query(
        "SELECT u.id FROM users u WHERE NOT u.disabled AND (u.is_admin OR EXISTS ( \
           SELECT 1 FROM account_grants g WHERE g.account_id = $1 AND g.can_send AND ( \
             g.user_id = u.id OR g.role_id IN (SELECT r.role_id FROM user_roles r WHERE r.user_id = u.id)))) \
         ORDER BY u.id",
    )
    .bind::<diesel::sql_types::BigInt, _>(account_id)
    .load(conn)?;
    let roles: Vec<Id> = diesel::sql_query(
        "SELECT DISTINCT g.role_id AS id FROM account_grants g \
         WHERE g.account_id = $1 AND g.can_send AND g.role_id IS NOT NULL ORDER BY 1",
    )
    .bind::<diesel::sql_types::BigInt, _>(account_id)
    .load(conn)?;
    Ok((
        users.into_iter().map(|u| u.id).collect(),
        roles.into_iter().map(|r| r.id).collect(),
    ))
}

pub fn access_of(conn: &mut PgConnection, user_id: i64) -> Result<AccessMap, DbError> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Array, BigInt};
    // Two statements: the user with their roles, then every account with the grants
    // that name the user or one of their roles.
    let Some((is_admin, roles)) = users::table
        .find(user_id)
        .filter(users::disabled.eq(false))
        .select((
            users::is_admin,
            sql::<Array<BigInt>>(
                "ARRAY(SELECT user_roles.role_id FROM user_roles WHERE user_roles.user_id = users.id)",
            ),
        ))
        .first::<(bool, Vec<i64>)>(conn)
        .optional()?
    else {
        return Ok(AccessMap::default());
    };
    let subject = Subject {
        user: UserId(user_id),
        roles: roles.iter().copied().map(RoleId).collect(),
        is_admin,
    };
    let rows: Vec<((i64, bool), Option<GrantRow>)> = channel_accounts::table
        .left_join(
            account_grants::table.on(account_grants::account_id.eq(channel_accounts::id).and(
                account_grants::user_id
                    .eq(user_id)
                    .or(account_grants::role_id.eq_any(&roles)),
            )),
        )
        .filter(channel_accounts::archived_at.is_null())
        .select((
            (channel_accounts::id, channel_accounts::everyone_may_view),
            Option::<GrantRow>::as_select(),
        ))
        .load(conn)?;
    let mut accounts: Vec<(i64, bool)> = Vec::new();
    let mut grants: Vec<Grant> = Vec::new();
    for (account, grant) in rows {
        if !accounts.contains(&account) {
            accounts.push(account);
        }
        grants.extend(grant.as_ref().and_then(GrantRow::to_domain));
    }
    let rights = accounts
        .into_iter()
        .map(|(id, everyone)| {
            let mine: Vec<Grant> = grants
                .iter()
                .filter(|g| g.account.0 == id)
                .cloned()
                .collect();
            (AccountId(id), access::rights(&subject, everyone, &mine))
        })
        .filter(|(_, r)| r.view)
        .collect();
    Ok(AccessMap {
        subject: Some(subject),
        rights,
    })
}
