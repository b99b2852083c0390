//! The explorer's web server (actix-web): the page, embedded in the binary
//! (no CDN, no external URL, nothing to build), and a small JSON API that
//! replays the run its query names and answers with its [`View`].
//!
//! - `GET /` — the page; its URL's query is the run.
//! - `GET /api/state?QUERY` — the view of that run (a `lesson` with no `a`
//!   opens the lesson).
//! - `GET /api/until?QUERY&until=commit|flag|violation` — that run, stepped
//!   until the next such event (at most [`UNTIL_STEPS`] steps).
//! - `GET /api/find?QUERY` — the first seed from the query's on whose
//!   `paxos sim` run breaks an invariant, opened at the step before.
//! - `GET /api/lessons` — the lessons.
//! - `GET /export.svg?QUERY`, `GET /export.mmd?QUERY` — the run's whole
//!   sequence chart, by the demo's renderers.
//!
//! The server keeps nothing between requests: every answer is a replay.

use super::session::Until;
use super::{lessons, ExploreError, Query, Session, View};
use actix_web::http::header::ContentType;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde::Serialize;

/// Most steps one "run until" takes.
pub const UNTIL_STEPS: u64 = 5_000;

const INDEX: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/style.css");

/// A view, with the lesson's text when the query names one.
#[derive(Serialize)]
struct Answer {
    #[serde(flatten)]
    view: View,
    lesson: Option<lessons::Lesson>,
}

#[derive(Serialize)]
struct Failure {
    error: String,
}

/// What a handler computed, off the server's threads (an `HttpResponse`
/// may not cross threads).
enum Reply {
    Json(String),
    NotFound(String),
    Svg(String),
    Text(String),
}

fn json(value: &impl Serialize) -> Reply {
    Reply::Json(serde_json::to_string(value).unwrap_or_default())
}

fn failure(error: String) -> String {
    serde_json::to_string(&Failure { error }).unwrap_or_default()
}

fn answer(q: &Query, s: &Session) -> Answer {
    let lesson = q
        .lesson
        .as_ref()
        .and_then(|name| lessons::all().into_iter().find(|l| &l.name == name));
    let mut view = s.view();
    if let Some(l) = &lesson {
        view.query = format!("{}&lesson={}", view.query, l.name);
    }
    Answer { view, lesson }
}

/// The query string `q`, and the run it names.
fn replayed(q: &str) -> Result<(Query, Session), ExploreError> {
    let query = Query::decode(q)?;
    let s = Session::from_query(&query)?;
    Ok((query, s))
}

/// Run `f` on `req`'s query string on the blocking pool (a replay is plain
/// CPU work), and answer with what it computed.
async fn blocking<F>(req: HttpRequest, f: F) -> HttpResponse
where
    F: FnOnce(&str) -> Result<Reply, ExploreError> + Send + 'static,
{
    let q = req.query_string().to_string();
    let json = ContentType::json();
    match web::block(move || f(&q)).await {
        Ok(Ok(Reply::Json(body))) => HttpResponse::Ok().content_type(json).body(body),
        Ok(Ok(Reply::NotFound(error))) => HttpResponse::NotFound()
            .content_type(json)
            .body(failure(error)),
        Ok(Ok(Reply::Svg(body))) => HttpResponse::Ok().content_type("image/svg+xml").body(body),
        Ok(Ok(Reply::Text(body))) => HttpResponse::Ok()
            .content_type(ContentType::plaintext())
            .body(body),
        Ok(Err(e)) => HttpResponse::BadRequest()
            .content_type(json)
            .body(failure(e.to_string())),
        Err(e) => HttpResponse::InternalServerError()
            .content_type(json)
            .body(failure(e.to_string())),
    }
}

fn state(q: &str) -> Result<Reply, ExploreError> {
    let (query, s) = replayed(q)?;
    Ok(json(&answer(&query, &s)))
}

#[derive(serde::Deserialize)]
struct UntilQuery {
    until: Option<String>,
}

fn until(q: &str) -> Result<Reply, ExploreError> {
    let u: UntilQuery =
        serde_urlencoded::from_str(q).map_err(|e| ExploreError::BadQuery(e.to_string()))?;
    let word = u.until.unwrap_or_default();
    let until = match word.as_str() {
        "commit" => Until::Commit,
        "flag" => Until::Flag,
        "violation" => Until::Violation,
        _ => return Err(ExploreError::BadUntil(word)),
    };
    let (query, mut s) = replayed(q)?;
    s.run_until(until, UNTIL_STEPS)?;
    Ok(json(&answer(&query, &s)))
}

fn find(q: &str) -> Result<Reply, ExploreError> {
    let setup = Query::decode(q)?.setup()?;
    Ok(match lessons::find(&setup)? {
        Some(s) => json(&answer(&Query::default(), &s)),
        None => Reply::NotFound(format!(
            "no run of seeds {}..{} broke an invariant: the defences held",
            setup.seed,
            setup.seed.saturating_add(lessons::FIND_SEEDS)
        )),
    })
}

fn export(q: &str, svg: bool) -> Result<Reply, ExploreError> {
    let (_, s) = replayed(q)?;
    let attack = s.setup().attack.map(|a| a.to_string());
    let title = format!("explored run, seed {}", s.setup().seed);
    let chart = s.world().chart(title, attack).unwrap_or_default();
    Ok(match svg {
        true => Reply::Svg(crate::trace::svg::render(&chart)),
        false => Reply::Text(crate::trace::mermaid::render(&chart)),
    })
}

/// Serve the embedded files: `/` is `html`, `/{name}` is `script`, and
/// the stylesheet both pages share.
pub(super) fn pages(
    cfg: &mut web::ServiceConfig,
    html: &'static str,
    (name, script): (&'static str, &'static str),
) {
    let page = |body: &'static str, mime: &'static str| {
        move || async move { HttpResponse::Ok().content_type(mime).body(body) }
    };
    cfg.route("/", web::get().to(page(html, "text/html; charset=utf-8")))
        .route(
            name,
            web::get().to(page(script, "text/javascript; charset=utf-8")),
        )
        .route(
            "/style.css",
            web::get().to(page(STYLE, "text/css; charset=utf-8")),
        );
}

/// The URL a server bound to `addrs` (asked for `asked`) answers on.
pub(super) fn url_of(addrs: &[std::net::SocketAddr], asked: &str) -> String {
    match addrs.first() {
        Some(a) => format!("http://{a}/"),
        None => format!("http://{asked}/"),
    }
}

/// The explorer's routes, for [`serve`] and for tests (`actix_web::test`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    pages(cfg, INDEX, ("/app.js", APP_JS));
    cfg.route("/api/state", web::get().to(|r| blocking(r, state)))
        .route("/api/until", web::get().to(|r| blocking(r, until)))
        .route("/api/find", web::get().to(|r| blocking(r, find)))
        .route(
            "/api/lessons",
            web::get().to(|| async { HttpResponse::Ok().json(lessons::all()) }),
        )
        .route(
            "/export.svg",
            web::get().to(|r| blocking(r, |q| export(q, true))),
        )
        .route(
            "/export.mmd",
            web::get().to(|r| blocking(r, |q| export(q, false))),
        );
}

/// Serve the explorer on `addr` until stopped; `ready` gets the URL once
/// the socket listens (the command prints it, a test connects to it).
pub async fn serve(addr: &str, ready: impl FnOnce(String)) -> std::io::Result<()> {
    let server = HttpServer::new(|| App::new().configure(routes))
        .workers(2)
        .bind(addr)?;
    ready(url_of(&server.addrs(), addr));
    server.run().await
}
