//! The explorer's HTTP API, through actix-web's own test tools: every
//! attack's lesson run breaks agreement (or progress) undefended and keeps
//! it with its defence on; a random list of actions replayed through the API
//! gives exactly the state the library's replay gives; a page URL round-trips
//! to the identical state; bad input is refused with words; nothing served
//! points off the machine.

use actix_web::{test, App};
use paxos::attack::Attack;
use paxos::explore::{server, Action, Query, Session};
use proptest::prelude::*;
use serde_json::Value;

async fn get(path: &str) -> (u16, Value) {
    let app = test::init_service(App::new().configure(server::routes)).await;
    let req = test::TestRequest::get().uri(path).to_request();
    let resp = test::call_service(&app, req).await;
    let status = resp.status().as_u16();
    let body = test::read_body(resp).await;
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, json)
}

async fn state(query: &str) -> Value {
    let (status, v) = get(&format!("/api/state?{query}")).await;
    assert_eq!(status, 200, "{query}: {v}");
    v
}

/// `query` with `code` appended to its actions.
fn then(query: &str, code: &str) -> String {
    let mut q = Query::decode(query).unwrap();
    q.a = Some(match q.a.as_deref() {
        Some("") | None => code.to_string(),
        Some(a) => format!("{a}.{code}"),
    });
    q.encode()
}

/// `query` with other defences from the start (and the same actions).
fn defended(query: &str, defences: &str) -> String {
    let mut q = Query::decode(query).unwrap();
    q.defences = Some(defences.into());
    q.encode()
}

fn lesson(a: Attack) -> String {
    a.to_string().to_ascii_lowercase().replace('_', "-")
}

fn honest_commits(v: &Value) -> usize {
    v["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "honest")
        .map(|m| m["log"].as_array().unwrap().len())
        .sum()
}

/// The defence that answers each attack, by the name the query takes.
fn answer(a: Attack) -> &'static str {
    match a {
        Attack::Safety => "echo",
        Attack::Liveness => "prepare-limit",
        Attack::BallotOverflow => "ballot-bound",
        Attack::PrematureCommit => "certificates",
        Attack::Forgery => "forgery",
        Attack::Replay => "all",
        Attack::IgnorePrepared => "justify",
        // No classic defence: its own lesson runs BFT mode (below).
        Attack::StalePrepared => "all",
    }
}

#[actix_rt::test]
async fn every_attacks_lesson_breaks_undefended_and_holds_with_its_defence() {
    for attack in Attack::ALL {
        let name = lesson(attack);
        let open = state(&format!("lesson={name}")).await;
        let query = open["query"].as_str().unwrap().to_string();
        assert!(open["violation"].is_null(), "{name} opens before the break");
        let stalls = matches!(attack, Attack::Liveness | Attack::BallotOverflow);
        if stalls {
            // Nothing commits however long it runs.
            let (_, v) = get(&format!("/api/until?{query}&until=commit")).await;
            assert_eq!(honest_commits(&v), 0, "{name}: {}", v["trace"]);
        } else {
            // The very next step breaks agreement (or validity).
            let v = state(&then(&query, "n")).await;
            let broken = &v["violation"];
            assert!(!broken.is_null(), "{name}: {}", v["trace"]);
            assert!(broken["text"]
                .as_str()
                .unwrap()
                .contains(&format!("pos {}", broken["pos"])));
        }
        // The same actions with the defence on from the start.
        let fixed = match attack {
            Attack::StalePrepared => state(&format!("lesson={name}-defended")).await["query"]
                .as_str()
                .unwrap()
                .to_string(),
            a => defended(&query, answer(a)),
        };
        let until = if stalls { "commit" } else { "violation" };
        let (status, v) = get(&format!("/api/until?{fixed}&until={until}")).await;
        assert_eq!(status, 200, "{v}");
        assert!(
            v["violation"].is_null(),
            "{name} defended: {}",
            v["violation"]
        );
        if stalls {
            assert!(honest_commits(&v) > 0, "{name} defended commits");
        }
    }
}

#[actix_rt::test]
async fn every_defended_lesson_flags_the_attacker_on_the_first_click() {
    // REPLAY leaves nobody to flag (a replay proves nothing about its
    // sender) and STALE_PREPARED is prevented by BFT quorums, not caught.
    for attack in Attack::ALL {
        if matches!(attack, Attack::Replay | Attack::StalePrepared) {
            continue;
        }
        let name = format!("{}-defended", lesson(attack));
        let open = state(&format!("lesson={name}")).await;
        assert_eq!(
            open["detected"],
            serde_json::json!([]),
            "{name} opens before the flag"
        );
        let v = state(&then(open["query"].as_str().unwrap(), "n")).await;
        assert_eq!(
            v["detected"],
            serde_json::json!([0]),
            "{name}: {}",
            v["trace"]
        );
        assert!(v["violation"].is_null(), "{name}");
    }
}

#[actix_rt::test]
async fn a_defended_lesson_shows_the_attacker_flagged_with_its_reason() {
    let open = state("lesson=safety-defended").await;
    let query = open["query"].as_str().unwrap();
    assert!(open["lesson"]["text"].as_str().unwrap().contains("echo"));
    let v = state(&then(query, "n")).await;
    assert_eq!(v["detected"], serde_json::json!([0]), "{}", v["trace"]);
    let flagged = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["flagged"].as_array().unwrap().clone())
        .next()
        .expect("an honest node flagged someone");
    assert_eq!(flagged[0], 0);
    assert!(v["violation"].is_null());
}

#[actix_rt::test]
async fn each_packet_in_flight_shows_its_kind_position_ballot_value_and_signature() {
    // Two steps into SAFETY: node 0's Prepares are in flight, then its
    // Proposes of two values for one position.
    let v = state("attack=SAFETY&a=p0:v0.n3").await;
    let flying = v["flying"].as_array().unwrap();
    let prepare = flying
        .iter()
        .find(|p| p["kind"] == "Prepare")
        .expect("a Prepare");
    assert_eq!(
        (prepare["pos"].as_u64(), prepare["ballot"].as_str()),
        (Some(0), Some("100.0"))
    );
    assert_eq!(prepare["value"], Value::Null);
    assert_eq!(prepare["signed"], false, "no defence, no signature");
    // With echo on, step until both Proposes fly: two values, one slot, signed.
    let mut seen = false;
    for k in 1..30 {
        let v = state(&format!("attack=SAFETY&defences=echo&a=p0:v0.n{k}")).await;
        let proposes: Vec<Value> = v["flying"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["kind"] == "Propose")
            .cloned()
            .collect();
        let values: std::collections::BTreeSet<&str> = proposes
            .iter()
            .filter_map(|p| p["value"].as_str())
            .collect();
        if values.len() == 2 {
            assert!(proposes
                .iter()
                .all(|p| p["signed"] == true && p["pos"] == 0));
            seen = true;
            break;
        }
    }
    assert!(seen, "never two Proposes in flight at once");
}

#[actix_rt::test]
async fn a_page_url_round_trips_to_the_identical_state() {
    for name in ["safety", "liveness", "forgery-defended", "replay"] {
        let first = state(&format!("lesson={name}")).await;
        let again = state(first["query"].as_str().unwrap()).await;
        assert_eq!(first, again, "{name}");
        let stepped = state(&then(first["query"].as_str().unwrap(), "n3")).await;
        let back = state(stepped["query"].as_str().unwrap()).await;
        assert_eq!(stepped, back);
    }
}

#[actix_rt::test]
async fn find_opens_a_breaking_run_one_step_before_it_breaks() {
    let (status, v) = get("/api/find?attack=SAFETY&nodes=5&seed=3").await;
    assert_eq!(status, 200, "{v}");
    assert!(v["violation"].is_null());
    let after = state(&then(v["query"].as_str().unwrap(), "n")).await;
    assert_eq!(
        after["invariants"]["agreement"], false,
        "{}",
        after["trace"]
    );
    // With every defence on, none of the seeds breaks.
    let (status, v) = get("/api/find?attack=SAFETY&defences=all").await;
    assert_eq!(status, 404, "{v}");
    assert!(v["error"].as_str().unwrap().contains("defences held"));
}

#[actix_rt::test]
async fn bad_requests_are_refused_with_words_about_the_run() {
    for (path, says) in [
        ("/api/state?nodes=0", "node"),
        ("/api/state?nodes=12", "at most 9 nodes"),
        ("/api/state?attack=BOGUS", "unknown attack"),
        ("/api/state?a=d999", "no packet 999 is in flight"),
        ("/api/state?a=k7", "there is no member 7"),
        ("/api/state?a=zz", "not an action"),
        ("/api/state?bft=true&nodes=4&a=Decho", "BFT mode"),
        ("/api/state?lesson=nope", "no lesson"),
        ("/api/until?until=never", "until"),
        ("/api/state?nodes=x", "query"),
    ] {
        let (status, v) = get(path).await;
        assert_eq!(status, 400, "{path}: {v}");
        let e = v["error"].as_str().unwrap_or_default();
        assert!(e.contains(says), "{path}: {e}");
    }
}

#[actix_rt::test]
async fn the_page_and_its_assets_point_nowhere_off_the_machine() {
    let app = test::init_service(App::new().configure(server::routes)).await;
    for path in ["/", "/app.js", "/style.css"] {
        let req = test::TestRequest::get().uri(path).to_request();
        let resp = test::call_service(&app, req).await;
        assert!(resp.status().is_success(), "{path}");
        let body = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
        assert!(body.len() > 200, "{path}");
        for external in ["http://", "https://", "//cdn", "@import"] {
            assert!(!body.contains(external), "{path} mentions {external}");
        }
    }
    // What the page fetches of a run names no URL either.
    let view = state("lesson=safety").await;
    let text = view.to_string();
    assert!(
        text.contains("<svg") && !text.contains("http"),
        "{text:.300}"
    );
    // The exports are the demo's renderers; a standalone SVG file names
    // its XML namespace (an identifier, never fetched), and nothing else.
    let q = view["query"].as_str().unwrap().to_string();
    for (path, has) in [("export.svg", "<svg"), ("export.mmd", "sequenceDiagram")] {
        let req = test::TestRequest::get()
            .uri(&format!("/{path}?{q}"))
            .to_request();
        let body = test::call_and_read_body(&app, req).await;
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(has), "{path}: {text:.80}");
        let urls = text.matches("http").count();
        let namespace = text.matches("http://www.w3.org/2000/svg").count();
        assert_eq!(urls, namespace, "{path}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The API's state for a random action list is the library's replay of
    /// the same list, field for field.
    #[test]
    fn random_actions_through_the_api_give_the_simulators_state(
        rolls in prop::collection::vec(any::<u64>(), 1..40),
        attack in prop::sample::select(Attack::ALL.to_vec()),
        seed in 0u64..50,
    ) {
        let setup = paxos::explore::Setup {
            nodes: 3 + (seed % 3) as usize,
            attack: Some(attack),
            attacker: (seed % 3) as paxos::core::NodeId,
            seed,
            ..Default::default()
        };
        let mut s = Session::start(&setup).unwrap();
        s.apply(Action::Request(0, "v0".into())).unwrap();
        for r in rolls {
            let a = paxos::explore::session::wander(&s, r);
            // An action the run refuses is not taken (the page never offers it).
            let _ = s.apply(a);
        }
        let expected = serde_json::to_value(s.view()).unwrap();
        let query = Query::of(&setup, s.actions()).encode();
        let got = actix_rt::System::new().block_on(state(&query));
        for field in ["members", "flying", "violation", "now", "detected", "trace", "chart_svg"] {
            prop_assert_eq!(&got[field], &expected[field], "{} of {}", field, query);
        }
    }
}

#[test]
fn the_live_page_says_so_when_its_coordinator_does_not_answer() {
    use std::io::{Read as _, Write as _};
    let dir = std::env::temp_dir().join(format!("paxos-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, _) = paxos::bridge::admission::ClusterKey::load_or_create(&dir.join("key")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix::System::new().block_on(async move {
            // Nobody listens on port 1.
            let (server, url) =
                paxos::explore::live::bind("127.0.0.1:0", "127.0.0.1:1".into(), key).unwrap();
            tx.send(url).unwrap();
            server.await
        })
    });
    let url = rx.recv().unwrap();
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET /api/live HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(
        reply.contains("the coordinator at 127.0.0.1:1 does not answer"),
        "{reply}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
