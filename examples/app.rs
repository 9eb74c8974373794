//! A small web application that keeps its users' sessions in `sessionctl serve`: a sign-in
//! form, the session token in a cookie, and a page listing the signed-in user's sessions with
//! Revoke buttons. It shows the intended use of the API (docs/api.md); it is not a product.
//!
//! ```text
//! sessionctl --db ./sessions.db serve --listen 127.0.0.1:8080 &
//! cargo run --example app -- http://127.0.0.1:8080 127.0.0.1:3000
//! ```
//!
//! Then open <http://127.0.0.1:3000>. The users are those of the store (`User.create` in the
//! console, or `sessionctl seed`). Checking the password is the application's business, not
//! the session store's: this example asks for none.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{COOKIE, SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;

/// The application's cookies: the session token, and the remember-me token (30 days).
const SESSION_COOKIE: &str = "sid";
const REMEMBER_COOKIE: &str = "remember";

struct App {
    /// Where `sessionctl serve` answers, e.g. `http://127.0.0.1:8080`.
    api: String,
    client: ureq::Agent,
}

/// One call of the API from the application's server, forwarding the end user's browser and
/// address.
struct Call<'a> {
    method: &'a str,
    path: String,
    token: Option<String>,
    body: Option<Value>,
}

/// The API's answer: its status and JSON body (`Null` when empty).
struct Answer {
    status: u16,
    body: Value,
}

impl App {
    /// Runs `call` on the blocking pool (ureq is a blocking client).
    async fn call(self: &Arc<Self>, end_user: &EndUser, call: Call<'_>) -> Result<Answer, String> {
        let app = Arc::clone(self);
        let request = axum::http::Request::builder()
            .method(call.method)
            .uri(format!("{}{}", self.api, call.path))
            .header("X-Forwarded-For", end_user.address.as_str())
            .header("User-Agent", end_user.browser.as_str());
        let request = match call.token {
            Some(token) => request.header("X-Session-Token", token),
            None => request,
        };
        let body = call.body.map(|b| b.to_string()).unwrap_or_default();
        let request = request
            .header("Content-Type", "application/json")
            .body(body)
            .map_err(|e| e.to_string())?;
        tokio::task::spawn_blocking(move || {
            let mut response = app.client.run(request).map_err(|e| e.to_string())?;
            let text = response
                .body_mut()
                .read_to_string()
                .map_err(|e| e.to_string())?;
            Ok(Answer {
                status: response.status().as_u16(),
                body: serde_json::from_str(&text).unwrap_or(Value::Null),
            })
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// The browser's address (the peer's; behind a reverse proxy, take it from the proxy's header)
/// and User-Agent.
struct EndUser {
    address: String,
    browser: String,
}

fn end_user(headers: &HeaderMap, peer: SocketAddr) -> EndUser {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    EndUser {
        address: peer.ip().to_string(),
        browser: text(USER_AGENT),
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A cookie only the server sees (`HttpOnly`), never sent from another site (`SameSite=Strict`:
/// the forms below need no CSRF token then).
fn set_cookie(name: &str, value: &str, max_age: u32) -> (axum::http::HeaderName, String) {
    (
        SET_COOKIE,
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}"),
    )
}

/// The page: the user's sessions, or the sign-in form.
async fn home(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let user = end_user(&headers, peer);
    let mut new_cookie = None;
    let mut token = cookie(&headers, SESSION_COOKIE);
    let mut sessions = match &token {
        Some(t) => list(&app, &user, t).await,
        None => None,
    };
    // No live session: a remember-me token signs the user in again.
    if sessions.is_none()
        && let Some(remember) = cookie(&headers, REMEMBER_COOKIE)
        && let Some((name, value)) = remember.split_once(':')
    {
        let call = Call {
            method: "POST",
            path: "/v1/sessions/remember".into(),
            token: None,
            body: Some(serde_json::json!({"username": name, "remember_token": value})),
        };
        if let Ok(answer) = app.call(&user, call).await
            && answer.status == 201
        {
            let fresh = answer.body["session_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            sessions = list(&app, &user, &fresh).await;
            new_cookie = Some(set_cookie(SESSION_COOKIE, &fresh, 86_400));
            token = Some(fresh);
        }
    }
    let page = match (sessions, token) {
        (Some(sessions), Some(_)) => sessions_page(&sessions),
        _ => SIGN_IN_FORM.to_owned(),
    };
    match new_cookie {
        Some(cookie) => ([cookie], Html(page)).into_response(),
        None => Html(page).into_response(),
    }
}

/// The caller's sessions, or `None` when the token names no live session (401).
async fn list(app: &Arc<App>, user: &EndUser, token: &str) -> Option<Vec<Value>> {
    let call = Call {
        method: "GET",
        path: "/v1/sessions".into(),
        token: Some(token.to_owned()),
        body: None,
    };
    let answer = app.call(user, call).await.ok()?;
    (answer.status == 200).then(|| answer.body.as_array().cloned().unwrap_or_default())
}

const SIGN_IN_FORM: &str = r#"<!doctype html><title>Sign in</title>
<form method="post" action="/sign-in">
<label>Username <input name="username" autofocus></label>
<label><input type="checkbox" name="remember_me" value="1"> Remember me</label>
<button>Sign in</button></form>"#;

fn sessions_page(sessions: &[Value]) -> String {
    let mut rows = String::new();
    for s in sessions {
        let text = |key: &str| escape(s[key].as_str().unwrap_or_default());
        let action = if s["current"] == true {
            "this device".to_owned()
        } else {
            format!(
                r#"<form method="post" action="/revoke"><input type="hidden" name="private_id" value="{}"><button>Revoke</button></form>"#,
                text("private_id")
            )
        };
        let _ = write!(
            rows,
            "<tr><td>{} on {}</td><td>{}</td><td>{}</td><td>{action}</td></tr>",
            text("browser"),
            text("os"),
            text("ip_address"),
            text("updated_at"),
        );
    }
    format!(
        r#"<!doctype html><title>Your sessions</title><h1>Your sessions</h1>
<table><tr><th>Device</th><th>Address</th><th>Last activity</th><th></th></tr>{rows}</table>
<form method="post" action="/revoke-others"><button>Sign out everywhere else</button></form>
<form method="post" action="/sign-out"><button>Sign out</button></form>"#
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[derive(Deserialize)]
struct SignInForm {
    username: String,
    remember_me: Option<String>,
}

async fn sign_in(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let remember = form.remember_me.is_some();
    let call = Call {
        method: "POST",
        path: "/v1/sessions".into(),
        token: None,
        body: Some(serde_json::json!({"username": form.username, "remember_me": remember})),
    };
    match app.call(&end_user(&headers, peer), call).await {
        Ok(answer) if answer.status == 201 => {
            let token = answer.body["session_token"].as_str().unwrap_or_default();
            let mut cookies = vec![set_cookie(SESSION_COOKIE, token, 86_400)];
            if let Some(remember) = answer.body["remember_token"].as_str() {
                let username = answer.body["user"]["username"].as_str().unwrap_or_default();
                let value = format!("{username}:{remember}");
                cookies.push(set_cookie(REMEMBER_COOKIE, &value, 30 * 86_400));
            }
            let mut response = Redirect::to("/").into_response();
            for (name, value) in cookies {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().append(name, value);
                }
            }
            response
        }
        Ok(answer) => Html(format!(
            "<p>{}</p>{SIGN_IN_FORM}",
            escape(
                answer.body["error"]["message"]
                    .as_str()
                    .unwrap_or("refused")
            )
        ))
        .into_response(),
        Err(error) => Html(format!(
            "<p>the session API is unreachable: {}</p>",
            escape(&error)
        ))
        .into_response(),
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    private_id: String,
}

async fn revoke(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> Redirect {
    let path = format!("/v1/sessions/{}", form.private_id);
    on_own_sessions(&app, &end_user(&headers, peer), &headers, "DELETE", path).await;
    Redirect::to("/")
}

async fn revoke_others(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Redirect {
    on_own_sessions(
        &app,
        &end_user(&headers, peer),
        &headers,
        "DELETE",
        "/v1/sessions".into(),
    )
    .await;
    Redirect::to("/")
}

async fn sign_out(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    on_own_sessions(
        &app,
        &end_user(&headers, peer),
        &headers,
        "DELETE",
        "/v1/sessions/current".into(),
    )
    .await;
    let mut response = Redirect::to("/").into_response();
    for name in [SESSION_COOKIE, REMEMBER_COOKIE] {
        let (header, value) = set_cookie(name, "", 0);
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header, value);
        }
    }
    response
}

/// A call on the caller's own sessions, with the session cookie as the token.
async fn on_own_sessions(
    app: &Arc<App>,
    user: &EndUser,
    headers: &HeaderMap,
    method: &str,
    path: String,
) {
    if let Some(token) = cookie(headers, SESSION_COOKIE) {
        let call = Call {
            method,
            path,
            token: Some(token),
            body: None,
        };
        if let Err(error) = app.call(user, call).await {
            eprintln!("{method} failed: {error}");
        }
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let api = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:3000".into());
    let client = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let app = Arc::new(App { api, client });
    let router = axum::Router::new()
        .route("/", get(home))
        .route("/sign-in", post(sign_in))
        .route("/revoke", post(revoke))
        .route("/revoke-others", post(revoke_others))
        .route("/sign-out", post(sign_out))
        .with_state(app);
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {listen}: {error}");
            std::process::exit(2);
        }
    };
    println!("example app: http://{listen}");
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(error) = axum::serve(listener, service).await {
        eprintln!("{error}");
        std::process::exit(1);
    }
}
