//! The `paxos` binary as a user meets it: the demo's JSON, and clear errors
//! with a non-zero exit code (never a panic) on bad input.

use std::process::{Command, Output, Stdio};

fn paxos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paxos"))
        .args(args)
        .output()
        .expect("the paxos binary runs")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).expect("utf-8");
    assert_eq!(text.lines().count(), 1, "exactly one JSON object: {text}");
    serde_json::from_str(&text).expect("valid JSON")
}

#[test]
fn demo_json_reports_agreement_and_liveness() {
    let v = json(&paxos(&[
        "demo", "--nodes", "5", "--values", "20", "--json",
    ]));
    assert_eq!(v["agreement"], true);
    assert_eq!(v["live"], true);
    assert_eq!(v["committed"], 20);
    assert_eq!(v["requested"], 20);
    assert_eq!(v["nodes"], 5);
    for field in [
        "attack",
        "attackers",
        "middleware",
        "seed",
        "honest",
        "logs",
        "detected",
        "elapsed_ms",
    ] {
        assert!(v.get(field).is_some(), "field {field} missing: {v}");
    }
}

#[test]
fn demo_defaults_work_and_print_a_verdict() {
    let out = paxos(&["demo"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("agreement: yes"), "{text}");
    assert!(text.contains("liveness:  yes"), "{text}");
}

/// With no attack the client asks one node, which leads the whole log: one
/// phase 1 and no contention, whatever the cluster's size.
#[test]
fn demo_without_attack_has_one_leader_and_nobody_contends() {
    for nodes in ["3", "5", "7"] {
        let out = paxos(&["demo", "--nodes", nodes, "--values", "40"]);
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("40 of 40 values committed"), "{text}");
        let prepares: Vec<&str> = text.lines().filter(|l| l.contains("Prepare pos")).collect();
        assert_eq!(prepares.len(), 1, "{nodes} nodes: {prepares:?}");
        assert!(!text.contains("preempted"), "{text}");
    }
}

fn assert_clear_error(args: &[&str], mention: &str) {
    let out = paxos(args);
    assert!(!out.status.success(), "{args:?} must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(mention), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
}

#[test]
fn bad_input_gives_a_clear_error() {
    assert_clear_error(&["demo", "--nodes", "0"], "--nodes");
    assert_clear_error(&["demo", "--nodes", "three"], "invalid digit");
    assert_clear_error(&["demo", "--frobnicate"], "--frobnicate");
    assert_clear_error(&["demo", "--deadline", "-1"], "--deadline");
    assert_clear_error(&["demo", "--deadline", "0"], "more than 0");
    assert_clear_error(&["demo", "--drop", "2"], "between 0 and 1");
    assert_clear_error(&["fly"], "unrecognized subcommand");
    assert_clear_error(
        &["demo", "--attack", "chaos"],
        "expected SAFETY, LIVENESS, BALLOT_OVERFLOW",
    );
    assert_clear_error(
        &["demo", "--attack", "safety", "--attacker", "9"],
        "not a node",
    );
    // Bad input is exit code 2, whether clap or the cluster finds it.
    for args in [
        &["demo", "--nodes", "0"][..],
        &["demo", "--drop", "2"],
        &["demo", "--attack", "safety", "--attacker", "9"],
        &["demo", "--bft", "--nodes", "3"],
        &["demo", "--bft", "--nodes", "4", "--defences", "echo"],
        &["demo", "--trace", "no-such-dir/x.svg"],
        &["sim", "--loss", "1"],
        &["sim", "--seeds", "0"],
        &["matrix", "--seeds", "0"],
    ] {
        let out = paxos(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // An attacker with no attack would be ignored: refused instead.
    for cmd in ["demo", "sim"] {
        let out = paxos(&[cmd, "--attacker", "1"]);
        assert_eq!(out.status.code(), Some(2), "{cmd} --attacker alone");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--attack <NAME>"), "{cmd}: {err}");
    }
}

#[test]
fn attack_flags_fill_the_summary() {
    let v = json(&paxos(&[
        "demo",
        "--attack",
        "safety",
        "--attacker",
        "1",
        "--enable-middleware",
        "--json",
    ]));
    assert_eq!(v["attack"], "SAFETY");
    assert_eq!(v["attackers"], serde_json::json!([1]));
    assert_eq!(v["middleware"], true);
    assert_eq!(v["agreement"], true);
    assert_eq!(v["detected"], serde_json::json!([1]));
}

#[test]
fn bench_json_reports_throughput_latency_and_its_configuration() {
    let v = json(&paxos(&["bench", "--seconds", "1", "--json"]));
    for field in ["rounds_per_sec", "values_per_sec", "p50_us", "p99_us"] {
        let x = v[field].as_f64().unwrap_or_else(|| panic!("{field}: {v}"));
        assert!(x > 0.0, "{field} must be positive: {v}");
    }
    // Values come in batches of the configured size at most.
    let (rounds, values) = (v["rounds"].as_u64().unwrap(), v["values"].as_u64().unwrap());
    assert!(rounds > 0 && values >= rounds, "{v}");
    assert!(values <= rounds * v["batch"].as_u64().unwrap(), "{v}");
    assert!(v["p50_us"].as_f64() <= v["p99_us"].as_f64(), "{v}");
    assert_eq!(v["nodes"], 3);
    assert_eq!(v["transport"], "inproc");
    for field in ["window", "batch", "middleware", "auth", "elapsed_s"] {
        assert!(!v[field].is_null(), "missing {field}: {v}");
    }
    assert_eq!(v["bft"], false);
    // In process, read against an actix mailbox delivery measured in the run.
    let hop = v["hop_ns"].as_f64().unwrap();
    let hops = v["hop_times_per_position"].as_f64().unwrap();
    let rate = v["rounds_per_sec"].as_f64().unwrap();
    assert!(hop > 0.0 && hops > 0.0, "{v}");
    assert!((hops * rate * hop * 1e-9 - 1.0).abs() < 1e-6, "{v}");
    let v = json(&paxos(&[
        "bench",
        "--seconds",
        "1",
        "--nodes",
        "4",
        "--bft",
        "--middleware",
        "--json",
    ]));
    assert_eq!(v["bft"], true, "{v}");
    assert!(
        v["rounds"].as_u64().unwrap_or(0) > 0,
        "BFT mode commits: {v}"
    );
    // Signed runs read against this machine's ed25519, measured in the run.
    let (checks, verify) = (
        v["verifies_per_position"].as_f64().unwrap(),
        v["verify_us"].as_f64().unwrap(),
    );
    assert!(checks > 0.0 && verify > 0.0, "{v}");
    let rate = v["rounds_per_sec"].as_f64().unwrap();
    let times = v["verify_times_per_position"].as_f64().unwrap();
    assert!((times * rate * verify * 1e-6 - 1.0).abs() < 1e-6, "{v}");
    assert!(
        v["spared_per_position"].as_f64().unwrap() > 0.0,
        "BFT proofs re-carry signatures: {v}"
    );
}

/// The nodes keep their logs in memory: a run that would outgrow its
/// budget stops early, says so, and reports rates over the time it ran.
#[test]
fn a_bench_that_outgrows_its_memory_budget_stops_early_and_says_so() {
    let v = json(&paxos(&["bench", "--seconds", "1", "--json"]));
    assert_eq!(v["stopped_for_memory"], false, "{v}");
    assert!(v["memory_budget_mib"].as_u64().unwrap() > 0, "{v}");
    let v = json(&paxos(&[
        "bench",
        "--seconds",
        "120",
        "--max-memory",
        "64",
        "--json",
    ]));
    assert_eq!(v["stopped_for_memory"], true, "{v}");
    assert_eq!(v["memory_budget_mib"], 64, "{v}");
    let elapsed = v["elapsed_s"].as_f64().unwrap();
    assert!(elapsed < 120.0, "{v}");
    let rate = v["values_per_sec"].as_f64().unwrap();
    let values = v["values"].as_f64().unwrap();
    assert!(
        values > 0.0 && (rate * elapsed / values - 1.0).abs() < 1e-6,
        "{v}"
    );
    let out = paxos(&["bench", "--seconds", "120", "--max-memory", "64"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("stopped early: the process passed its memory budget of 64 MiB"),
        "{text}"
    );
}

#[test]
fn bench_refuses_what_it_cannot_do_with_a_clear_error() {
    for (args, says) in [
        (
            &["bench", "--middleware", "--auth", "off"][..],
            "needs signatures",
        ),
        (&["bench", "--window", "0"][..], "window"),
        (&["bench", "--bft"][..], "3f+1 = 4"),
        (
            &["bench", "--workload", "kv", "--bft"][..],
            "--bft is for the values workload",
        ),
        (
            &["bench", "--workload", "kv", "--transport", "tcp"][..],
            "--transport is for the values workload",
        ),
        (
            &["bench", "--data-dir", "/nonexistent/paxos-bench"][..],
            "is not a directory",
        ),
    ] {
        let out = paxos(args);
        // Bad input, as clap's usage errors: exit code 2, before any run.
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("benchmarking"), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// `--trace` writes a sequence chart of a short attacked run: the SVG is
/// well-formed XML with one lane per node (plus the coordinator's) and one
/// arrow per delivered message; the Mermaid file has one arrow line per
/// delivered message, the same number.
#[test]
fn demo_trace_writes_svg_and_mermaid_charts() {
    let dir = std::env::temp_dir().join(format!("paxos-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("safety.svg");
    let mmd = dir.join("safety.mmd");
    for path in [&svg, &mmd] {
        let path = path.to_str().expect("a UTF-8 temp path");
        let out = paxos(&[
            "demo",
            "--attack",
            "SAFETY",
            "--values",
            "2",
            "--deadline",
            "1",
            "--trace",
            path,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the SVG is well-formed XML");
    let class = |c: &str| {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(c))
            .count()
    };
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    assert_eq!(class("lane"), 4, "coordinator + 3 nodes");
    let arrows = class("msg");
    assert!(arrows > 10, "a SAFETY run has more than {arrows} messages");
    assert!(text.contains("SAFETY attacker"));

    let m = std::fs::read_to_string(&mmd).unwrap();
    assert!(m.starts_with("sequenceDiagram\n"));
    let delivered = m.lines().filter(|l| l.contains("->>")).count();
    assert!(delivered > 10, "{m}");
    // Same seed, same run: the same messages in both files.
    assert_eq!(delivered, arrows, "svg and mmd disagree");
    // A divergent commit shows at the end of the lanes.
    assert!(
        m.lines()
            .any(|l| l.contains(": log [") && l.contains("v0 (safety attack)")),
        "{m}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_trace_refuses_an_unknown_format_before_running() {
    let out = paxos(&["demo", "--trace", "chart.png"]);
    assert_eq!(out.status.code(), Some(2), "bad input");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(".svg or .mmd"), "{err}");
    let out = paxos(&["demo", "--trace", "x.svg", "--trace-positions", "4..2"]);
    assert_eq!(out.status.code(), Some(2));
    // A directory that does not exist is found before the run, not after:
    // the LIVENESS demo would otherwise run out its whole deadline first.
    for cmd in [
        &["demo", "--attack", "LIVENESS"][..],
        &["sim", "--replay"][..],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--trace", "no/such/dir/run.svg"]);
        let out = paxos(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: bad input");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no directory no/such/dir"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: refused before the run");
    }
}

#[test]
fn piped_output_has_no_colour_codes() {
    let out = paxos(&[
        "demo",
        "--attack",
        "SAFETY",
        "--values",
        "2",
        "--deadline",
        "1",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("agreement: NO"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "escape codes in piped output: {text:?}"
    );
}

/// `paxos sim --seed S --replay --trace` draws the replayed run: the same
/// number of delivered arrows in the SVG and in the Mermaid file, the
/// attacker's lane marked, the violation written where it happened.
#[test]
fn sim_replay_trace_draws_the_run() {
    let dir = std::env::temp_dir().join(format!("paxos-simtrace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (svg, mmd) = (dir.join("run.svg"), dir.join("run.mmd"));
    for path in [&svg, &mmd] {
        let path = path.to_str().expect("a UTF-8 temp path");
        let out = paxos(&[
            "sim", "--seed", "3", "--replay", "--attack", "SAFETY", "--trace", path,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    let arrows = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("msg"))
        .count();
    let m = std::fs::read_to_string(&mmd).unwrap();
    assert!(m.starts_with("sequenceDiagram\n"));
    assert_eq!(m.lines().filter(|l| l.contains("->>")).count(), arrows);
    assert!(arrows > 5, "{m}");
    assert!(m.contains("node 0 (SAFETY attacker)"), "{m}");
    assert!(m.contains("VIOLATION"), "{m}");
    // Without --replay there is no single run to draw.
    let out = paxos(&["sim", "--trace", "x.svg"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_attacker_alone_is_refused_not_a_panic() {
    for attack in [
        "SAFETY",
        "LIVENESS",
        "BALLOT_OVERFLOW",
        "PREMATURE_COMMIT",
        "FORGERY",
        "REPLAY",
        "IGNORE_PREPARED",
        "STALE_PREPARED",
    ] {
        let out = paxos(&["demo", "--nodes", "1", "--attack", attack]);
        assert_eq!(out.status.code(), Some(2), "{attack}: bad input");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no honest node"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// The bench over the TCP bridge on loopback commits values and says so.
#[test]
fn bench_over_tcp_commits_values() {
    let out = paxos(&["bench", "--transport", "tcp", "--seconds", "1", "--json"]);
    let v = json(&out);
    assert_eq!(v["transport"], "tcp");
    assert_eq!(v["auth"], false);
    assert!(v["values_per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
    assert!(v["rounds_per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
    // Read beside this machine's loopback round-trip rate, measured in the run.
    let loopback = v["loopback_round_trips_per_sec"].as_f64().unwrap();
    assert!(loopback > 0.0, "{v}");
    let ratio = v["rounds_per_sec"].as_f64().unwrap() / loopback;
    assert!(
        (v["of_loopback"].as_f64().unwrap() - ratio).abs() < 1e-9,
        "{v}"
    );
    // The mailbox baseline is the in-process limit, not this one's.
    assert_eq!(v["hop_ns"].as_f64(), Some(0.0), "{v}");
}

/// Spread over two threads (the leader off the coordinator's), the TCP
/// bench still commits, reports its threads and ends without a node
/// complaining that the coordinator went away.
#[test]
fn bench_over_tcp_on_two_threads_commits_and_ends_quietly() {
    let out = paxos(&[
        "bench",
        "--transport",
        "tcp",
        "--threads",
        "2",
        "--window",
        "1",
        "--batch",
        "1",
        "--seconds",
        "1",
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["threads"], 2);
    assert!(v["rounds_per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("lost the coordinator"), "{stderr}");
}

#[test]
fn matrix_json_has_a_row_per_attack_middleware_and_mode() {
    let v = json(&paxos(&[
        "matrix", "--nodes", "4", "--seeds", "2", "--json",
    ]));
    let rows = v["rows"].as_array().expect("rows");
    let modes: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r["mode"].as_str()).collect();
    assert_eq!(modes, ["bft", "classic"].into_iter().collect());
    for attack in ["SAFETY", "LIVENESS", "BALLOT_OVERFLOW"] {
        for mode in ["classic", "bft"] {
            for middleware in [false, true] {
                let row = rows.iter().find(|r| {
                    r["attack"] == attack && r["mode"] == mode && r["middleware"] == middleware
                });
                let row = row.unwrap_or_else(|| panic!("{attack} {mode} {middleware}: {v}"));
                for field in ["agreement", "live", "detected"] {
                    assert!(row[field].is_boolean(), "{field} in {row}");
                }
            }
        }
    }
}

#[test]
fn matrix_and_bft_refuse_bad_input_clearly() {
    assert_clear_error(&["matrix", "--nodes", "1"], "1 is not in 2..=25");
    assert_clear_error(&["matrix", "--nodes", "1000"], "1000 is not in 2..=25");
    assert_clear_error(
        &["sim", "--seeds", "18446744073709551615"],
        "not in 1..=100000000",
    );
    assert_clear_error(&["matrix", "--seeds", "0"], "--seeds");
    assert_clear_error(&["demo", "--bft"], "3f+1 = 4");
    assert_clear_error(
        &["sim", "--bft", "--nodes", "6", "--faults", "2"],
        "3f+1 = 7",
    );
    assert_clear_error(&["demo", "--faults", "1"], "--bft");
}

#[test]
fn help_shows_its_examples_one_per_line() {
    for cmd in ["demo", "node", "sim", "matrix", "bench", "explore"] {
        let out = paxos(&[cmd, "--help"]);
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("\n  paxos {cmd}")),
            "{cmd} --help: {text}"
        );
    }
}

#[test]
fn one_defence_at_a_time_stops_its_own_attack_and_not_another() {
    // The README's `--defences` commands, with what their comments claim.
    let list = paxos(&["defences"]);
    assert!(list.status.success());
    let text = String::from_utf8_lossy(&list.stdout);
    for name in [
        "echo",
        "certificates",
        "prepare-limit",
        "ballot-bound",
        "justify",
        "stale",
        "forgery",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    let v = json(&paxos(&[
        "demo",
        "--attack",
        "SAFETY",
        "--defences",
        "echo",
        "--json",
    ]));
    assert_eq!(
        (v["agreement"].clone(), v["defences"].clone()),
        (true.into(), "echo".into()),
        "{v}"
    );
    assert_eq!(v["detected"], serde_json::json!([0]), "{v}");
    let v = json(&paxos(&[
        "demo",
        "--attack",
        "LIVENESS",
        "--defences",
        "echo",
        "--deadline",
        "1",
        "--json",
    ]));
    assert_eq!(v["live"], false, "{v}");
    let v = json(&paxos(&[
        "demo",
        "--attack",
        "LIVENESS",
        "--defences",
        "prepare-limit",
        "--json",
    ]));
    assert_eq!(
        (v["live"].clone(), v["detected"].clone()),
        (true.into(), serde_json::json!([0])),
        "{v}"
    );
    // Refusals: a name that is no defence, both switches, BFT with some.
    assert_clear_error(&["demo", "--defences", "moat"], "'moat' is not a defence");
    assert_clear_error(
        &["demo", "--defences", "echo", "--middleware"],
        "cannot be used with",
    );
    assert_clear_error(
        &["demo", "--bft", "--nodes", "4", "--defences", "echo"],
        "all of them (--middleware) or none",
    );
}

#[test]
fn sim_prints_the_whole_command_that_replays_its_first_violation() {
    let out = paxos(&[
        "sim",
        "--seeds",
        "30",
        "--attack",
        "SAFETY",
        "--loss",
        "0.1",
        "--crashes",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.starts_with("paxos sim --loss 0.1 --crashes --attack SAFETY\n"),
        "{text}"
    );
    let hint = text
        .lines()
        .find_map(|l| l.strip_prefix("replay it with: paxos "))
        .expect("a replay hint");
    let first = text
        .lines()
        .find_map(|l| l.strip_prefix("first violation: "))
        .expect("a violation");
    // The hint, run as printed, shows that very violation.
    let args: Vec<&str> = hint.split(' ').collect();
    let replay = paxos(&args);
    assert!(replay.status.success());
    let what = first.split_once(", ").expect("seed, what").1;
    let shown = String::from_utf8_lossy(&replay.stdout);
    assert!(shown.contains(what), "{hint}: {what} not in\n{shown}");
}

#[test]
fn the_demo_names_every_flag_it_ran_with() {
    let out = paxos(&[
        "demo",
        "--drop",
        "0.1",
        "--attack",
        "SAFETY",
        "--deadline",
        "2",
        "--max-prepares",
        "4",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let again = text
        .lines()
        .find_map(|l| l.strip_prefix("run again with: paxos "))
        .expect("the flags");
    for flag in [
        "--drop 0.1",
        "--attack SAFETY",
        "--deadline 2",
        "--max-prepares 4",
    ] {
        assert!(again.contains(flag), "{flag} missing: {again}");
    }
    let mut args: Vec<&str> = again.split(' ').collect();
    args.push("--json");
    let v = json(&paxos(&args));
    assert_eq!(
        v["flags"],
        again.strip_prefix("demo ").unwrap_or(again),
        "{v}"
    );
    // The defaults name nothing.
    let plain = String::from_utf8_lossy(&paxos(&["demo"]).stdout).into_owned();
    assert!(!plain.contains("run again with"), "{plain}");
}

#[test]
fn a_run_that_leaves_a_question_open_says_what_to_try() {
    let hint = |args: &[&str]| {
        let mut args = args.to_vec();
        args.push("--json");
        json(&paxos(&args))["hint"].as_str().map(str::to_string)
    };
    let h = hint(&["demo", "--attack", "REPLAY"]).expect("REPLAY at 3 nodes");
    assert!(h.contains("try --nodes 5"), "{h}");
    let h = hint(&["demo", "--attack", "STALE_PREPARED", "--middleware"]).expect("detection only");
    assert!(h.contains("--bft --nodes 4"), "{h}");
    let h = hint(&[
        "demo",
        "--attack",
        "LIVENESS",
        "--defences",
        "echo",
        "--deadline",
        "1",
    ])
    .expect("not its defence");
    assert!(h.contains("try --defences prepare-limit"), "{h}");
    let h = hint(&["demo", "--attack", "SAFETY"]).expect("no defence");
    assert!(h.contains("--defences echo"), "{h}");
    // BFT mode refuses a single defence, so it is never the advice there,
    // and the advice given runs.
    let h = hint(&[
        "demo",
        "--bft",
        "--nodes",
        "4",
        "--attack",
        "SAFETY",
        "--deadline",
        "2",
    ])
    .expect("no defence, BFT");
    assert!(
        h.contains("try --middleware") && !h.contains("--defences"),
        "{h}"
    );
    let followed = paxos(&[
        "demo",
        "--bft",
        "--nodes",
        "4",
        "--attack",
        "SAFETY",
        "--middleware",
    ]);
    assert!(followed.status.success(), "{followed:?}");
    assert_eq!(hint(&["demo", "--attack", "SAFETY", "--middleware"]), None);
    assert_eq!(hint(&["demo"]), None);
}

#[test]
fn matrix_by_defence_pairs_each_attack_with_its_own_defence() {
    let v = json(&paxos(&[
        "matrix",
        "--by-defence",
        "--nodes",
        "3",
        "--seeds",
        "2",
        "--json",
    ]));
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 14, "{v}");
    let safety_echo = rows
        .iter()
        .find(|r| r["attack"] == "SAFETY" && r["defences"] == "echo")
        .expect("SAFETY with only echo");
    assert_eq!(safety_echo["detected_runs"], 2, "{safety_echo}");
}

#[test]
fn the_demo_timeline_shows_lost_messages_and_the_networks_own_events() {
    let text = String::from_utf8_lossy(&paxos(&["demo", "--drop", "0.3", "--values", "3"]).stdout)
        .into_owned();
    assert!(text.contains("(the network dropped it)"), "{text}");
    let split = String::from_utf8_lossy(&paxos(&["demo", "--attack", "IGNORE_PREPARED"]).stdout)
        .into_owned();
    assert!(split.contains("network SPLIT:"), "{split}");
    assert!(split.contains("(the link is cut)"), "{split}");
    assert!(!split.contains("node 1  SPLIT"), "{split}");
}

#[test]
fn a_demo_too_big_to_report_is_refused_with_exit_code_2() {
    let out = paxos(&["demo", "--values", "100001"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("100000"),
        "{out:?}"
    );
}

#[test]
fn sim_kv_workload_reports_linearizable_runs_and_counts_a_refused_history_as_a_violation() {
    let v = json(&paxos(&[
        "sim",
        "--workload",
        "kv",
        "--seeds",
        "10",
        "--clients",
        "4",
        "--keys",
        "2",
        "--json",
    ]));
    assert_eq!(v["linearizable_runs"], 10, "{v}");
    assert_eq!(v["violations"], 0, "{v}");
    assert!(v["flags"]
        .as_str()
        .unwrap()
        .contains("--workload kv --clients 4 --keys 2"));
    let plain = json(&paxos(&["sim", "--seeds", "2", "--json"]));
    assert!(plain.get("linearizable_runs").is_none(), "{plain}");
    let bug = json(&paxos(&[
        "sim",
        "--workload",
        "kv",
        "--reads",
        "local",
        "--seeds",
        "50",
        "--json",
    ]));
    let refused = 50 - bug["linearizable_runs"].as_u64().unwrap();
    assert!(refused > 0, "{bug}");
    assert_eq!(bug["violations"].as_u64(), Some(refused), "{bug}");
    assert!(bug["first_violation"]
        .as_str()
        .unwrap()
        .contains("not linearizable"));
    assert_clear_error(&["sim", "--workload", "kv", "--ops", "0"], "--ops");
    assert_clear_error(
        &["sim", "--workload", "kv", "--reads", "fast"],
        "log, index, local",
    );
}

#[test]
fn kv_without_a_coordinator_is_a_clear_error_and_help_explains_the_operations() {
    let out = paxos(&["kv", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["put", "get", "cas", "delete", "--client", "--seq"] {
        assert!(help.contains(word), "kv --help lacks {word}: {help}");
    }
    let out = paxos(&[
        "kv",
        "--coordinator",
        "127.0.0.1:1",
        "--cluster-key",
        "/nonexistent/key",
        "get",
        "x",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bench_kv_reports_reads_and_writes_through_the_log_beside_local_reads() {
    let v = json(&paxos(&[
        "bench",
        "--workload",
        "kv",
        "--seconds",
        "0.5",
        "--clients",
        "4",
        "--json",
    ]));
    for phase in ["log", "local"] {
        assert_eq!(v[phase]["reads"], phase, "{v}");
        assert!(v[phase]["ops_per_sec"].as_f64().unwrap() > 0.0, "{v}");
        for kind in ["read", "write"] {
            let l = &v[phase][kind];
            assert!(l["count"].as_u64().unwrap() > 0, "{phase} {kind}: {v}");
            assert!(l["p99_us"].as_f64().unwrap() >= l["p50_us"].as_f64().unwrap());
        }
    }
}

#[test]
fn explore_serves_its_page_on_the_port_it_printed_and_stops_cleanly() {
    use std::io::{BufRead as _, Read as _, Write as _};
    let mut child = Command::new(env!("CARGO_BIN_EXE_paxos"))
        .args(["explore", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("paxos explore starts");
    // Stopped also when an assertion below fails.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().expect("stdout");
    let _guard = Kill(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("it prints its URL");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in: {line}"));
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    for (path, has) in [
        ("/", "<title>paxos explore</title>"),
        ("/api/state?lesson=safety", "\"attack\":\"SAFETY\""),
        ("/api/state?nodes=40", "at most 9 nodes"),
    ] {
        let mut conn = std::net::TcpStream::connect(addr).expect("it listens where it said");
        write!(
            conn,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).expect("an answer");
        assert!(reply.contains(has), "{path}: {reply:.300}");
    }
}

#[test]
fn explore_replay_prints_a_run_and_refuses_a_bad_one_with_words() {
    let out = paxos(&["explore", "--replay", "nodes=3&attack=SAFETY&a=p0:v0.n20"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("VIOLATION agreement"), "{text}");
    for (query, says) in [
        ("a=d5", "no packet 5 is in flight"),
        ("lesson=nope", "the lessons: safety"),
        ("nodes=3&bft=true", "3f+1"),
    ] {
        let out = paxos(&["explore", "--replay", query]);
        assert_eq!(out.status.code(), Some(2), "{query}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error: ") && err.contains(says),
            "{query}: {err}"
        );
    }
}

#[test]
fn demo_kv_clients_see_a_linearizable_store_and_safety_breaks_it_without_a_defence() {
    let v = json(&paxos(&[
        "demo",
        "--workload",
        "kv",
        "--clients",
        "4",
        "--json",
    ]));
    assert_eq!(v["linearizable"], true, "{v}");
    assert_eq!(v["completed"], v["invoked"]);
    assert_eq!(v["completed"], 32);
    // The actors compacting every 2 positions all through: the same.
    let v = json(&paxos(&[
        "demo",
        "--workload",
        "kv",
        "--snapshot-every",
        "2",
        "--json",
    ]));
    assert_eq!(v["linearizable"], true, "{v}");
    assert_eq!(v["completed"], v["invoked"], "{v}");
    let defended = json(&paxos(&[
        "demo",
        "--workload",
        "kv",
        "--attack",
        "SAFETY",
        "--middleware",
        "--json",
    ]));
    assert_eq!(defended["linearizable"], true, "{defended}");
    assert_eq!(defended["detected"], serde_json::json!([0]));
    // Undefended the logs split; whether a client's read crosses the split
    // is up to real time (the simulator's tests/kv.rs shows the checker
    // refusing such histories). A refused one is drawn.
    let v = json(&paxos(&[
        "demo",
        "--workload",
        "kv",
        "--attack",
        "SAFETY",
        "--deadline",
        "2",
        "--json",
    ]));
    assert_eq!(v["agreement"], false, "{v}");
    assert_eq!(v["linearizable"] == false, v["refused"].is_string(), "{v}");
}

/// An address that is not HOST:PORT is refused before anything dials or
/// binds it (exit 2), whichever command takes it.
#[test]
fn an_address_that_is_not_host_and_port_is_refused_at_once() {
    for args in [
        &["status", "--coordinator", "foo"][..],
        &["status", "--coordinator", ""][..],
        &["coordinator", "--listen", "127.0.0.1:99999"][..],
        &["node", "--advertise", "foo"][..],
        &["explore", "--listen", "foo"][..],
    ] {
        // Refused by the argument parser: nothing was dialled or bound.
        let out = paxos(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("is not an address: give HOST:PORT"),
            "{args:?}: {err}"
        );
    }
}

/// A durable bench stopped with Ctrl-C (SIGINT) removes what it wrote
/// under --data-dir, as a finished one does.
#[test]
fn an_interrupted_durable_bench_leaves_its_data_directory_empty() {
    let dir = std::env::temp_dir().join(format!("paxos-bench-int-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_paxos"))
        .args(["bench", "--seconds", "60", "--data-dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the paxos binary runs");
    // Wait until the nodes' directories exist: the run is under way.
    let started = std::time::Instant::now();
    let busy = |d: &std::path::Path| {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read_dir(e.path()).is_ok_and(|mut n| n.next().is_some()))
    };
    while !busy(&dir) {
        assert!(started.elapsed().as_secs() < 30, "the bench never wrote");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("the bench exits");
    assert!(!status.success(), "interrupted, not finished");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(left.is_empty(), "left behind: {left:?}");
}
