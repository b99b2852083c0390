//! The explorer in a real browser: headless Chromium, driven through
//! chromedriver (WebDriver) by fantoccini, against `paxos explore`'s own
//! server on a port it picked. A learner's session: pick SAFETY with no
//! defence, ask node 0 for a value, step until the violation banner names
//! the position the simulator says, reload and see the same state, tick the
//! echo defence on, replay from the start, and see agreement hold and the
//! attacker flagged. It saves screenshots of the violation and of the
//! defended replay (`target/explorer.png`, `target/explorer-defended.png`;
//! also into the directory `$PAXOS_SCREENSHOTS` names, which is how
//! `docs/explorer.png` is made).
//!
//! It needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
//! them); without them it fails and says so.

use fantoccini::{Client, ClientBuilder, Locator};
use paxos::explore::{Query, Session};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver, stopped when dropped (also when the test fails).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Start chromedriver and wait until it takes connections.
fn chromedriver() -> (Driver, String) {
    for path in [CHROMEDRIVER, CHROMIUM] {
        assert!(
            std::path::Path::new(path).exists(),
            "{path} is missing: install Debian's chromium and chromium-driver (.ci/run does)"
        );
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    (driver, format!("http://127.0.0.1:{port}"))
}

/// `paxos explore`'s server on a port of its own, in its own thread.
fn explorer() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix::System::new().block_on(paxos::explore::server::serve("127.0.0.1:0", |url| {
            tx.send(url).expect("the test waits for the URL");
        }))
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the explorer serves")
}

async fn browser(webdriver: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1400,1900"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("a browser session")
}

/// How many answers the page has drawn.
async fn loads(c: &Client) -> u64 {
    let v = c
        .execute("return document.body.dataset.loads || '0';", vec![])
        .await
        .expect("script runs");
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Wait until the page has drawn more than `before` answers.
async fn drawn(c: &Client, before: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while loads(c).await <= before {
        assert!(Instant::now() < deadline, "the page never drew its answer");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Click `css` and wait for the page to draw the answer.
async fn click(c: &Client, css: &str) {
    let before = loads(c).await;
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .expect("click");
    drawn(c, before).await;
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

async fn shown(c: &Client, css: &str) -> bool {
    c.find(Locator::Css(css))
        .await
        .expect("element")
        .is_displayed()
        .await
        .expect("displayed")
}

/// The run the page's URL names, replayed by the library.
async fn replayed(c: &Client) -> Session {
    let url = c.current_url().await.expect("url");
    let q = Query::decode(url.query().unwrap_or("")).expect("the URL is a run");
    Session::from_query(&q).expect("the URL replays")
}

async fn learner(c: &Client, url: &str, shots: &mut Vec<(&'static str, Vec<u8>)>) {
    c.goto(url).await.expect("the page opens");
    drawn(c, 0).await;
    // SAFETY, no defence: a new run.
    c.find(Locator::Css("#attack option[value=SAFETY]"))
        .await
        .expect("SAFETY is offered")
        .click()
        .await
        .expect("pick");
    click(c, "#new-run").await;
    assert!(text(c, "#node-0 h3").await.contains("attacker"));
    click(c, "#request").await;
    let mut steps = 0;
    while !shown(c, "#banner").await {
        steps += 1;
        assert!(steps < 400, "no violation after {steps} steps");
        click(c, "#next").await;
    }
    let banner = text(c, "#banner").await;
    let s = replayed(c).await;
    let v = s.world().violation().expect("the library sees it too");
    let pos = match &v.violation {
        paxos::sim::invariants::Violation::Agreement { pos, .. } => *pos,
        other => panic!("not agreement: {other}"),
    };
    assert!(
        banner.contains(&format!("VIOLATION at position {pos}")),
        "{banner}"
    );
    assert_eq!(text(c, "#inv-agreement").await, "agreement: BROKEN");
    shots.push(("explorer.png", c.screenshot().await.expect("a screenshot")));
    // Reload: the same moment of the same run.
    let before = (text(c, "#nodes").await, text(c, "#clock").await);
    c.refresh().await.expect("reload");
    drawn(c, 0).await;
    assert_eq!((text(c, "#nodes").await, text(c, "#clock").await), before);
    assert_eq!(text(c, "#banner").await, banner);
    // The echo defence on, and the same actions replayed from the start.
    click(c, "#defence-echo").await;
    click(c, "#replay").await;
    assert!(!shown(c, "#banner").await, "{}", text(c, "#banner").await);
    if !text(c, "#detected").await.contains("node 0") {
        click(c, "#until-flag").await;
    }
    assert!(!shown(c, "#banner").await);
    assert_eq!(text(c, "#inv-agreement").await, "agreement: holds");
    assert_eq!(text(c, "#detected").await, "flagged: node 0");
    assert!(text(c, "#nodes").await.contains("flagged node 0"));
    shots.push((
        "explorer-defended.png",
        c.screenshot().await.expect("a screenshot"),
    ));
}

#[actix_rt::test]
async fn a_learner_breaks_agreement_reloads_the_url_and_the_echo_defence_holds() {
    let (_driver, webdriver) = chromedriver();
    let url = explorer();
    let c = browser(&webdriver).await;
    // Close the session whatever happens; fail after.
    let mut shots = Vec::new();
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(learner(
        &c, &url, &mut shots,
    )))
    .await;
    if outcome.is_err() {
        shots.push((
            "explorer-failed.png",
            c.screenshot().await.expect("a screenshot"),
        ));
    }
    let _ = c.close().await;
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).expect("target/");
    for (name, png) in &shots {
        std::fs::write(target.join(name), png).expect("the screenshot is saved");
        if let Ok(dir) = std::env::var("PAXOS_SCREENSHOTS") {
            std::fs::write(std::path::Path::new(&dir).join(name), png).expect("saved");
        }
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
