//! `pattern` keywords, compiled with the `regex` crate the way Kubernetes compiles them
//! with Go's `regexp` (RE2 syntax — Kubernetes does not use ECMA-262 regexes, whatever
//! OpenAPI says).
//!
//! Both engines are linear-time RE2 descendants with the same core syntax; the pattern is
//! rewritten so the remaining differences vanish where that is cheap:
//! * `\d \s \w` (and their negations) and `\b` are ASCII-only in Go but Unicode-aware in
//!   Rust: they are rewritten to explicit ASCII classes.
//! * `\Q...\E` (Go's literal quoting) is rewritten to escaped literals.
//! * a `{` that does not start a valid repetition is a literal in Go but an error in
//!   Rust: it is escaped; so are `[`, `&`, `~` and `-` runs inside a class, which Rust
//!   reads as nested classes or set operations.
//!
//! Still different: Go refuses repetition counts above 1000 and flags other than
//! `imsU`; Rust accepts them. Octal escapes (`\123`) work in Go and are refused here.
//! Lookaround and backreferences are refused by both.

use regex::{Regex, RegexBuilder};

/// Largest compiled program a CRD pattern may produce (1 MiB): patterns come from CRD
/// authors, and `(a{100}){100}`-style nesting must not cost the server unbounded memory.
pub const MAX_PATTERN_PROGRAM_BYTES: usize = 1 << 20;
/// Largest lazy-DFA cache per pattern (2 MiB), for the same reason.
pub const MAX_PATTERN_DFA_BYTES: usize = 2 << 20;
/// Deepest group nesting accepted (Go's parser allows 1000; 250 is the regex crate's
/// default and keeps the recursive compiler well inside the stack).
pub const MAX_PATTERN_NESTING: u32 = 250;

const ASCII_DIGIT: &str = "0-9";
const ASCII_DIGIT_NEG: &str = r"\x00-/:-\x{10FFFF}";
const ASCII_SPACE: &str = r"\t\n\x0C\r ";
const ASCII_SPACE_NEG: &str = r"\x00-\x08\x0B\x0E-\x1F!-\x{10FFFF}";
const ASCII_WORD: &str = "0-9A-Za-z_";
const ASCII_WORD_NEG: &str = r"\x00-/:-@\[-\^`\{-\x{10FFFF}";

/// Compiles a Go (RE2) pattern; the error is the regex crate's message.
pub fn compile_go_regex(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern);
    RegexBuilder::new(&translated)
        .size_limit(MAX_PATTERN_PROGRAM_BYTES)
        .dfa_size_limit(MAX_PATTERN_DFA_BYTES)
        .nest_limit(MAX_PATTERN_NESTING)
        .build()
        .map_err(|e| e.to_string())
}

/// Whether `chars[i..]` starts a valid counted repetition `{n}`, `{n,}` or `{n,m}`;
/// returns the index just past the closing brace.
fn repetition_end(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    let start = j;
    while j < chars.len() && chars[j].is_ascii_digit() {
        j += 1;
    }
    if j == start {
        return None;
    }
    if j < chars.len() && chars[j] == ',' {
        j += 1;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
    }
    (j < chars.len() && chars[j] == '}').then_some(j + 1)
}

/// Rewrites Go syntax into equivalent regex-crate syntax (see the module docs).
pub fn translate(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    // Position right after a class's opening `[` / `[^`, where `]` is a literal.
    let mut class_start = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let e = chars[i + 1];
            i += 2;
            class_start = false;
            if e == 'Q' {
                let mut lit = String::new();
                while i < chars.len() {
                    if chars[i] == '\\' && i + 1 < chars.len() && chars[i + 1] == 'E' {
                        i += 2;
                        break;
                    }
                    lit.push(chars[i]);
                    i += 1;
                }
                for ch in lit.chars() {
                    if in_class {
                        out.push_str(&format!(r"\x{{{:X}}}", ch as u32));
                    } else {
                        out.push_str(&regex::escape(&ch.to_string()));
                    }
                }
                continue;
            }
            let class = match e {
                'd' => Some((ASCII_DIGIT, false)),
                'D' => Some((ASCII_DIGIT_NEG, true)),
                's' => Some((ASCII_SPACE, false)),
                'S' => Some((ASCII_SPACE_NEG, true)),
                'w' => Some((ASCII_WORD, false)),
                'W' => Some((ASCII_WORD_NEG, true)),
                _ => None,
            };
            match (class, in_class) {
                (Some((body, _)), true) => out.push_str(body),
                (Some((body, _)), false) => {
                    out.push('[');
                    out.push_str(body);
                    out.push(']');
                }
                (None, _) if e == 'b' && !in_class => out.push_str(r"(?-u:\b)"),
                (None, _) if e == 'B' && !in_class => out.push_str(r"(?-u:\B)"),
                (None, _) => {
                    out.push('\\');
                    out.push(e);
                }
            }
            continue;
        }
        if in_class {
            match c {
                ']' if !class_start => {
                    in_class = false;
                    out.push(']');
                }
                '[' if chars.get(i + 1) == Some(&':') => {
                    // A POSIX class `[:alpha:]`: copy through its closing `:]`.
                    let mut j = i + 2;
                    while j + 1 < chars.len() && !(chars[j] == ':' && chars[j + 1] == ']') {
                        j += 1;
                    }
                    let end = (j + 2).min(chars.len());
                    out.extend(&chars[i..end]);
                    i = end;
                    class_start = false;
                    continue;
                }
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                '-' if chars.get(i + 1) == Some(&'-') => out.push_str(r"\-"),
                _ => out.push(c),
            }
            class_start = false;
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                class_start = true;
                continue;
            }
            '{' => match repetition_end(&chars, i) {
                Some(end) if !out.is_empty() => {
                    out.extend(&chars[i..end]);
                    i = end;
                    continue;
                }
                _ => out.push_str(r"\{"),
            },
            '}' => out.push_str(r"\}"),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_classes_and_literals_behave_as_in_go() {
        let cases: &[(&str, &str, bool)] = &[
            (r"^\d+$", "123", true),
            (r"^\d+$", "١٢٣", false), // Arabic-Indic digits are not \d in Go
            (r"^\w+$", "héllo", false),
            (r"^[\w-]+$", "a-b_c", true),
            (r"^\s$", "\u{a0}", false),
            (r"^\Qa.b\E$", "a.b", true),
            (r"^\Qa.b\E$", "axb", false),
            (r"^a{$", "a{", true),
            (r"^a{2}$", "aa", true),
            (r"^{foo}$", "{foo}", true),
            (r"^[a[]+$", "a[a", true),
            (r"^[a&&b]+$", "a&b", true),
            (r"^[]a]+$", "]a", true),
            (r"^[^]a]+$", "bc", true),
            (r"^[[:alpha:]]+$", "abc", true),
            (r"\bfoo\b", "a foo b", true),
            (r"^[\D]+$", "ab", true),
            (r"^[\D]+$", "a1", false),
        ];
        for (p, s, want) in cases {
            let re = compile_go_regex(p).unwrap_or_else(|e| panic!("{p}: {e}"));
            assert_eq!(re.is_match(s), *want, "{p} on {s:?}");
        }
    }

    #[test]
    fn hostile_patterns_are_refused_not_run() {
        assert!(compile_go_regex("((a{100}){100}){100}").is_err());
        assert!(compile_go_regex("(?=a)").is_err());
        assert!(compile_go_regex(r"(a)\1").is_err());
    }
}
