//! `paxos tour`: every attack off and on, and a closing table that says
//! what `paxos matrix` says for the same cells at the same seed.

use serde_json::Value;
use std::process::Command;

fn paxos(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_paxos"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("paxos runs");
    assert!(out.status.success(), "paxos {args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&paxos(args)).expect("JSON")
}

/// The matrix row of `side`'s cell, from either table.
fn row<'a>(rows: &'a [Value], attack: &str, side: &Value) -> &'a Value {
    rows.iter()
        .find(|r| {
            r["attack"] == attack
                && r["mode"] == side["mode"]
                && r["nodes"] == side["nodes"]
                && r["defences"] == side["defences"]
        })
        .unwrap_or_else(|| panic!("no matrix row for {attack} {side}"))
}

#[test]
fn the_tours_table_is_the_matrix_at_its_seed() {
    for seed in ["0", "5"] {
        let tour = json(&["tour", "--no-pause", "--json", "--seed", seed]);
        let legs = tour["legs"].as_array().expect("legs");
        assert_eq!(legs.len(), 8, "one stop per attack");
        let mut rows = Vec::new();
        for extra in [&[][..], &["--by-defence"][..]] {
            let mut args = vec![
                "matrix", "--json", "--seeds", "1", "--seed", seed, "--nodes", "3,4",
            ];
            args.extend_from_slice(extra);
            rows.extend(json(&args)["rows"].as_array().expect("rows").clone());
        }
        for leg in legs {
            let attack = leg["attack"].as_str().unwrap();
            for side in [&leg["off"], &leg["on"]] {
                let r = row(&rows, attack, side);
                for field in ["agreement", "live", "detected"] {
                    assert_eq!(
                        side[field], r[field],
                        "seed {seed} {attack} {side}: {field} vs {r}"
                    );
                }
            }
            // The stop shows what the README promises: undefended the attack
            // breaks agreement or progress, with its defence neither.
            let (off, on) = (&leg["off"], &leg["on"]);
            assert!(
                off["agreement"] == false || off["live"] == false,
                "{attack} bites: {off}"
            );
            assert!(
                on["agreement"] == true && on["live"] == true,
                "{attack} stopped: {on}"
            );
            assert_eq!(on["framed"], false, "{attack}");
        }
    }
}

#[test]
fn the_tour_shows_both_runs_and_ends_in_the_table() {
    let text = paxos(&["tour", "--no-pause"]);
    for attack in [
        "SAFETY",
        "LIVENESS",
        "BALLOT_OVERFLOW",
        "IGNORE_PREPARED",
        "STALE_PREPARED",
        "PREMATURE_COMMIT",
        "FORGERY",
        "REPLAY",
    ] {
        assert!(
            text.contains(&format!("  {attack} ")),
            "{attack} in\n{text}"
        );
    }
    assert!(text.contains("no defence"), "{text}");
    assert!(text.contains("with --defences echo"), "{text}");
    assert!(
        text.contains("[v0 (safety attack)]"),
        "the disagreeing position is marked:\n{text}"
    );
    let table = text
        .split("what stopped what")
        .nth(1)
        .expect("the closing table");
    assert_eq!(
        table
            .lines()
            .filter(|l| l.starts_with("  ") && !l.contains("attack "))
            .count(),
        8,
        "{table}"
    );
    // One stop.
    let one = paxos(&["tour", "--no-pause", "--attack", "liveness"]);
    assert!(one.contains("1/1  LIVENESS"), "{one}");
    assert!(!one.contains("SAFETY"), "{one}");
}

#[test]
fn the_tour_refuses_an_unknown_attack_with_exit_code_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_paxos"))
        .args(["tour", "--attack", "chaos"])
        .output()
        .expect("paxos runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
