//! Text from outside (an LLM's or a webhook's answer, a feed's items, an error
//! that quotes them) made safe for one log line.
//!
//! Invariant: what [`printable`] returns has no control character (C0, DEL,
//! C1) and no bidirectional override, so it can neither forge a log line
//! (`\n`), move the cursor or recolour a terminal (`ESC[...`), nor reorder what
//! a reader sees; each is written as an escape (`\n`, `\r`, `\t`, `\x1b`,
//! `\u{202e}`), and the text is cut at a bound with a note of what was left off.

use std::borrow::Cow;
use std::fmt::Write;

/// The bound most call sites use: enough for an error body's gist.
pub const LOG_CHARS: usize = 300;

/// `text` with every control character and bidirectional override escaped, cut
/// after `max_chars` characters (of the original) with `…(N more chars)`.
/// Borrowed when there is nothing to change.
pub fn printable(text: &str, max_chars: usize) -> Cow<'_, str> {
    let clean = !text.chars().any(needs_escape);
    let short = text.len() <= max_chars || text.chars().count() <= max_chars;
    if clean && short {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)) + 16);
    let mut taken = 0;
    for c in text.chars() {
        if taken == max_chars {
            break;
        }
        taken += 1;
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && needs_escape(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    let left = text.chars().count() - taken;
    if left > 0 {
        let _ = write!(out, "…(+{left} chars)");
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_short_text_is_borrowed_unchanged() {
        assert!(matches!(
            printable("model overloaded", 100),
            Cow::Borrowed("model overloaded")
        ));
        assert_eq!(printable("café ☕", 6), "café ☕");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            printable("\u{1b}[31mred\u{1b}[0m\nforged line\r\tx\u{7f}\0", 100),
            "\\x1b[31mred\\x1b[0m\\nforged line\\r\\tx\\x7f\\x00"
        );
        // C1 controls and bidirectional overrides.
        assert_eq!(
            printable("a\u{9b}b\u{202e}c\u{2066}", 100),
            "a\\u{9b}b\\u{202e}c\\u{2066}"
        );
    }

    #[test]
    fn long_text_is_cut_with_a_note() {
        assert_eq!(printable("abcdef", 4), "abcd…(+2 chars)");
        assert_eq!(printable("ééééé", 2), "éé…(+3 chars)");
        // The bound counts characters of the original, before escaping.
        assert_eq!(printable("\n\n\n", 2), "\\n\\n…(+1 chars)");
        assert_eq!(printable("", 0), "");
        assert_eq!(printable("x", 0), "…(+1 chars)");
    }

    #[test]
    fn nothing_printable_returns_has_a_control_character() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let out = printable(&all, usize::MAX);
        assert!(!out.chars().any(needs_escape), "{out}");
    }
}
