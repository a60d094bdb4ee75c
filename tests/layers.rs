//! The layering in ARCHITECTURE.md holds: every top-level module imports only modules on the
//! layers below its own (`use crate::…` lines and inline `crate::…` paths; comments and
//! `#[cfg(test)]` code do not count). The table is read from ARCHITECTURE.md itself, so the
//! document and the code cannot drift apart silently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The layers, top first, from the fenced block after the `<!-- layers -->` marker.
fn layers() -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap();
    let after = doc
        .split("<!-- layers -->")
        .nth(1)
        .expect("ARCHITECTURE.md has a <!-- layers --> block");
    let block = after.split("```").nth(1).expect("a fenced block follows the marker");
    block
        .lines()
        .skip(1) // the fence's info string
        .map(|l| l.split('#').next().unwrap_or_default())
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The top-level modules declared in src/lib.rs.
fn declared_modules() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(Path::new(ROOT).join("src/lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("pub mod")
                .or_else(|| l.trim().strip_prefix("mod"))
        })
        .map(|m| m.trim().trim_end_matches(';').to_owned())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file as it is compiled outside tests, without comments.
fn production_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        let is_mod = |l: &&str| {
            let l = l.trim_start();
            l.starts_with("mod ") || l.starts_with("pub mod ") || l.starts_with("pub(crate) mod ")
        };
        if trimmed == "#[cfg(test)]" && lines.peek().is_some_and(is_mod) {
            // Skip the test module: a declaration of a file, or a braced block.
            let decl = lines.next().unwrap_or_default();
            let mut depth = decl.matches('{').count() as i64 - decl.matches('}').count() as i64;
            while depth > 0 {
                let Some(l) = lines.next() else { break };
                depth += l.matches('{').count() as i64 - l.matches('}').count() as i64;
            }
            continue;
        }
        let code = line.split("//").next().unwrap_or_default();
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The top-level modules a piece of code names through `crate::`.
fn imported(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // use crate::{a::X, b, c::{d, e}}: the first segment of each top-level item.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphabetic() || c == '_') => {
                        let name: String = group[i..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        found.insert(name);
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            found.insert(name);
        }
        rest = after;
    }
    found
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let layers = layers();
    let mut layer_of = BTreeMap::new();
    for (i, modules) in layers.iter().enumerate() {
        for m in modules {
            assert!(layer_of.insert(m.clone(), i).is_none(), "{m} is on two layers");
        }
    }
    let declared = declared_modules();
    let listed: BTreeSet<String> = layer_of.keys().cloned().collect();
    assert_eq!(
        declared, listed,
        "src/lib.rs and the layers in ARCHITECTURE.md name different modules"
    );

    let src = Path::new(ROOT).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let Some(own) = rel.components().next().and_then(|c| c.as_os_str().to_str()) else {
            continue;
        };
        let own = own.trim_end_matches(".rs");
        if rel.file_name().is_some_and(|n| n == "tests.rs") || own == "lib" || own == "main" {
            continue;
        }
        let code = production_code(&std::fs::read_to_string(&file).unwrap());
        for used in imported(&code) {
            if used == own || used == "self" {
                continue;
            }
            let (Some(&mine), Some(&theirs)) = (layer_of.get(own), layer_of.get(&used)) else {
                violations.push(format!("{}: {own} imports {used}, which no layer lists", rel.display()));
                continue;
            };
            // Layers are listed top first: a module may import only from higher indexes.
            if theirs <= mine {
                violations.push(format!(
                    "{}: {own} (layer {}) imports {used} (layer {})",
                    rel.display(),
                    layers.len() - mine,
                    layers.len() - theirs
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layering:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_import_reader_sees_every_form() {
    let code = "use crate::a::X;\nuse crate::{b::Y, c, d::{e, f}};\nlet x = crate::g::h();";
    let found: Vec<String> = imported(code).into_iter().collect();
    assert_eq!(found, ["a", "b", "c", "d", "g"]);
    let text = "use crate::a;\n// crate::b in a comment\n#[cfg(test)]\nmod tests {\n use crate::c;\n}\n\
                #[cfg(test)]\nmod more;\nfn f() { crate::d::g() }\n";
    let found: Vec<String> = imported(&production_code(text)).into_iter().collect();
    assert_eq!(found, ["a", "d"]);
}
