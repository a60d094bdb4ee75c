//! `pwresetd.toml(5)` from the commented example configuration (`deploy/pwresetd.toml`).
//!
//! The example is written as blocks: a comment, then the key or keys it explains (set, or
//! shown commented out as `# key = value`). A comment directly above a `[section]` line
//! introduces that section; a comment followed by an empty line is a paragraph of its own (the
//! file's header is the page's DESCRIPTION). The page says the same words in the same order: it
//! adds no documentation of its own beyond NAME, FILES and SEE ALSO.

/// The example file, as blocks.
#[derive(Debug, Default)]
pub struct Example {
    /// The header's paragraphs (comment lines before the first section).
    pub description: Vec<Vec<String>>,
    pub sections: Vec<Section>,
}

#[derive(Debug)]
pub struct Section {
    pub name: String,
    /// The comment right above the `[name]` line.
    pub intro: Vec<String>,
    pub items: Vec<Item>,
}

#[derive(Debug)]
pub enum Item {
    /// A comment that explains no key.
    Text(Vec<String>),
    /// A comment and the keys right below it.
    Keys { prose: Vec<String>, keys: Vec<Key> },
}

#[derive(Debug)]
pub struct Key {
    pub name: String,
    pub value: String,
    /// Shown as `# name = value` in the example: not set there.
    pub commented: bool,
}

impl Example {
    /// (section, key) for every key, set or commented out, in file order.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &str)> {
        self.sections.iter().flat_map(|s| {
            s.items.iter().flat_map(move |item| match item {
                Item::Keys { keys, .. } => keys.iter().map(|k| (s.name.as_str(), k.name.as_str())).collect(),
                Item::Text(_) => Vec::new(),
            })
        })
    }

    fn flush(&mut self, prose: &mut Vec<String>, keys: &mut Vec<Key>) {
        let (prose, keys) = (std::mem::take(prose), std::mem::take(keys));
        match (self.sections.last_mut(), keys.is_empty()) {
            (_, true) if prose.is_empty() => {}
            (None, true) => self.description.extend(paragraphs(prose)),
            (None, false) => panic!("keys before the first [section]: {:?}", keys[0].name),
            (Some(section), true) => section.items.push(Item::Text(prose)),
            (Some(section), false) => section.items.push(Item::Keys { prose, keys }),
        }
    }
}

/// Splits comment lines at the empty ones (`#` alone).
fn paragraphs(lines: Vec<String>) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new()];
    for line in lines {
        if line.is_empty() {
            out.push(Vec::new());
        } else if let Some(last) = out.last_mut() {
            last.push(line);
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// `name = value` with a lowercase key name.
fn key_line(code: &str, commented: bool) -> Option<Key> {
    let (name, value) = code.split_once(" = ")?;
    let is_key = !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    is_key.then(|| Key {
        name: name.to_owned(),
        value: value.trim().to_owned(),
        commented,
    })
}

pub fn parse(text: &str) -> Example {
    let mut example = Example::default();
    let mut prose: Vec<String> = Vec::new();
    let mut keys: Vec<Key> = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() {
            example.flush(&mut prose, &mut keys);
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            // Pending keys take the comment above them; otherwise it introduces the section.
            if !keys.is_empty() {
                example.flush(&mut prose, &mut keys);
            }
            example.sections.push(Section {
                name: name.to_owned(),
                intro: std::mem::take(&mut prose),
                items: Vec::new(),
            });
        } else if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.strip_prefix(' ').unwrap_or(comment);
            if let Some(key) = key_line(comment, true) {
                keys.push(key);
            } else {
                if !keys.is_empty() {
                    example.flush(&mut prose, &mut keys);
                }
                prose.push(comment.to_owned());
            }
        } else if let Some(key) = key_line(line, false) {
            keys.push(key);
        } else {
            panic!("not a comment, a section or `key = value`: {line:?}");
        }
    }
    example.flush(&mut prose, &mut keys);
    example
}

/// roff text: backslashes and minus signs escaped (so that `--config` copies as typed),
/// `code` in bold, anything beyond ASCII as a groff `\[uXXXX]` escape (no input encoding
/// to guess), and a leading `.` or `'` made harmless.
fn escape(text: &str) -> String {
    let mut out = String::new();
    let mut bold = false;
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            '`' => {
                out.push_str(if bold { "\\fR" } else { "\\fB" });
                bold = !bold;
            }
            c if c.is_ascii() => out.push(c),
            c => out.push_str(&format!("\\[u{:04X}]", c as u32)),
        }
    }
    if bold {
        out.push_str("\\fR");
    }
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

fn lines(out: &mut String, text: &[String]) {
    for line in text {
        out.push_str(&escape(line));
        out.push('\n');
    }
}

fn key_tag(key: &Key) -> String {
    let mut tag = format!("\\fB{}\\fR = {}", escape(&key.name), escape(&key.value));
    if key.commented {
        tag.push_str(" (commented out)");
    }
    tag
}

const EXAMPLE: &str = "/usr/share/doc/pwresetd/examples/pwresetd.toml";

pub fn render(example: &Example, version: &str) -> String {
    let mut out = format!(".TH pwresetd.toml 5 \"\" \"pwresetd {version}\" \"pwresetd manual\"\n");
    // No hyphenation: the page is full of paths and key names that must read as written.
    out.push_str(".nh\n");
    out.push_str(".SH NAME\npwresetd.toml \\- configuration of pwresetd\n");
    out.push_str(".SH SYNOPSIS\n\\fI/etc/pwresetd/pwresetd.toml\\fR\n.SH DESCRIPTION\n");
    for paragraph in &example.description {
        lines(&mut out, paragraph);
        out.push_str(".PP\n");
    }
    out.push_str(&format!(
        "This page is made from the example configuration, {}, and says what its comments say, \
         section by section. A key marked (commented out) is not set in the example.\n",
        escape(EXAMPLE)
    ));
    out.push_str(".SH SECTIONS AND KEYS\n");
    for section in &example.sections {
        out.push_str(&format!(".SS [{}]\n", escape(&section.name)));
        if !section.intro.is_empty() {
            lines(&mut out, &section.intro);
        }
        for item in &section.items {
            match item {
                Item::Text(text) => {
                    out.push_str(".PP\n");
                    lines(&mut out, text);
                }
                Item::Keys { prose, keys } => {
                    for (i, key) in keys.iter().enumerate() {
                        out.push_str(if i == 0 { ".TP\n" } else { ".TQ\n" });
                        out.push_str(&key_tag(key));
                        out.push('\n');
                    }
                    lines(&mut out, prose);
                }
            }
        }
    }
    out.push_str(".SH FILES\n.TP\n\\fI/etc/pwresetd/pwresetd.toml\\fR\n");
    out.push_str(
        "The configuration every command reads, unless \\fB\\-\\-config\\fR or \\fBPWRESETD_CONFIG\\fR \
         names another.\n",
    );
    out.push_str(&format!(
        ".TP\n\\fI{}\\fR\nThe example, every key with its comment.\n",
        escape(EXAMPLE)
    ));
    out.push_str(".SH SEE ALSO\n\\fBpwresetd\\fR(8), \\fBsystemd.exec\\fR(5) (credentials)\n");
    out
}
