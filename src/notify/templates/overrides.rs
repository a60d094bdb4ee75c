//! Per-file overrides of the built-in templates from `mail.templates_dir`.
//!
//! Same layout as the built-in set: `layout.html`, `macros.html`, `<lang>/<kind>.<txt|html>`.
//! A misspelt template name is an error rather than a silently ignored file; a language that is
//! not built in must provide every kind in both formats; directories that are not language tags
//! (the portal's pages) are left alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{Kind, TemplateError};

/// Template sources by name: (text, where it came from).
pub(super) type Sources = BTreeMap<String, (String, String)>;

/// Shared files at the top level.
const SHARED: [&str; 2] = ["layout.html", "macros.html"];
const EXTENSIONS: [&str; 2] = ["txt", "html"];

/// Reads `dir`: `layout.html`, `macros.html`, and `<lang>/<kind>.<txt|html>`. A misspelt
/// template name is an error rather than a silently ignored file; a language that is not built
/// in must provide every kind in both formats.
pub(super) fn read(dir: &Path, sources: &mut Sources) -> Result<(), TemplateError> {
    let fail = |path: &Path, message: String| TemplateError::Override {
        path: path.to_owned(),
        message,
    };
    let entries = list_dir(dir).map_err(|e| fail(dir, e.to_string()))?;
    for path in entries {
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if path.is_dir() {
            read_language_dir(&path, &file_name, sources)?;
        } else if SHARED.contains(&file_name.as_str()) {
            insert_file(&path, file_name, sources)?;
        } else if is_template_name(&file_name) {
            return Err(fail(
                &path,
                format!(
                    "unknown template; at the top level only {} are used",
                    SHARED.join(" and ")
                ),
            ));
        }
    }
    Ok(())
}

fn read_language_dir(dir: &Path, language: &str, sources: &mut Sources) -> Result<(), TemplateError> {
    let fail = |path: &Path, message: String| TemplateError::Override {
        path: path.to_owned(),
        message,
    };
    match language_dir_name(language) {
        DirName::Language => {}
        // Not ours (e.g. the portal's pages): leave it alone.
        DirName::Other => return Ok(()),
        DirName::NotLowercase => {
            return Err(fail(
                dir,
                "a language directory is named by a lowercase tag such as fr or pt-br".into(),
            ));
        }
    }
    let built_in = sources.keys().any(|k| k.starts_with(&format!("{language}/")));
    let entries = list_dir(dir).map_err(|e| fail(dir, e.to_string()))?;
    let mut found = BTreeSet::new();
    for path in entries {
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if !is_template_name(&file_name) || path.is_dir() {
            continue;
        }
        let known = Kind::ALL
            .iter()
            .any(|k| EXTENSIONS.iter().any(|ext| file_name == format!("{}.{ext}", k.name())));
        if !known {
            return Err(fail(
                &path,
                "unknown template; expected notice, reminder, changed or locked, each as .txt and .html".into(),
            ));
        }
        insert_file(&path, format!("{language}/{file_name}"), sources)?;
        found.insert(file_name);
    }
    if !built_in {
        let missing: Vec<String> = Kind::ALL
            .iter()
            .flat_map(|k| EXTENSIONS.iter().map(move |ext| format!("{}.{ext}", k.name())))
            .filter(|f| !found.contains(f))
            .collect();
        if !missing.is_empty() {
            return Err(fail(
                dir,
                format!(
                    "{language} is not built in, so every template is needed; missing: {}",
                    missing.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

enum DirName {
    Language,
    NotLowercase,
    Other,
}

/// `fr`, `pt-br`, `zh-hant`: a 2–3 letter primary subtag, then subtags of 1–8 letters or digits.
fn language_dir_name(name: &str) -> DirName {
    let lower = name.to_ascii_lowercase();
    let mut subtags = lower.split('-');
    let primary_ok = subtags
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_lowercase()));
    let rest_ok = subtags.all(|s| (1..=8).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()));
    match (primary_ok && rest_ok, lower == name) {
        (true, true) => DirName::Language,
        (true, false) => DirName::NotLowercase,
        (false, _) => DirName::Other,
    }
}

fn insert_file(path: &Path, name: String, sources: &mut Sources) -> Result<(), TemplateError> {
    let text = std::fs::read_to_string(path).map_err(|e| TemplateError::Override {
        path: path.to_owned(),
        message: format!("cannot read: {e}"),
    })?;
    sources.insert(name, (text, path.display().to_string()));
    Ok(())
}

fn list_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?;
    paths.sort();
    Ok(paths)
}

fn is_template_name(file_name: &str) -> bool {
    !file_name.starts_with('.') && EXTENSIONS.iter().any(|ext| file_name.ends_with(&format!(".{ext}")))
}
