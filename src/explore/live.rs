//! Live mode (`paxos coordinator --web ADDR`): the explorer's node panels
//! for a real multi-process cluster. The page polls `/api/live`, which asks
//! the coordinator for the cluster's status exactly as `paxos status` does
//! (a client admitted with the cluster key, over the coordinator's own
//! socket) and answers with the same verdict ([`StatusSummary`]): each
//! node's log, whom it flagged, who is unreachable, and whether the honest
//! logs agree. It only watches: a real cluster's messages are not stepped.

use crate::bridge::admission::ClusterKey;
use crate::bridge::client::Client;
use crate::bridge::status::{self, StatusSummary};
use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Serialize;
use std::time::Duration;

const LIVE_HTML: &str = include_str!("page/live.html");
const LIVE_JS: &str = include_str!("page/live.js");

/// How long one status query may take.
const ASK: Duration = Duration::from_secs(3);

/// The cluster the page watches.
#[derive(Clone)]
struct Watched {
    coordinator: String,
    key: ClusterKey,
}

/// What `/api/live` answers.
#[derive(Serialize)]
struct Live {
    coordinator: String,
    #[serde(flatten)]
    summary: StatusSummary,
}

async fn live(w: web::Data<Watched>) -> HttpResponse {
    let asked = async {
        let mut client = Client::connect(&w.coordinator, &w.key, ASK).await?;
        client.status().await
    };
    match tokio::time::timeout(ASK * 2, asked).await {
        Ok(Ok(s)) => HttpResponse::Ok().json(Live {
            coordinator: w.coordinator.clone(),
            summary: status::summarize(&s),
        }),
        Ok(Err(e)) => unavailable(format!(
            "the coordinator at {} does not answer: {e}",
            w.coordinator
        )),
        Err(_) => unavailable(format!(
            "the coordinator at {} did not answer within {ASK:?}",
            w.coordinator
        )),
    }
}

fn unavailable(error: String) -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(serde_json::json!({ "error": error }))
}

/// Bind the live page to `web_addr` for the cluster whose coordinator
/// listens on `coordinator`: the server (a future to run) and its URL. A
/// bad address fails here, before anything runs.
pub fn bind(
    web_addr: &str,
    coordinator: String,
    key: ClusterKey,
) -> std::io::Result<(actix_web::dev::Server, String)> {
    let watched = web::Data::new(Watched { coordinator, key });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(watched.clone())
            .configure(|cfg| super::server::pages(cfg, LIVE_HTML, ("/live.js", LIVE_JS)))
            .route("/api/live", web::get().to(live))
    })
    .workers(1)
    .bind(web_addr)?;
    let url = super::server::url_of(&server.addrs(), web_addr);
    Ok((server.run(), url))
}
