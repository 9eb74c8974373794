//! The application API: the routes of `serve`, each converting HTTP (headers, JSON bodies,
//! status codes) to one call of the registry and back. The rules (the limit, touches,
//! remember-me tokens, the current session's protection, audit) are the registry's.
//!
//! The store's calls are synchronous. A call that may wait (a durable commit's fsync, any
//! Redis round trip) runs in `block_in_place`, so it never holds up the other connections
//! (tokio hands the worker's other tasks to another thread meanwhile). On sled, the calls
//! that never wait for a disk sync (`whoami`'s touch, `list`, `health`: in-memory reads and a
//! compare-and-swap of a few microseconds) run on the worker itself, sparing the hand-over
//! (in the serve bench, it cut the server's CPU time a `whoami` by about a quarter: see
//! docs/performance.md).

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::token::SessionToken;
use crate::model::{ActiveSession, SignIn, SignedIn, User, rfc3339};
use crate::registry::Registry;
use crate::{Error, secret};

/// The largest request body accepted (the JSON bodies are a few dozen bytes); larger is 413.
pub const BODY_LIMIT: usize = 4096;

/// The header naming the caller's session.
const TOKEN_HEADER: &str = "x-session-token";

/// What every handler shares: the registry acting as the application (`api`).
pub struct Api {
    pub registry: Registry,
    /// Where the store is, for `/v1/health` (passwords redacted).
    pub location: String,
    /// Whether the store answers reads and touches from this process's memory (sled), so
    /// that they run on the worker ([`quick`]); a networked store's (Redis) never do.
    pub local: bool,
}

type Shared = Arc<Api>;

/// The routes of the API, on `api`.
pub fn router(api: Api) -> Router {
    Router::new()
        .route(
            "/v1/sessions",
            post(sign_in).get(list).delete(revoke_others),
        )
        .route("/v1/sessions/whoami", get(whoami))
        .route("/v1/sessions/remember", post(remember))
        .route("/v1/sessions/current", delete(sign_out))
        .route("/v1/sessions/{private_id}", delete(revoke_one))
        .route("/v1/health", get(health))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Arc::new(api))
}

// ----- the routes -----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInBody {
    username: String,
    #[serde(default)]
    remember_me: bool,
}

/// `POST /v1/sessions`: 201 once the sign-in (and the remember-me token) is durable.
async fn sign_in(
    State(api): State<Shared>,
    headers: HeaderMap,
    Body(body): Body<SignInBody>,
) -> Result<Response, ApiError> {
    let request = end_user(&headers, None)?;
    blocking(&api, move |registry| {
        let user = user_named(registry, &body.username)?.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("username: no user {:?}", body.username),
            )
        })?;
        let signed = registry.sign_in(user.id, request)?;
        let remember_token = if body.remember_me {
            Some(registry.remember_me(user.id)?)
        } else {
            None
        };
        // Group commit: this flush makes every write before it durable, this one included.
        registry.flush()?;
        created(registry, user, &signed, remember_token)
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RememberBody {
    username: String,
    remember_token: String,
}

/// `POST /v1/sessions/remember`: a new session from a remember-me token, or 401.
async fn remember(
    State(api): State<Shared>,
    headers: HeaderMap,
    Body(body): Body<RememberBody>,
) -> Result<Response, ApiError> {
    let request = end_user(&headers, None)?;
    blocking(&api, move |registry| {
        let refused = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "remember_token: not a live remember-me token of this user",
            )
        };
        let user = user_named(registry, &body.username)?.ok_or_else(refused)?;
        let signed = registry
            .sign_in_remembered(user.id, &body.remember_token, request)?
            .ok_or_else(refused)?;
        registry.flush()?;
        created(registry, user, &signed, None)
    })
}

/// `GET /v1/sessions/whoami`: the caller's user and session, touched.
async fn whoami(State(api): State<Shared>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = Caller::from_headers(&headers)?;
    quick(&api, move |registry| {
        let (user, session) = caller.authenticate(registry)?;
        // Written straight to JSON: no tree of values built first (what every request costs).
        Ok(axum::Json(Whoami {
            user: &user,
            session: SessionView::of(&session, true),
        })
        .into_response())
    })
}

/// `GET /v1/sessions`: the caller's sessions, newest activity first.
async fn list(State(api): State<Shared>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = Caller::from_headers(&headers)?;
    quick(&api, move |registry| {
        let (user, current) = caller.authenticate(registry)?;
        let sessions = registry.list(user.id)?;
        let sessions: Vec<SessionView> = sessions
            .iter()
            .map(|s| SessionView::of(s, s.is_current(Some(&current.session_private_id))))
            .collect();
        Ok(axum::Json(sessions).into_response())
    })
}

/// `DELETE /v1/sessions/{private_id}`: 204; 403 for the current session; 404 for an id that
/// is not one of the caller's sessions.
async fn revoke_one(
    State(api): State<Shared>,
    headers: HeaderMap,
    Path(private_id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = Caller::from_headers(&headers)?;
    if !secret::is_private_id(&private_id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "private_id: expected 2:: and 64 lower-case hex digits",
        ));
    }
    blocking(&api, move |registry| {
        let (user, current) = caller.authenticate(registry)?;
        if registry.revoke_session(user.id, &private_id, Some(&current.session_private_id))? {
            Ok(StatusCode::NO_CONTENT.into_response())
        } else {
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "private_id: not one of your sessions",
            ))
        }
    })
}

/// `DELETE /v1/sessions`: every session of the caller but the current one (and impersonated
/// ones, as GitLab keeps them): 200 with how many were revoked.
async fn revoke_others(
    State(api): State<Shared>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = Caller::from_headers(&headers)?;
    blocking(&api, move |registry| {
        let (user, current) = caller.authenticate(registry)?;
        let revoked =
            registry.destroy_all_but_current(user.id, Some(&current.session_private_id))?;
        Ok(axum::Json(serde_json::json!({ "revoked": revoked })).into_response())
    })
}

/// `DELETE /v1/sessions/current`: sign out, 204.
async fn sign_out(State(api): State<Shared>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = Caller::from_headers(&headers)?;
    blocking(&api, move |registry| {
        let (user, current) = caller.authenticate(registry)?;
        registry.sign_out(user.id, &current.session_private_id)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

/// `GET /v1/health`: 200 when the store answers (its settings are read), else 503.
async fn health(State(api): State<Shared>) -> Response {
    let location = api.location.clone();
    let answer = quick(&api, |registry| Ok(registry.settings()?));
    match answer {
        Ok(settings) => axum::Json(serde_json::json!({
            "status": "ok",
            "store": { "location": location, "state": "ok", "settings": settings },
        }))
        .into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "status": "unavailable",
                "store": { "location": location, "state": error.message },
            })),
        )
            .into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route: see docs/api.md")
}

// ----- what the routes share -----

/// Runs `work` with the API's registry, letting tokio move this worker's other tasks away.
fn blocking<T>(
    api: &Shared,
    work: impl FnOnce(&Registry) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    tokio::task::block_in_place(|| work(&api.registry))
}

/// [`blocking`] for work that never waits for a disk sync (reads, touches): on a local store
/// it runs on the worker itself (only a process's first write waits, once, for the commit
/// record to be marked open: see `store/seal.rs`).
fn quick<T>(
    api: &Shared,
    work: impl FnOnce(&Registry) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    if api.local {
        work(&api.registry)
    } else {
        blocking(api, work)
    }
}

/// The caller of a route on its own sessions: the session its token names, and the end user's
/// address and browser.
struct Caller {
    user_id: u64,
    request: SignIn,
}

impl Caller {
    fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, message);
        let value = headers
            .get(TOKEN_HEADER)
            .ok_or_else(|| unauthorized("X-Session-Token: missing"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(SessionToken::parse)
            .ok_or_else(|| unauthorized("X-Session-Token: not a session token"))?;
        Ok(Self {
            user_id: token.user_id,
            request: end_user(headers, Some(token.public_id))?,
        })
    }

    /// The caller's user and live session, touched; 401 when the session is not live.
    fn authenticate(&self, registry: &Registry) -> Result<(User, ActiveSession), ApiError> {
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "X-Session-Token: no live session (signed out, revoked or expired)",
            )
        };
        let session = registry
            .authenticate(self.user_id, &self.request)?
            .ok_or_else(unauthorized)?;
        let user = registry.user(self.user_id)?.ok_or_else(unauthorized)?;
        Ok((user, session))
    }
}

/// The end user's request, from the headers the application forwards: `X-Forwarded-For`
/// (required; its first address, the client's) and `User-Agent`.
fn end_user(headers: &HeaderMap, public_id: Option<String>) -> Result<SignIn, ApiError> {
    let bad = |message: &str| ApiError::new(StatusCode::BAD_REQUEST, message);
    let forwarded = headers
        .get("x-forwarded-for")
        .ok_or_else(|| bad("X-Forwarded-For: missing (the end user's address)"))?
        .to_str()
        .map_err(|_| bad("X-Forwarded-For: not text"))?;
    let address = forwarded.split(',').next().unwrap_or_default().trim();
    if address.parse::<std::net::IpAddr>().is_err() {
        return Err(bad("X-Forwarded-For: not an IPv4 or IPv6 address"));
    }
    let user_agent = match headers.get(axum::http::header::USER_AGENT) {
        None => String::new(),
        Some(value) => value
            .to_str()
            .map_err(|_| bad("User-Agent: not text"))?
            .to_owned(),
    };
    Ok(SignIn {
        public_id,
        ip_address: address.to_owned(),
        user_agent,
        ..SignIn::default()
    })
}

/// The user named `username`, checked as a username before it is looked up.
fn user_named(registry: &Registry, username: &str) -> Result<Option<User>, ApiError> {
    if username.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "username: must not be empty",
        ));
    }
    Ok(registry.find_by_username(username)?)
}

/// The 201 of a sign-in: the token to put in the cookie (only ever shown here), the session's
/// private id, the user as the sign-in left it, and the remember-me token when one was asked
/// for.
fn created(
    registry: &Registry,
    user: User,
    signed: &SignedIn,
    remember_token: Option<String>,
) -> Result<Response, ApiError> {
    let user = registry.user(user.id)?.unwrap_or(user);
    let token = SessionToken {
        user_id: user.id,
        public_id: signed.public_id.clone(),
    };
    let mut body = serde_json::json!({
        "session_token": token.to_string(),
        "private_id": signed.session.session_private_id,
        "user": user,
        "session": SessionView::of(&signed.session, true),
    });
    if let Some(remember_token) = remember_token {
        body["remember_token"] = remember_token.into();
    }
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// The body of `whoami`.
#[derive(Serialize)]
struct Whoami<'a> {
    user: &'a User,
    session: SessionView<'a>,
}

/// A session as the API shows it.
#[derive(Serialize)]
struct SessionView<'a> {
    private_id: &'a str,
    ip_address: &'a str,
    browser: &'a str,
    os: &'a str,
    device_name: &'a str,
    device_type: &'a str,
    is_impersonated: bool,
    #[serde(serialize_with = "rfc3339::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339::serialize")]
    updated_at: DateTime<Utc>,
    current: bool,
}

impl<'a> SessionView<'a> {
    fn of(session: &'a ActiveSession, current: bool) -> Self {
        Self {
            private_id: &session.session_private_id,
            ip_address: &session.ip_address,
            browser: &session.browser,
            os: &session.os,
            device_name: &session.device_name,
            device_type: &session.device_type,
            is_impersonated: session.is_impersonated,
            created_at: session.created_at,
            updated_at: session.updated_at,
            current,
        }
    }
}

/// A JSON body of at most [`BODY_LIMIT`] bytes: 413 beyond, 400 naming the field that is
/// missing, unknown or of the wrong type.
struct Body<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection: BytesRejection| {
                ApiError::new(
                    rejection.status(),
                    format!("body: {}", rejection.body_text()),
                )
            })?;
        let mut json = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut json).map_err(|error| {
            let path = error.path().to_string();
            let place = if path == "." { "body".to_owned() } else { path };
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{place}: {}", error.into_inner()),
            )
        })?;
        json.end()
            .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, format!("body: {error}")))?;
        Ok(Body(value))
    }
}

/// A refused or failed request: its status and a message naming what was wrong, as
/// `{"error": {"code": 400, "message": "…"}}`. Never carries a token.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let status = match &error {
            Error::InvalidField { .. } => StatusCode::BAD_REQUEST,
            Error::UserBlocked { .. } | Error::CannotRevokeCurrent { .. } => StatusCode::FORBIDDEN,
            Error::UserNotFound { .. } => StatusCode::NOT_FOUND,
            error if error.is_database_error() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            // The core's messages name records by id and hash, never by token.
            eprintln!("sessionctl serve: {error}");
        }
        Self::new(status, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.status.as_u16(), "message": self.message },
        });
        (self.status, axum::Json(body)).into_response()
    }
}
