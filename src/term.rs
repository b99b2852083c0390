//! Colour for the terminal, and only for the terminal: on when stdout is a
//! terminal and `NO_COLOR` is unset or empty (<https://no-color.org>), off
//! when piped, so scripts and files get plain text. And [`wrap`], so prose
//! (the demo's "what happened") reads as paragraphs in any terminal.

use std::io::IsTerminal;

/// How to paint verdicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Palette {
    pub on: bool,
}

impl Palette {
    /// Colour if stdout is a terminal and the user did not opt out.
    pub fn for_stdout() -> Self {
        let opted_out = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Palette {
            on: std::io::stdout().is_terminal() && !opted_out,
        }
    }

    /// No colour at all.
    pub fn plain() -> Self {
        Palette { on: false }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// A verdict that holds.
    pub fn good(&self, s: &str) -> String {
        self.paint("1;32", s)
    }

    /// A verdict that fails, or an alarm.
    pub fn bad(&self, s: &str) -> String {
        self.paint("1;31", s)
    }

    /// Something to notice (an attacker's narration).
    pub fn warn(&self, s: &str) -> String {
        self.paint("33", s)
    }

    /// Pick `good` or `bad` by `ok`.
    pub fn verdict(&self, ok: bool, s: &str) -> String {
        if ok {
            self.good(s)
        } else {
            self.bad(s)
        }
    }
}

/// `text` in lines of at most `width` characters, broken between words (a
/// word longer than `width` gets a line of its own).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    #[test]
    fn wrap_breaks_between_words_and_keeps_every_word() {
        let text = "Node 0 ran SAFETY: as leader it proposes one value to half the nodes";
        let lines = super::wrap(text, 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(lines.join(" "), text);
        assert_eq!(super::wrap("", 10), Vec::<String>::new());
        assert_eq!(super::wrap("abcdefghijkl x", 5), vec!["abcdefghijkl", "x"]);
    }

    use super::*;

    #[test]
    fn plain_text_has_no_escape_codes() {
        assert_eq!(Palette::plain().bad("NO"), "NO");
        assert_eq!(Palette { on: true }.bad("NO"), "\x1b[1;31mNO\x1b[0m");
    }
}
