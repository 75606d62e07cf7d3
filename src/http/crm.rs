//! Clients and prospects (R5), contact persons, merging two clients, and interests
//! (R22, R23). Every signed-in user may read them — a client's conversations are readable
//! from the card whatever the account rights (R10) — and operators keep them up to date;
//! merging is for the program's administrators.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::Utc;

use super::AppState;
use super::auth::Caller;
use super::dialogs::items_of;
use super::dto::{
    ClientCardBody, ClientDetail, ClientPage, ClientsQuery, ContactBody, CreateClientRequest,
    CreateContactRequest, CreateInterestRequest, InterestBody, InterestDetail, InterestsQuery,
    MergeClientRequest, MergeResponse, UpdateClientRequest, UpdateInterestRequest,
};
use crate::db::crm::{
    self, ClientCard, ClientFields, ClientQuery, ContactRow, InterestCard, InterestChanges,
    NewContact, NewInterestCard,
};
use crate::db::dialog_list;
use crate::db::{self};
use crate::error::ApiError;
use crate::services::clients;

const MAX_LIMIT: u32 = 200;

fn limit_of(limit: Option<u32>) -> Result<i64, ApiError> {
    match limit.unwrap_or(50) {
        n @ 1..=MAX_LIMIT => Ok(i64::from(n)),
        _ => Err(ApiError::invalid(
            "limit",
            format!("limit: between 1 and {MAX_LIMIT}"),
        )),
    }
}

pub(super) fn card_body(row: ClientCard) -> ClientCardBody {
    ClientCardBody {
        id: row.id,
        kind: row.kind,
        name: row.name,
        phone: row.phone,
        email: row.email,
        notes: row.notes,
        merged_into_id: row.merged_into_id,
        erased_at: row.erased_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

pub(super) fn contact_body(row: ContactRow) -> ContactBody {
    ContactBody {
        id: row.id,
        client_id: row.client_id,
        name: row.name,
        position: row.position,
        phone: row.phone,
        email: row.email,
        created_at: row.created_at,
    }
}

pub(super) fn interest_body(row: InterestCard) -> InterestBody {
    InterestBody {
        id: row.id,
        client_id: row.client_id,
        title: row.title,
        description: row.description,
        status: row.status,
        amount_minor: row.amount_minor,
        currency: row.currency,
        responsible_user_id: row.responsible_user_id,
        basis_dialog_id: row.basis_dialog_id,
        created_by: row.created_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
        closed_at: row.closed_at,
    }
}

/// A required name-like field: trimmed, 1 to `max` characters.
fn text_field(field: &'static str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!("{field}: 1 to {max} characters, no control characters"),
        ));
    }
    Ok(value.to_owned())
}

/// An optional contact field: empty means none.
fn optional_field(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text_field(field, v, max).map(Some),
    }
}

fn email_field(value: Option<String>) -> Result<Option<String>, ApiError> {
    let email = optional_field("email", value, 254)?;
    if email
        .as_deref()
        .is_some_and(|e| !e.contains('@') || e.contains(char::is_whitespace))
    {
        return Err(ApiError::invalid(
            "email",
            "email: an address like name@example.com",
        ));
    }
    Ok(email)
}

fn kind_field(value: Option<String>) -> Result<Option<String>, ApiError> {
    match value.as_deref() {
        None => Ok(None),
        Some(kind @ ("client" | "prospect")) => Ok(Some(kind.to_owned())),
        Some(_) => Err(ApiError::invalid("kind", "kind: client or prospect")),
    }
}

/// Clients and prospects, newest first, by name, phone or e-mail.
#[utoipa::path(tag = "clients", params(ClientsQuery), responses((status = 200, body = ClientPage), (status = 422, body = crate::error::ErrorBody)))]
#[get("")]
pub async fn list_clients(
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<ClientsQuery>,
) -> Result<web::Json<ClientPage>, ApiError> {
    let query = query.into_inner();
    let limit = limit_of(query.limit)?;
    let q = query
        .q
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::invalid("q", "q: at most 200 characters"));
    }
    let filter = ClientQuery {
        q,
        kind: kind_field(query.kind)?,
        before_id: query.cursor,
        limit,
    };
    let rows = db::run(&state.pool, move |conn| crm::list_clients(conn, &filter)).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(web::Json(ClientPage {
        items: rows.into_iter().map(card_body).collect(),
        next_cursor,
    }))
}

/// Add a client or prospect by hand.
#[utoipa::path(tag = "clients", request_body = CreateClientRequest, responses((status = 201, body = ClientCardBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("")]
pub async fn create_client(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateClientRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let fields = ClientFields {
        kind: kind_field(body.kind)?,
        name: Some(text_field("name", &body.name, 300)?),
        phone: Some(optional_field("phone", body.phone, 50)?),
        email: Some(email_field(body.email)?),
        notes: body.notes,
    };
    let row = clients::create_client(&state.pool, fields, caller.user_id.0).await?;
    Ok(HttpResponse::Created().json(card_body(row)))
}

/// A client's card: contact persons, interests and how many dialogs (R34).
#[utoipa::path(tag = "clients", params(("id" = i64, Path)), responses((status = 200, body = ClientDetail), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}")]
pub async fn get_client(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<ClientDetail>, ApiError> {
    let id = id.into_inner();
    let found = db::run(&state.pool, move |conn| {
        let Some(card) = crm::client_card(conn, id)? else {
            return Ok(None);
        };
        let contacts = crm::contacts_of(conn, id)?;
        let interests = crm::list_interests(conn, Some(id), None, 200)?;
        let dialogs = db::clients::dialog_counts(conn, &[id])?
            .first()
            .map_or(0, |(_, n)| *n);
        Ok(Some((card, contacts, interests, dialogs)))
    })
    .await?;
    let (card, contacts, interests, dialogs) = found.ok_or(ApiError::NotFound("client"))?;
    super::personal_data::note_read(
        &state,
        &caller,
        db::data_access::READ_CLIENT,
        Some(id),
        None,
    )
    .await?;
    Ok(web::Json(ClientDetail {
        client: card_body(card),
        contacts: contacts.into_iter().map(contact_body).collect(),
        interests: interests.into_iter().map(interest_body).collect(),
        dialogs,
    }))
}

/// Change a client; `kind: "client"` promotes a prospect (R5).
#[utoipa::path(tag = "clients", params(("id" = i64, Path)), request_body = UpdateClientRequest, responses((status = 200, body = ClientCardBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[patch("/{id}")]
pub async fn update_client(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<UpdateClientRequest>,
) -> Result<web::Json<ClientCardBody>, ApiError> {
    let id = id.into_inner();
    let body = body.into_inner();
    let fields = ClientFields {
        kind: kind_field(body.kind)?,
        name: body
            .name
            .as_deref()
            .map(|n| text_field("name", n, 300))
            .transpose()?,
        phone: body
            .phone
            .map(|p| optional_field("phone", p, 50))
            .transpose()?,
        email: body.email.map(email_field).transpose()?,
        notes: body.notes,
    };
    let row = clients::update_client(&state.pool, id, fields, caller.user_id.0).await?;
    Ok(web::Json(card_body(row)))
}

/// Merge another client into this one (the same person known twice): their
/// interlocutors, dialogs, interests, contact persons and tasks move here; nothing is
/// lost and the merge is recorded. Program administrators only.
#[utoipa::path(tag = "clients", params(("id" = i64, Path)), request_body = MergeClientRequest, responses((status = 200, body = MergeResponse), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post(
    "/{id}/merge",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn merge_client(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<MergeClientRequest>,
) -> Result<web::Json<MergeResponse>, ApiError> {
    caller.require_admin()?;
    let (into, from) = (id.into_inner(), body.from_client_id);
    let (card, moved) = clients::merge(&state.pool, from, into, caller.user_id.0).await?;
    Ok(web::Json(MergeResponse {
        client: card_body(card),
        moved_interlocutors: moved.interlocutors,
        moved_dialogs: moved.dialogs,
        moved_interests: moved.interests,
        moved_contacts: moved.contacts,
        moved_tasks: moved.tasks,
    }))
}

/// A client's contact persons.
#[utoipa::path(tag = "clients", params(("id" = i64, Path)), responses((status = 200, body = Vec<ContactBody>), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}/contacts")]
pub async fn list_contacts(
    state: web::Data<AppState>,
    _caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<Vec<ContactBody>>, ApiError> {
    let id = id.into_inner();
    let found = db::run(&state.pool, move |conn| {
        if crm::client_card(conn, id)?.is_none() {
            return Ok(None);
        }
        crm::contacts_of(conn, id).map(Some)
    })
    .await?;
    let rows = found.ok_or(ApiError::NotFound("client"))?;
    Ok(web::Json(rows.into_iter().map(contact_body).collect()))
}

/// Add a contact person to a client.
#[utoipa::path(tag = "clients", params(("id" = i64, Path)), request_body = CreateContactRequest, responses((status = 201, body = ContactBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("/{id}/contacts")]
pub async fn create_contact(
    state: web::Data<AppState>,
    _caller: Caller,
    id: web::Path<i64>,
    body: web::Json<CreateContactRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = NewContact {
        client_id: id.into_inner(),
        name: text_field("name", &body.name, 300)?,
        position: optional_field("position", body.position, 200)?.unwrap_or_default(),
        phone: optional_field("phone", body.phone, 50)?,
        email: email_field(body.email)?,
    };
    let row = clients::add_contact(&state.pool, new).await?;
    Ok(HttpResponse::Created().json(contact_body(row)))
}

/// Interests (deals), newest first.
#[utoipa::path(tag = "interests", params(InterestsQuery), responses((status = 200, body = Vec<InterestBody>), (status = 422, body = crate::error::ErrorBody)))]
#[get("")]
pub async fn list_interests(
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<InterestsQuery>,
) -> Result<web::Json<Vec<InterestBody>>, ApiError> {
    let query = query.into_inner();
    let limit = limit_of(query.limit)?;
    let status = status_field(query.status)?;
    let client = query.client_id;
    let rows = db::run(&state.pool, move |conn| {
        crm::list_interests(conn, client, status.as_deref(), limit)
    })
    .await?;
    Ok(web::Json(rows.into_iter().map(interest_body).collect()))
}

fn status_field(value: Option<String>) -> Result<Option<String>, ApiError> {
    match value.as_deref() {
        None => Ok(None),
        Some(s @ ("active" | "won" | "lost")) => Ok(Some(s.to_owned())),
        Some(_) => Err(ApiError::invalid("status", "status: active, won or lost")),
    }
}

fn currency_field(value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(c) if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()) => Ok(Some(c)),
        Some(_) => Err(ApiError::invalid(
            "currency",
            "currency: three capital letters, e.g. RUB",
        )),
    }
}

fn amount_field(value: Option<i64>) -> Result<Option<i64>, ApiError> {
    match value {
        Some(n) if n < 0 => Err(ApiError::invalid(
            "amount_minor",
            "amount_minor: zero or more",
        )),
        other => Ok(other),
    }
}

/// Create an interest for a client by hand ("accept lead" creates one from a dialog).
#[utoipa::path(tag = "interests", request_body = CreateInterestRequest, responses((status = 201, body = InterestBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("")]
pub async fn create_interest(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateInterestRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = NewInterestCard {
        client_id: body.client_id,
        title: text_field("title", &body.title, 300)?,
        description: body.description.unwrap_or_default(),
        amount_minor: amount_field(body.amount_minor)?,
        currency: currency_field(body.currency)?,
        responsible_user_id: body.responsible_user_id,
        created_by: caller.user_id.0,
    };
    let row = clients::create_interest(&state.pool, new).await?;
    Ok(HttpResponse::Created().json(interest_body(row)))
}

/// An interest with the dialogs linked to it (the client's: readable by every user, as
/// from the client's card, R10).
#[utoipa::path(tag = "interests", params(("id" = i64, Path)), responses((status = 200, body = InterestDetail), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}")]
pub async fn get_interest(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<InterestDetail>, ApiError> {
    let id = id.into_inner();
    let user = caller.user_id.0;
    let found = db::run(&state.pool, move |conn| {
        let Some(card) = crm::interest_card(conn, id)? else {
            return Ok(None);
        };
        // Each linked dialog as the list shows it: the client's conversations, which
        // every user may read from the card whatever the account rights (R10).
        let mut rows = Vec::new();
        for (dialog, _) in crm::interest_dialogs(conn, id)? {
            if let Some(row) = dialog_list::one(conn, user, dialog)?
                .filter(|row| row.dialog.client_id == Some(card.client_id))
            {
                rows.push(row);
            }
        }
        Ok(Some((card, items_of(conn, &rows)?)))
    })
    .await?;
    let (card, dialogs) = found.ok_or(ApiError::NotFound("interest"))?;
    Ok(web::Json(InterestDetail {
        interest: interest_body(card),
        dialogs,
    }))
}

/// Change an interest: its fields, or its status (won and lost close it).
#[utoipa::path(tag = "interests", params(("id" = i64, Path)), request_body = UpdateInterestRequest, responses((status = 200, body = InterestBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[patch("/{id}")]
pub async fn update_interest(
    state: web::Data<AppState>,
    _caller: Caller,
    id: web::Path<i64>,
    body: web::Json<UpdateInterestRequest>,
) -> Result<web::Json<InterestBody>, ApiError> {
    let id = id.into_inner();
    let body = body.into_inner();
    let now = Utc::now();
    let status = status_field(body.status)?;
    let changes = InterestChanges {
        title: body
            .title
            .as_deref()
            .map(|t| text_field("title", t, 300))
            .transpose()?,
        description: body.description,
        closed_at: status.as_deref().map(|s| (s != "active").then_some(now)),
        status,
        amount_minor: body.amount_minor.map(amount_field).transpose()?,
        currency: body.currency.map(currency_field).transpose()?,
        responsible_user_id: body.responsible_user_id,
    };
    let row = clients::update_interest(&state.pool, id, changes, now).await?;
    Ok(web::Json(interest_body(row)))
}
