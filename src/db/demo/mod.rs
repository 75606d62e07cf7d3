//! The demo company: departments, roles, operators, six channel accounts (one per kind),
//! clients and prospects, a few hundred dialogs in every status with Russian and English
//! messages, interests and close reasons. Written straight into an empty database in one
//! transaction (no actors, no events: nobody is watching yet), deterministic from a seed.
//! Called by `dialogi demo` and `dialogi --demo`.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::json;

pub mod content;

use self::content::*;
use super::DbError;
use super::schema::{
    account_grants, channel_accounts, clients, close_reasons, contact_persons, departments,
    dialog_reads, dialogs, interests, interlocutors, messages, roles, user_roles, users,
};

/// The password every demo operator signs in with is made by the caller and reported back.
pub struct DemoSummary {
    pub operators: Vec<String>,
    pub accounts: usize,
    pub clients: usize,
    pub dialogs: usize,
    pub messages: usize,
}

/// Whether the database holds no dialogs and no channel accounts yet.
pub fn is_empty(conn: &mut PgConnection) -> Result<bool, DbError> {
    let accounts: i64 = channel_accounts::table.count().get_result(conn)?;
    let dialogs: i64 = dialogs::table.count().get_result(conn)?;
    Ok(accounts == 0 && dialogs == 0)
}

/// A small deterministic generator (xorshift64*), so every demo looks the same.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Fills the database with the demo company. `password_hash` is the Argon2 hash every demo
/// operator gets. Fails (changing nothing) when the database is not empty.
pub fn fill(
    conn: &mut PgConnection,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<DemoSummary, DbError> {
    conn.transaction(|conn| fill_in_transaction(conn, password_hash, now))
}

fn fill_in_transaction(
    conn: &mut PgConnection,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<DemoSummary, DbError> {
    let mut dice = Dice(0x00D1_A10C_5EED);

    let department_ids: Vec<i64> = diesel::insert_into(departments::table)
        .values(&vec![
            departments::name.eq("Продажи"),
            departments::name.eq("Поддержка"),
        ])
        .returning(departments::id)
        .get_results(conn)?;
    let role_ids: Vec<i64> = diesel::insert_into(roles::table)
        .values(&vec![
            (
                roles::name.eq("Менеджеры продаж"),
                roles::description.eq("Отвечают на обращения и ведут сделки"),
            ),
            (
                roles::name.eq("Служба поддержки"),
                roles::description.eq("Помогают клиентам с заказами"),
            ),
        ])
        .returning(roles::id)
        .get_results(conn)?;

    let mut operator_ids = Vec::new();
    for operator in &OPERATORS {
        let id: i64 = diesel::insert_into(users::table)
            .values((
                users::login.eq(operator.login),
                users::display_name.eq(operator.name),
                users::password_hash.eq(password_hash),
                users::department_id.eq(department_ids[operator.department]),
                users::locale.eq(operator.locale),
                users::status.eq(if operator.away_for_minutes.is_some() {
                    "away"
                } else {
                    "online"
                }),
                users::status_since
                    .eq(now - chrono::Duration::minutes(operator.away_for_minutes.unwrap_or(0))),
            ))
            .returning(users::id)
            .get_result(conn)?;
        diesel::insert_into(user_roles::table)
            .values((
                user_roles::user_id.eq(id),
                user_roles::role_id.eq(role_ids[operator.role]),
            ))
            .execute(conn)?;
        operator_ids.push(id);
    }
    let sales_ops: Vec<i64> = operator_ids[..3].to_vec();
    let support_ops: Vec<i64> = operator_ids[3..].to_vec();

    let reason_ids: Vec<i64> = {
        let mut ids: Vec<i64> = close_reasons::table.select(close_reasons::id).load(conn)?;
        let extra: Vec<i64> = diesel::insert_into(close_reasons::table)
            .values(
                EXTRA_CLOSE_REASONS
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        (
                            close_reasons::name.eq(*name),
                            close_reasons::position.eq(i as i32 + 6),
                        )
                    })
                    .collect::<Vec<_>>(),
            )
            .returning(close_reasons::id)
            .get_results(conn)?;
        ids.extend(extra);
        ids
    };

    // (kind, name, credentials, lead source, require reason, create clients, role, auto-link,
    // everyone may view, priority, department)
    let account_specs = [
        (
            "telegram",
            "Telegram: продажи",
            json!({"token": "7000001:demo", "mode": "webhook", "webhook_secret": "demo"}),
            true,
            false,
            false,
            0,
            true,
            false,
            10,
            0,
        ),
        (
            "vk",
            "ВКонтакте: поддержка",
            json!({"group_id": 100200300, "access_token": "demo", "secret": "demo", "confirmation": "demo", "mode": "callback"}),
            false,
            true,
            true,
            1,
            false,
            false,
            5,
            1,
        ),
        (
            "viber",
            "Viber: поддержка",
            json!({"auth_token": "demo-not-a-real-token"}),
            false,
            false,
            true,
            1,
            false,
            true,
            1,
            1,
        ),
        (
            "whatsapp",
            "WhatsApp: продажи",
            json!({"phone_number_id": "100000000000001", "access_token": "demo", "app_secret": "demo", "verify_token": "demo"}),
            true,
            true,
            true,
            0,
            true,
            false,
            8,
            0,
        ),
        (
            "web",
            "Сайт: чат",
            json!({"allowed_origins": "http://127.0.0.1:8080", "greeting": "Здравствуйте! Подскажем с выбором и доставкой.",
                   "color": "#0a7d3e", "consent_text": "Согласен(на) на обработку персональных данных ООО «Зерно» для ответа на мой вопрос", "prechat": "off"}),
            true,
            false,
            false,
            0,
            true,
            false,
            6,
            0,
        ),
        (
            "max",
            "MAX: поддержка",
            json!({"token": "demo", "mode": "webhook", "webhook_secret": "demo"}),
            false,
            false,
            true,
            1,
            false,
            false,
            2,
            1,
        ),
    ];
    let mut account_ids = Vec::new();
    let creates_clients: Vec<bool> = account_specs.iter().map(|spec| spec.5).collect();
    let account_kinds: Vec<&str> = account_specs.iter().map(|spec| spec.0).collect();
    for (kind, name, credentials, lead, reason, create, role, link, everyone, priority, dept) in
        account_specs
    {
        let id: i64 = diesel::insert_into(channel_accounts::table)
            .values((
                channel_accounts::kind.eq(kind),
                channel_accounts::name.eq(name),
                channel_accounts::credentials.eq(credentials),
                channel_accounts::lead_source.eq(lead),
                channel_accounts::require_close_reason.eq(reason),
                channel_accounts::create_clients.eq(create),
                channel_accounts::responsible_role_id.eq(role_ids[role]),
                channel_accounts::auto_link_interests.eq(link),
                channel_accounts::everyone_may_view.eq(everyone),
                channel_accounts::priority.eq(priority),
                channel_accounts::department_id.eq(department_ids[dept]),
                channel_accounts::demo.eq(true),
            ))
            .returning(channel_accounts::id)
            .get_result(conn)?;
        account_ids.push(id);
        let team_role = role_ids[role];
        diesel::insert_into(account_grants::table)
            .values((
                account_grants::account_id.eq(id),
                account_grants::role_id.eq(team_role),
                account_grants::can_view.eq(true),
                account_grants::can_send.eq(true),
            ))
            .execute(conn)?;
    }
    // Anna administers the Telegram account; John may read the VK support dialogs.
    diesel::insert_into(account_grants::table)
        .values(&vec![
            (
                account_grants::account_id.eq(account_ids[0]),
                account_grants::user_id.eq(operator_ids[0]),
                account_grants::can_view.eq(true),
                account_grants::can_send.eq(true),
                account_grants::can_admin.eq(true),
            ),
            (
                account_grants::account_id.eq(account_ids[1]),
                account_grants::user_id.eq(operator_ids[2]),
                account_grants::can_view.eq(true),
                account_grants::can_send.eq(false),
                account_grants::can_admin.eq(false),
            ),
        ])
        .execute(conn)?;

    let mut summary = DemoSummary {
        operators: OPERATORS.iter().map(|o| o.login.to_owned()).collect(),
        accounts: account_ids.len(),
        clients: 0,
        dialogs: 0,
        messages: 0,
    };

    const CLIENTS: usize = 90;
    for c in 0..CLIENTS {
        let english = c % 7 == 3;
        let company = c % 9 == 4;
        let person = if english {
            (*dice.pick(&ENGLISH_NAMES)).to_owned()
        } else {
            let first = dice.pick(&FIRST_NAMES);
            let last = dice.pick(&LAST_NAMES);
            // Russian surnames take -а for women's first names ending in -а/-я.
            if first.ends_with('а') || first.ends_with('я') {
                format!("{first} {last}а")
            } else {
                format!("{first} {last}")
            }
        };
        let account_index = c % account_ids.len();
        let account_id = account_ids[account_index];
        let sales = account_index == 0 || account_index == 3;
        let creates_clients = creates_clients[account_index];
        let client_name = if company {
            dice.pick(&COMPANIES).to_string()
        } else {
            person.clone()
        };
        let kind = if creates_clients || dice.chance(30) {
            "client"
        } else {
            "prospect"
        };
        let client_id: i64 = diesel::insert_into(clients::table)
            .values((
                clients::kind.eq(kind),
                clients::name.eq(&client_name),
                clients::phone.eq(format!(
                    "+7 9{:02} {:03}-{:02}-{:02}",
                    c % 100,
                    (c * 37) % 1000,
                    c % 60,
                    (c * 7) % 100
                )),
                clients::created_at.eq(now - Duration::days(90)),
            ))
            .returning(clients::id)
            .get_result(conn)?;
        summary.clients += 1;
        let contact_id: Option<i64> = if company {
            Some(
                diesel::insert_into(contact_persons::table)
                    .values((
                        contact_persons::client_id.eq(client_id),
                        contact_persons::name.eq(&person),
                        contact_persons::position.eq(if english {
                            "Purchasing manager"
                        } else {
                            "Менеджер по закупкам"
                        }),
                    ))
                    .returning(contact_persons::id)
                    .get_result(conn)?,
            )
        } else {
            None
        };
        let interlocutor_id: i64 = diesel::insert_into(interlocutors::table)
            .values((
                interlocutors::account_id.eq(account_id),
                // A website visitor's id is 32 hex digits (their token signs it).
                interlocutors::external_id.eq(if account_kinds[account_index] == "web" {
                    format!("{:032x}", 500_000 + c * 13)
                } else {
                    format!("{}", 500_000 + c * 13)
                }),
                interlocutors::display_name.eq(&person),
                interlocutors::client_id.eq(client_id),
                interlocutors::contact_person_id.eq(contact_id),
                interlocutors::created_at.eq(now - Duration::days(90)),
            ))
            .returning(interlocutors::id)
            .get_result(conn)?;

        let team = if sales { &sales_ops } else { &support_ops };
        let dialog_count = 1 + dice.below(6);
        let mut interest_id: Option<i64> = None;
        for d in 0..dialog_count {
            let last = d + 1 == dialog_count;
            // Older dialogs are closed; the newest one is active two times in five.
            let status = if !last || dice.chance(60) {
                "closed"
            } else {
                *dice.pick(&["new", "new", "accepted", "accepted", "accepted", "returned"])
            };
            let days_ago = if last && status != "closed" {
                i64::from(dice.below(2) as u8)
            } else {
                (dialog_count - d) as i64 * 12 + dice.below(10) as i64
            };
            let started =
                now - Duration::days(days_ago) - Duration::minutes(dice.below(600) as i64 + 30);
            // The operator who worked on the dialog; a returned dialog was redirected back
            // to the team's role and has no responsible user.
            let responsible = match status {
                "new" => None,
                _ => Some(*dice.pick(team)),
            };
            let responsible_user = if status == "returned" {
                None
            } else {
                responsible
            };
            if sales && interest_id.is_none() && status != "new" && dice.chance(40) {
                let title = *dice.pick(&INTEREST_TITLES);
                let interest_status = if last {
                    "active"
                } else {
                    *dice.pick(&["won", "lost", "active"])
                };
                interest_id = Some(
                    diesel::insert_into(interests::table)
                        .values((
                            interests::client_id.eq(client_id),
                            interests::title.eq(title),
                            interests::status.eq(interest_status),
                            interests::amount_minor.eq((dice.below(90) as i64 + 10) * 100_000), // in kopecks
                            interests::currency.eq("RUB"),
                            interests::responsible_user_id.eq(responsible),
                            interests::created_by.eq(responsible),
                            interests::created_at.eq(started),
                            interests::closed_at.eq((interest_status != "active")
                                .then_some(started + Duration::days(5))),
                        ))
                        .returning(interests::id)
                        .get_result(conn)?,
                );
            }
            let closed_at = (status == "closed").then(|| started + Duration::hours(3));
            let dialog_id: i64 = diesel::insert_into(dialogs::table)
                .values((
                    dialogs::account_id.eq(account_id),
                    dialogs::interlocutor_id.eq(interlocutor_id),
                    dialogs::client_id.eq(client_id),
                    dialogs::status.eq(status),
                    dialogs::responsible_user_id.eq(responsible_user),
                    dialogs::responsible_role_id.eq(if status == "returned" || status == "new" {
                        Some(role_ids[if sales { 0 } else { 1 }])
                    } else {
                        None
                    }),
                    dialogs::is_lead.eq(sales),
                    dialogs::interest_id.eq(interest_id),
                    dialogs::close_reason_id.eq(closed_at.map(|_| *dice.pick(&reason_ids))),
                    dialogs::closed_by.eq(closed_at.and(responsible)),
                    dialogs::created_at.eq(started),
                    dialogs::accepted_at.eq(responsible.map(|_| started + Duration::minutes(4))),
                    dialogs::closed_at.eq(closed_at),
                ))
                .returning(dialogs::id)
                .get_result(conn)?;
            if interest_id.is_some() && d == 0 {
                diesel::update(
                    interests::table.filter(interests::id.eq(interest_id.unwrap_or_default())),
                )
                .set(interests::basis_dialog_id.eq(dialog_id))
                .execute(conn)?;
            }
            summary.dialogs += 1;
            let unread_tail = last && status != "closed" && dice.chance(50);
            summary.messages += write_conversation(
                conn,
                &mut dice,
                Conversation {
                    dialog_id,
                    account_id,
                    started,
                    english,
                    sales,
                    status,
                    responsible,
                    unread_tail,
                },
            )?;
        }
    }
    finish_consistently(conn, &account_ids, &operator_ids, now)?;
    Ok(summary)
}

/// What the product's rules expect of data that came through it: each interlocutor's
/// last inbound time (the WhatsApp window is counted from it), a rule that answers by
/// itself, and tasks planned on open dialogs.
fn finish_consistently(
    conn: &mut PgConnection,
    account_ids: &[i64],
    operator_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::sql_query(
        "UPDATE interlocutors i SET last_inbound_at = m.at \
         FROM (SELECT d.interlocutor_id, max(m.created_at) AS at FROM messages m \
               JOIN dialogs d ON d.id = m.dialog_id WHERE m.direction = 'in' \
               GROUP BY d.interlocutor_id) m \
         WHERE m.interlocutor_id = i.id",
    )
    .execute(conn)?;
    diesel::insert_into(super::schema::rules::table)
        .values(&super::rules::RuleFields {
            account_id: Some(account_ids[0]),
            name: "Прайс-лист по запросу".into(),
            position: 1,
            enabled: true,
            stop_processing: false,
            conditions: json!([{"type": "text_contains", "value": "прайс"}]),
            actions: json!([{"type": "auto_reply",
                "text": "Здравствуйте, {client}! Прайс-лист пришлём в этот чат в течение часа."}]),
        })
        .execute(conn)?;
    // A few tasks on the newest open dialogs, for the operators who hold them.
    let open: Vec<(i64, Option<i64>, Option<i64>)> = dialogs::table
        .filter(dialogs::status.eq("accepted"))
        .order(dialogs::id.desc())
        .limit(4)
        .select((
            dialogs::id,
            dialogs::client_id,
            dialogs::responsible_user_id,
        ))
        .load(conn)?;
    let titles = [
        "Перезвонить клиенту",
        "Отправить счёт",
        "Уточнить сроки доставки",
        "Follow up on the quote",
    ];
    for ((dialog_id, client_id, responsible), title) in open.into_iter().zip(titles) {
        let author = responsible.unwrap_or(operator_ids[0]);
        let task_id: i64 = diesel::insert_into(super::schema::tasks::table)
            .values((
                super::schema::tasks::kind.eq("personal"),
                super::schema::tasks::title.eq(title),
                super::schema::tasks::dialog_id.eq(dialog_id),
                super::schema::tasks::client_id.eq(client_id),
                super::schema::tasks::author_id.eq(author),
                super::schema::tasks::due_at.eq(now + Duration::hours(20)),
            ))
            .returning(super::schema::tasks::id)
            .get_result(conn)?;
        diesel::insert_into(super::schema::task_assignees::table)
            .values((
                super::schema::task_assignees::task_id.eq(task_id),
                super::schema::task_assignees::user_id.eq(author),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The demo accounts that run (enabled, not archived): their channels are simulated.
pub fn demo_accounts(conn: &mut PgConnection) -> Result<Vec<super::accounts::AccountRow>, DbError> {
    Ok(channel_accounts::table
        .filter(channel_accounts::demo.eq(true))
        .filter(channel_accounts::enabled.eq(true))
        .filter(channel_accounts::archived_at.is_null())
        .order(channel_accounts::id)
        .select(super::accounts::AccountRow::as_select())
        .load(conn)?)
}

/// Points a demo account's channel at the simulator (`api_url`), with fresh secrets of
/// this installation where the seed left placeholders.
pub fn point_at_simulator(
    conn: &mut PgConnection,
    account_id: i64,
    credentials: &serde_json::Value,
) -> Result<(), DbError> {
    diesel::update(channel_accounts::table.find(account_id))
        .set((
            channel_accounts::credentials.eq(credentials),
            channel_accounts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The demo accounts' people who have an open dialog: (account id, external id, name).
pub fn demo_people(
    conn: &mut PgConnection,
    account_ids: &[i64],
) -> Result<Vec<(i64, String, String)>, DbError> {
    Ok(interlocutors::table
        .inner_join(dialogs::table.on(dialogs::interlocutor_id.eq(interlocutors::id)))
        .filter(interlocutors::account_id.eq_any(account_ids))
        .filter(dialogs::status.ne("closed"))
        .select((
            interlocutors::account_id,
            interlocutors::external_id,
            interlocutors::display_name,
        ))
        .distinct()
        .limit(500)
        .load(conn)?)
}

struct Conversation {
    dialog_id: i64,
    account_id: i64,
    started: DateTime<Utc>,
    english: bool,
    sales: bool,
    status: &'static str,
    responsible: Option<i64>,
    /// The client wrote last and nobody has read it yet.
    unread_tail: bool,
}

/// Writes a dialog's messages and system lines, then its last-message fields and read marks.
fn write_conversation(
    conn: &mut PgConnection,
    dice: &mut Dice,
    c: Conversation,
) -> Result<usize, DbError> {
    let pool: &[(&str, &str)] = if c.english {
        &ENGLISH
    } else if c.sales {
        &SALES_RU
    } else {
        &SUPPORT_RU
    };
    let exchanges = 1 + dice.below(4);
    let mut at = c.started;
    let mut rows = Vec::new();
    let mut channel_seq = 0;
    let mut push = |rows: &mut Vec<_>,
                    direction: &'static str,
                    author: Option<i64>,
                    text: String,
                    kind: Option<&'static str>,
                    at: DateTime<Utc>| {
        channel_seq += 1;
        rows.push((
            messages::dialog_id.eq(c.dialog_id),
            messages::account_id.eq(c.account_id),
            messages::direction.eq(direction),
            messages::author_user_id.eq(author),
            messages::text.eq(text),
            messages::channel_message_id
                .eq((direction != "system").then(|| format!("demo:{}:{channel_seq}", c.dialog_id))),
            messages::delivery.eq((direction == "out").then_some("read")),
            messages::system_kind.eq(kind),
            messages::created_at.eq(at),
        ));
    };
    for i in 0..exchanges {
        let (question, answer) = *dice.pick(pool);
        push(&mut rows, "in", None, question.to_owned(), None, at);
        at += Duration::minutes(2 + dice.below(20) as i64);
        if c.status == "new" {
            continue;
        }
        if i == 0
            && let Some(user) = c.responsible
        {
            push(
                &mut rows,
                "system",
                Some(user),
                String::new(),
                Some("accepted"),
                at,
            );
        }
        let unanswered = c.unread_tail && i + 1 == exchanges;
        if !unanswered {
            push(&mut rows, "out", c.responsible, answer.to_owned(), None, at);
            at += Duration::minutes(5 + dice.below(90) as i64);
        }
    }
    if c.status == "returned" {
        push(
            &mut rows,
            "system",
            c.responsible,
            String::new(),
            Some("redirected"),
            at,
        );
    }
    if c.status == "closed" {
        push(
            &mut rows,
            "system",
            c.responsible,
            String::new(),
            Some("closed"),
            at,
        );
    }
    let written: Vec<(i64, String, String, DateTime<Utc>)> = diesel::insert_into(messages::table)
        .values(&rows)
        .returning((
            messages::id,
            messages::direction,
            messages::text,
            messages::created_at,
        ))
        .get_results(conn)?;
    let last_content = written.iter().rev().find(|m| m.1 != "system");
    let last_inbound = written.iter().rev().find(|m| m.1 == "in").map(|m| m.0);
    if let Some((_, direction, text, created_at)) = last_content {
        diesel::update(dialogs::table.filter(dialogs::id.eq(c.dialog_id)))
            .set((
                dialogs::last_message_at.eq(created_at),
                dialogs::last_message_preview.eq(text.chars().take(200).collect::<String>()),
                dialogs::last_message_direction.eq(direction),
                dialogs::last_inbound_message_id.eq(last_inbound),
            ))
            .execute(conn)?;
    }
    // The responsible has read everything but a fresh unanswered message.
    if let (Some(user), Some(inbound)) = (c.responsible, last_inbound)
        && !c.unread_tail
    {
        diesel::insert_into(dialog_reads::table)
            .values((
                dialog_reads::dialog_id.eq(c.dialog_id),
                dialog_reads::user_id.eq(user),
                dialog_reads::last_read_message_id.eq(inbound),
            ))
            .execute(conn)?;
    }
    Ok(written.len())
}
