//! The verdict never contradicts itself: for every attack × {no defence, its
//! own defence, every defence} in classic mode and {no defence, every
//! defence} in BFT mode, a real demo run's three verdict lines and its "what
//! happened" agree with the JSON summary and with each other (no
//! "NO — 5 of 5", no "6 of 5", a broken agreement names a real position).

use paxos::attack::Attack;
use paxos::cluster::Defences;
use paxos::demo::{self, DemoConfig, Summary};
use paxos::middleware::Defence;
use paxos::term::Palette;
use std::time::Duration;

fn own(attack: Attack) -> Defences {
    let name = attack.to_string();
    Defences::of(Defence::ALL.into_iter().filter(|d| d.answers() == name))
}

fn cases() -> Vec<DemoConfig> {
    let mut out = Vec::new();
    for attack in Attack::ALL {
        let nodes = if attack == Attack::Replay { 5 } else { 3 };
        for defences in [Defences::none(), own(attack), Defences::all()] {
            out.push(DemoConfig {
                nodes,
                attack: Some(attack),
                defences: Some(defences),
                deadline: Duration::from_secs(2),
                ..DemoConfig::default()
            });
        }
        for defences in [Defences::none(), Defences::all()] {
            out.push(DemoConfig {
                nodes: 4,
                bft: true,
                attack: Some(attack),
                defences: Some(defences),
                deadline: Duration::from_secs(2),
                ..DemoConfig::default()
            });
        }
    }
    out
}

/// The verdict's line `label: …`.
fn line<'a>(text: &'a str, label: &str) -> &'a str {
    let prefix = format!("  {label}:");
    text.lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {label} line in\n{text}"))
        .trim_start()
}

fn check(cfg: &DemoConfig, s: &Summary, text: &str) {
    let what = format!("{} {:?} bft={}", cfg.attack.unwrap(), cfg.defences, cfg.bft);
    let json = serde_json::to_value(s).unwrap();
    assert_eq!(json["agreement"].as_bool(), Some(s.agreement), "{what}");
    // Agreement: yes exactly when no conflict; a conflict names a real
    // position with two different values of two honest nodes.
    let agreement = line(text, "agreement");
    assert_eq!(
        agreement.starts_with("agreement: yes"),
        s.agreement,
        "{what}: {agreement}"
    );
    assert_eq!(s.conflict.is_none(), s.agreement, "{what}");
    if let Some(c) = &s.conflict {
        assert_ne!(c.values[0], c.values[1], "{what}");
        assert!(c.nodes.iter().all(|n| s.honest.contains(n)), "{what}");
        let named = format!(
            "position {}: node {} committed '{}', node {} committed '{}'",
            c.pos, c.nodes[0], c.values[0], c.nodes[1], c.values[1]
        );
        assert!(agreement.contains(&named), "{what}: {agreement}");
        for (n, v) in c.nodes.iter().zip(&c.values) {
            assert!(s.logs[n].contains(v), "{what}: node {n} has no {v}");
        }
    }
    // Liveness: "K of N values", K <= N, yes exactly when K == N.
    let liveness = line(text, "liveness");
    let counts = format!("{} of {} values", s.values_committed, s.requested);
    assert!(liveness.contains(&counts), "{what}: {liveness} vs {counts}");
    assert!(s.values_committed <= s.requested, "{what}");
    assert_eq!(s.live, s.values_committed == s.requested, "{what}");
    assert_eq!(
        liveness.starts_with("liveness:  yes"),
        s.live,
        "{what}: {liveness}"
    );
    // Detected: exactly the summary's nodes.
    let detected = line(text, "detected");
    if s.detected.is_empty() {
        assert_eq!(detected, "detected:  nobody", "{what}");
    }
    for d in &s.detected {
        assert!(
            detected.contains(&format!("node {d} (flagged by")),
            "{what}: {detected}"
        );
    }
    // What happened says the same.
    let story = s.what_happened.join(" ");
    assert_eq!(
        story.contains("agreement is broken"),
        !s.agreement,
        "{what}: {story}"
    );
    assert_eq!(
        story.contains("Every honest node committed all"),
        s.live,
        "{what}: {story}"
    );
    assert_eq!(
        story.contains("flagged node"),
        !s.detected.is_empty(),
        "{what}: {story}"
    );
    assert!(text.contains("what happened:"), "{what}");
}

#[test]
fn every_verdict_agrees_with_its_json_and_with_itself() {
    let cases = cases();
    let (a, b) = cases.split_at(cases.len() / 2);
    std::thread::scope(|scope| {
        for half in [a, b] {
            scope.spawn(move || {
                for cfg in half {
                    let report = actix::System::new()
                        .block_on(demo::run(cfg))
                        .expect("demo runs");
                    let text = demo::render(&report, 0, &Palette::plain());
                    check(cfg, &report.summary, &text);
                }
            });
        }
    });
}
