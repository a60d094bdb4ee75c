//! Files generated from the sources they describe, committed under `deploy/` so that a plain
//! `cargo deb` packages them with no extra step and normal builds stay fast (no build.rs over
//! the whole CLI):
//! - `deploy/man/pwresetd.8` and one page per subcommand (`pwresetd-campaign-start.8`…), from
//!   the clap definitions (`clap_mangen`);
//! - `deploy/man/pwresetd.toml.5`, from the comments of `deploy/pwresetd.toml` (the example
//!   configuration is the one source: the page cannot say something the file does not);
//! - `deploy/completions/` for bash, zsh and fish (`clap_complete`).
//!
//! Each test regenerates and compares, so a changed option or comment fails until the files
//! are regenerated: `PWRESETD_REGENERATE=1 cargo test --test generated`.
//! The starter configuration the Debian package installs is checked here too: it loads, and
//! uses only keys the example documents.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

#[path = "generated/toml_man.rs"]
mod toml_man;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

const REGENERATE: &str = "PWRESETD_REGENERATE";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The CLI as the pages describe it: the release without the commit (the pages would change
/// with every commit otherwise), no `help` pseudo-subcommand.
fn cli() -> clap::Command {
    let mut cmd = pwresetd::cli::Cli::command()
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// Every page: the command's, then its subcommands' (depth first), section 8. clap_mangen's
/// sections, then what the command line does not say: for `pwresetd(8)` the exit status, the
/// environment and the files; on every page, where to read on.
fn man_pages(cmd: &clap::Command, top: bool, out: &mut BTreeMap<String, Vec<u8>>) {
    let source = format!("pwresetd {}", env!("CARGO_PKG_VERSION"));
    let man = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .source(source)
        .manual("pwresetd manual");
    let mut page = Vec::new();
    man.render_title(&mut page).unwrap();
    man.render_name_section(&mut page).unwrap();
    man.render_synopsis_section(&mut page).unwrap();
    man.render_description_section(&mut page).unwrap();
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut page).unwrap();
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut page).unwrap();
    }
    if top {
        page.extend_from_slice(TOP_SECTIONS.as_bytes());
        page.extend_from_slice(exit_status().as_bytes());
    }
    page.extend_from_slice(see_also(top).as_bytes());
    if cmd.get_version().is_some() {
        man.render_version_section(&mut page).unwrap();
    }
    out.insert(man.get_filename(), page);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, false, out);
    }
}

/// ENVIRONMENT and FILES of `pwresetd(8)` (roff).
const TOP_SECTIONS: &str = r#".SH ENVIRONMENT
.TP
\fBPWRESETD_CONFIG\fR
The configuration file, when \fB\-\-config\fR is not given.
.TP
\fBPWRESETD_\fR\fISECTION\fR\fB__\fR\fIKEY\fR
Overrides one key of the configuration, e.g. \fBPWRESETD_DIRECTORY__MAX_CONCURRENCY=4\fR.
Never a password: those come from files or systemd credentials.
.TP
\fBPWRESETD_LOG\fR
The log filter (e.g. \fBinfo\fR, \fBpwresetd=debug\fR); wins over \fBdaemon.log_level\fR.
.TP
\fBCREDENTIALS_DIRECTORY\fR
Set by systemd (\fBLoadCredential=\fR): the files \fBbind\-password\fR, \fBsmtp\-password\fR and \fBdb\-password\fR are read from it.
.TP
\fBSTATE_DIRECTORY\fR
Set by systemd (\fBStateDirectory=\fR): the store defaults to \fIstate.db\fR in it.
.SH FILES
.TP
\fI/etc/pwresetd/pwresetd.toml\fR
The configuration, see \fBpwresetd.toml\fR(5).
.TP
\fI/etc/pwresetd/bind\-password\fR, \fI/etc/pwresetd/smtp\-password\fR
The service account's and the mail server's passwords, handed to the service as credentials.
.TP
\fI/var/lib/pwresetd/state.db\fR
The store: campaigns, accounts, mails, links, audit trail (SQLite).
.TP
\fI/usr/share/pwresetd/templates/\fR
Copies of the built\-in mail templates, to start overrides from (\fBmail.templates_dir\fR).
.TP
\fI/usr/share/doc/pwresetd/examples/\fR
The example configuration with every key; Prometheus alert rules and a Grafana dashboard.
"#;

/// EXIT STATUS of `pwresetd(8)`, with the codes the binary uses.
fn exit_status() -> String {
    use pwresetd::cli::{EX_CANTCREAT, EX_SOFTWARE, EX_TEMPFAIL, EX_UNAVAILABLE, EX_USAGE};
    let codes = [
        (0, "Success."),
        (
            1,
            "A negative answer: unknown login, accounts that could not be marked, password refused.",
        ),
        (EX_USAGE, "Invalid configuration or usage; the message names the key."),
        (
            EX_UNAVAILABLE,
            "The directory or the mail server is unavailable (unreachable, TLS, bind refused).",
        ),
        (EX_SOFTWARE, "Any other error."),
        (EX_CANTCREAT, "The store cannot be opened."),
        (EX_TEMPFAIL, "Another process is working on the campaign."),
    ];
    let mut out = String::from(".SH \"EXIT STATUS\"\n");
    for (code, text) in codes {
        out.push_str(&format!(".TP\n{code}\n{text}\n"));
    }
    out
}

/// SEE ALSO: the main page from the subcommands' pages, the rest from all.
fn see_also(top: bool) -> String {
    let main = if top { "" } else { "\\fBpwresetd\\fR(8), " };
    format!(
        ".SH \"SEE ALSO\"\n{main}\\fBpwresetd.toml\\fR(5), \\fBsystemctl\\fR(1), \\fBjournalctl\\fR(1), \
         /usr/share/doc/pwresetd/README.md\n"
    )
}

/// Compares `generated` with the files of `dir` that `ours` selects (a file there that is no
/// longer generated fails too), or rewrites them under `PWRESETD_REGENERATE=1`.
fn compare_or_write(dir: &Path, ours: impl Fn(&str) -> bool, generated: &BTreeMap<String, Vec<u8>>) {
    let committed: BTreeMap<String, Vec<u8>> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|name| ours(name))
                .map(|name| (name.clone(), std::fs::read(dir.join(&name)).unwrap()))
                .collect()
        })
        .unwrap_or_default();
    if std::env::var_os(REGENERATE).is_some() {
        std::fs::create_dir_all(dir).unwrap();
        for name in committed.keys().filter(|n| !generated.contains_key(*n)) {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        for (name, text) in generated {
            std::fs::write(dir.join(name), text).unwrap();
        }
        return;
    }
    let mut problems = Vec::new();
    for (name, text) in generated {
        match committed.get(name) {
            None => problems.push(format!("{name} is missing")),
            Some(old) if old != text => problems.push(format!("{name} differs")),
            Some(_) => {}
        }
    }
    for name in committed.keys().filter(|n| !generated.contains_key(*n)) {
        problems.push(format!("{name} is no longer generated"));
    }
    assert!(
        problems.is_empty(),
        "{}: {}\nRegenerate with `{REGENERATE}=1 cargo test --test generated` and commit the result.",
        dir.display(),
        problems.join(", ")
    );
}

#[test]
fn man_pages_match_the_command_line() {
    let mut pages = BTreeMap::new();
    man_pages(&cli(), true, &mut pages);
    // One page per command and subcommand, each naming the others it leads to.
    for name in [
        "pwresetd.8",
        "pwresetd-serve.8",
        "pwresetd-campaign.8",
        "pwresetd-campaign-start.8",
    ] {
        assert!(pages.contains_key(name), "{name} not generated: {:?}", pages.keys());
    }
    let top = String::from_utf8(pages["pwresetd.8"].clone()).unwrap();
    assert!(top.contains("pwresetd\\-campaign(8)"), "{top}");
    assert!(top.contains("PWRESETD_CONFIG"), "{top}");
    compare_or_write(&repo("deploy/man"), |n| n.ends_with(".8"), &pages);
}

#[test]
fn completions_match_the_command_line() {
    let mut files = BTreeMap::new();
    for (shell, name) in [
        (Shell::Bash, "pwresetd.bash"),
        (Shell::Zsh, "_pwresetd"),
        (Shell::Fish, "pwresetd.fish"),
    ] {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut cli(), "pwresetd", &mut text);
        files.insert(name.to_owned(), text);
    }
    let bash = String::from_utf8(files["pwresetd.bash"].clone()).unwrap();
    assert!(bash.contains("breach-index"), "{bash}");
    compare_or_write(&repo("deploy/completions"), |_| true, &files);
}

#[test]
fn config_man_page_matches_the_example_configuration() {
    let example = std::fs::read_to_string(repo("deploy/pwresetd.toml")).unwrap();
    let parsed = toml_man::parse(&example);
    // Every section and a few keys of each kind (set, commented out, in a group) are on the page.
    let names: Vec<&str> = parsed.sections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "directory",
            "store",
            "campaign",
            "portal",
            "daemon",
            "helpdesk",
            "mail",
            "policy"
        ]
    );
    let page = toml_man::render(&parsed, env!("CARGO_PKG_VERSION"));
    for needle in [
        ".SS [directory]",
        "\\fBflavor\\fR = \"openldap\"",
        "\\fBca_file\\fR = \"/etc/pwresetd/ca.pem\" (commented out)",
        ".TQ\n\\fBstarttls\\fR = true",
        "\\fBmin_character_classes\\fR = 3 (commented out)",
        "pwresetd configuration \\[u2014] every key",
    ] {
        assert!(page.contains(needle), "{needle:?} not in\n{page}");
    }
    let mut files = BTreeMap::new();
    files.insert("pwresetd.toml.5".to_owned(), page.into_bytes());
    compare_or_write(&repo("deploy/man"), |n| n.ends_with(".5"), &files);
}

/// The parser sees every key of the example: the keys it finds are the keys the file sets or
/// shows commented out, no more (a prose line is never taken for a key), no fewer.
#[test]
fn config_man_page_lists_every_key_of_the_example() {
    let example = std::fs::read_to_string(repo("deploy/pwresetd.toml")).unwrap();
    let parsed = toml_man::parse(&example);
    let from_parser: Vec<String> = parsed.keys().map(|(s, k)| format!("{s}.{k}")).collect();
    let mut by_lines = Vec::new();
    let mut section = String::new();
    for line in example.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        }
        let code = line.trim_start_matches("# ");
        let key = code.split_once(" = ").map_or("", |(k, _)| k);
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            by_lines.push(format!("{section}.{key}"));
        }
    }
    assert_eq!(from_parser, by_lines);
    assert!(from_parser.len() > 80, "{from_parser:?}");
}

/// `deploy/pwresetd-starter.toml`, the package's `/etc/pwresetd/pwresetd.toml`: it loads as
/// it is (with the two credentials the unit passes), and every key it sets is documented.
#[test]
fn starter_configuration_loads_and_uses_documented_keys() {
    let starter = repo("deploy/pwresetd-starter.toml");
    let credentials = tempfile::tempdir().unwrap();
    std::fs::write(credentials.path().join("bind-password"), "secret\n").unwrap();
    std::fs::write(credentials.path().join("smtp-password"), "secret\n").unwrap();
    let env = [(
        "CREDENTIALS_DIRECTORY".to_owned(),
        credentials.path().to_str().unwrap().to_owned(),
    )];
    let config = pwresetd::daemon::config::load_with_env(&starter, env);
    assert!(config.is_ok(), "{:?}", config.err());

    let documented: Vec<(String, String)> =
        toml_man::parse(&std::fs::read_to_string(repo("deploy/pwresetd.toml")).unwrap())
            .keys()
            .map(|(s, k)| (s.to_owned(), k.to_owned()))
            .collect();
    let starter = toml_man::parse(&std::fs::read_to_string(&starter).unwrap());
    let keys: Vec<(String, String)> = starter.keys().map(|(s, k)| (s.to_owned(), k.to_owned())).collect();
    assert!(keys.len() >= 8, "{keys:?}");
    for key in keys {
        assert!(documented.contains(&key), "{key:?} is not in deploy/pwresetd.toml");
    }
}
