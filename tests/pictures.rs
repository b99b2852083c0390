//! The pictures: `docs/pictures.sh` draws exactly the committed ones (so a
//! change to the code that changes a picture must commit the new picture),
//! every note's words are all in the SVG (wrapped, never cut), the first
//! disagreeing position is marked on both honest lanes, and a one-second
//! LIVENESS demo, thousands of messages, fits in 3,000 pixels.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("paxos-pictures-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The text of every `<g class="note">`: its tooltip and the words drawn.
fn notes(svg: &str) -> Vec<(String, String)> {
    svg.split(r#"<g class="note">"#)
        .skip(1)
        .map(|g| {
            let title = g
                .split("<title>")
                .nth(1)
                .unwrap()
                .split("</title>")
                .next()
                .unwrap();
            let drawn: Vec<&str> = g
                .split("<tspan")
                .skip(1)
                .map(|t| {
                    t.split_once('>')
                        .unwrap()
                        .1
                        .split("</tspan>")
                        .next()
                        .unwrap()
                })
                .collect();
            (title.to_string(), drawn.join(" "))
        })
        .collect()
}

fn height(svg: &str) -> usize {
    let h = svg.split("height=\"").nth(1).unwrap();
    h.split('"').next().unwrap().parse().unwrap()
}

#[test]
fn pictures_sh_draws_exactly_the_committed_pictures() {
    let out = scratch("drawn");
    let run = Command::new("bash")
        .arg(root().join("docs/pictures.sh"))
        .current_dir(root())
        .env("PAXOS", env!("CARGO_BIN_EXE_paxos"))
        .env("OUT", &out)
        .output()
        .expect("bash runs");
    assert!(run.status.success(), "{run:?}");
    let mut drawn: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    drawn.sort();
    assert!(drawn.len() >= 6, "{drawn:?}");
    for name in drawn {
        let new = std::fs::read_to_string(out.join(&name)).unwrap();
        let committed = std::fs::read_to_string(root().join("docs").join(&name))
            .unwrap_or_else(|_| panic!("docs/{name:?} is not committed"));
        assert!(
            new == committed,
            "docs/{name:?} differs from what the code draws today: run `bash docs/pictures.sh` and commit"
        );
        if name.to_string_lossy().ends_with(".svg") {
            for (title, words) in notes(&new) {
                let whole: Vec<&str> = title.split_whitespace().collect();
                assert_eq!(
                    words.split_whitespace().collect::<Vec<_>>(),
                    whole,
                    "{name:?}: a note lost words"
                );
            }
        }
    }
    let safety = std::fs::read_to_string(out.join("safety-off.svg")).unwrap();
    assert_eq!(
        safety.matches(r#"class="conflict""#).count(),
        2,
        "marked on both honest lanes"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_one_second_liveness_demo_fits_on_a_screen_and_keeps_its_words() {
    let dir = scratch("liveness");
    let svg = dir.join("liveness.svg");
    let run = Command::new(env!("CARGO_BIN_EXE_paxos"))
        .args(["demo", "--attack", "LIVENESS", "--deadline", "1", "--trace"])
        .arg(&svg)
        .output()
        .expect("paxos runs");
    assert!(run.status.success(), "{run:?}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(height(&text) <= 3000, "{} px tall", height(&text));
    assert!(text.contains(" ×"), "repeated messages are collapsed");
    for (title, words) in notes(&text) {
        assert_eq!(
            words.split_whitespace().collect::<Vec<_>>(),
            title.split_whitespace().collect::<Vec<_>>()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
