//! Global settings (`GET|PUT /api/v1/settings`): every signed-in user may read them,
//! administrators change them.

use actix_web::{get, put, web};
use serde_json::json;

use super::AppState;
use super::auth::Caller;
use super::dto::SettingsBody;
use crate::db::{self, settings};
use crate::error::ApiError;
use crate::services;

fn settings_body(rows: &[settings::SettingRow]) -> SettingsBody {
    let flag = |key: &str| {
        rows.iter()
            .find(|r| r.key == key)
            .and_then(|r| r.value.as_bool())
    };
    let outbound = rows
        .iter()
        .find(|r| r.key == settings::OUTBOUND_HOSTS)
        .and_then(|r| serde_json::from_value::<Vec<String>>(r.value.clone()).ok());
    SettingsBody {
        integration_enabled: Some(flag(settings::INTEGRATION_ENABLED).unwrap_or(true)),
        outbound_hosts: Some(outbound),
    }
}

/// The administrator's outbound hosts, checked and tidied (lower case, each once).
fn outbound_field(hosts: Vec<String>) -> Result<Vec<String>, ApiError> {
    const MAX_HOSTS: usize = 200;
    if hosts.len() > MAX_HOSTS {
        return Err(ApiError::invalid(
            "outbound_hosts",
            format!("outbound_hosts: at most {MAX_HOSTS}"),
        ));
    }
    let mut tidy: Vec<String> = Vec::with_capacity(hosts.len());
    for host in hosts {
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        if !crate::domain::hosts::valid_host_pattern(&host) {
            return Err(ApiError::invalid(
                "outbound_hosts",
                "outbound_hosts: each a host name or address, or *. and a domain \
                 (api.example.com, *.example.com)",
            ));
        }
        if !tidy.contains(&host) {
            tidy.push(host);
        }
    }
    Ok(tidy)
}

/// The global switches.
#[utoipa::path(tag = "settings", responses((status = 200, body = SettingsBody)))]
#[get("/settings")]
pub async fn get_settings(
    state: web::Data<AppState>,
    _caller: Caller,
) -> Result<web::Json<SettingsBody>, ApiError> {
    let rows = db::run(&state.pool, settings::all).await?;
    Ok(web::Json(settings_body(&rows)))
}

/// Change global switches (administrators); fields left out stay as they are.
#[utoipa::path(
    tag = "settings",
    request_body = SettingsBody,
    responses((status = 200, body = SettingsBody), (status = 403, body = crate::error::ErrorBody))
)]
#[put(
    "/settings",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn put_settings(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<SettingsBody>,
) -> Result<web::Json<SettingsBody>, ApiError> {
    caller.require_admin()?;
    let mut values = Vec::new();
    let body = body.into_inner();
    if let Some(enabled) = body.integration_enabled {
        values.push((settings::INTEGRATION_ENABLED.to_owned(), json!(enabled)));
    }
    if let Some(hosts) = body.outbound_hosts {
        let hosts = hosts.map(outbound_field).transpose()?;
        values.push((settings::OUTBOUND_HOSTS.to_owned(), json!(hosts)));
    }
    let rows =
        services::settings::put(&state.pool, &state.channels, values, caller.user_id.0).await?;
    Ok(web::Json(settings_body(&rows)))
}
