//! The README is tested: a user copies its examples, so every job file the
//! Markdown shows must load, and every command line it shows must name a
//! subcommand and flags the binary has.
//!
//! A ```toml block whose first key is `name` is a whole job file and must
//! pass `Job::parse`. Any other ```toml block must be marked as a piece of
//! one by the line `<!-- toml: fragment -->` just above it, and must at
//! least be TOML; an unmarked one fails, so a job file cannot slip through
//! as a "fragment" unchecked.
//!
//! Commands: the README's "Command line" block defines the subcommands and
//! their flags; each `batchscore <subcommand> …` and
//! `cargo run --release -- <subcommand> …` in code (blocks and inline spans)
//! is checked against `<subcommand> --help`, and the `cargo run` lines are
//! run for real on a copy of `jobs/` and `data/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{Workdir, repo};

const FRAGMENT: &str = "<!-- toml: fragment -->";

struct Block {
    file: PathBuf,
    /// 1-based line of the opening fence.
    line: usize,
    lang: String,
    /// The last non-blank line before the fence.
    before: String,
    text: String,
}

fn blocks(file: &Path, markdown: &str) -> Vec<Block> {
    let mut out = vec![];
    let mut open: Option<Block> = None;
    let mut before = "";
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(lang)) => {
                open = Some(Block {
                    file: file.to_owned(),
                    line: i + 1,
                    lang: lang.trim().to_owned(),
                    before: before.trim().to_owned(),
                    text: String::new(),
                })
            }
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some(b), None) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, None) => {}
        }
        if !line.trim().is_empty() {
            before = line;
        }
    }
    assert!(open.is_none(), "{}: a code block is never closed", file.display());
    out
}

/// README.md and every other Markdown file of the repository.
fn markdown_files() -> Vec<PathBuf> {
    let mut out = vec![];
    let mut dirs = vec![repo().to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy();
            // Build output and tool caches are not documentation.
            if name.starts_with('.') || name == "target" {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if name.ends_with(".md") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn first_key(toml: &str) -> Option<&str> {
    toml.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.split('=').next())
        .map(str::trim)
}

/// Every ```toml block of `files`, checked by the rule above; the problems.
fn toml_problems(files: &[(PathBuf, String)]) -> (usize, Vec<String>) {
    let mut checked = 0;
    let mut problems = vec![];
    for (file, markdown) in files {
        for b in blocks(file, markdown).into_iter().filter(|b| b.lang == "toml") {
            checked += 1;
            let at = format!("{}:{}", b.file.strip_prefix(repo()).unwrap_or(&b.file).display(), b.line);
            if first_key(&b.text) == Some("name") {
                // Relative paths resolve against the job file's directory, which
                // parse only records; a file beside the Markdown is as good as any.
                let path = b.file.with_file_name("example.toml");
                if let Err(e) = batchscore::Job::parse(&path, &b.text) {
                    problems.push(format!("{at}: not a valid job file: {e:#}"));
                }
            } else if b.before == FRAGMENT {
                if let Err(e) = b.text.parse::<toml::Table>() {
                    problems.push(format!("{at}: not TOML: {e}"));
                }
            } else {
                problems.push(format!(
                    "{at}: a toml block that is not a job file (its first key is not `name`) \
                     needs the line {FRAGMENT} above it"
                ));
            }
        }
    }
    (checked, problems)
}

#[test]
fn every_toml_block_in_the_docs_is_a_job_file_or_a_marked_fragment() {
    let files: Vec<(PathBuf, String)> =
        markdown_files().into_iter().map(|f| (f.clone(), std::fs::read_to_string(&f).unwrap())).collect();
    assert!(files.iter().any(|(f, _)| f.ends_with("README.md")));
    let (checked, problems) = toml_problems(&files);
    assert!(checked >= 1, "the README's job file example is gone, or this test no longer finds it");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The rule holds both ways: a bad job file, an unmarked piece and a marked
/// piece that is not TOML are each reported; a marked piece is accepted.
#[test]
fn the_toml_rule_catches_what_it_should() {
    let md = "```toml\nname = \"x\"\nmodel = 3\n```\n\n```toml\n[storage]\n```\n\n\
              <!-- toml: fragment -->\n```toml\n[bad_rows]\npolicy = \"fill\"\n```\n\n\
              <!-- toml: fragment -->\n```toml\n[oops\n```\n";
    let (checked, problems) = toml_problems(&[(repo().join("X.md"), md.into())]);
    assert_eq!(checked, 4);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with("X.md:1: not a valid job file") && problems[0].contains("model"));
    assert!(problems[1].starts_with("X.md:6: a toml block") && problems[1].contains(FRAGMENT));
    assert!(problems[2].starts_with("X.md:17: not TOML"), "{problems:#?}");
}

/// The README's "Command line" block: the global flags, and each
/// subcommand's flags.
fn documented_flags(readme: &str) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
    let section = readme.split("\n## Command line\n").nth(1).expect("a Command line section");
    let block = &blocks(Path::new("README.md"), section)[0];
    let mut lines = block.text.lines();
    let global = flags(lines.next().unwrap());
    let mut commands = BTreeMap::new();
    for line in lines {
        // "  run JOB [--date …]": a subcommand; deeper lines describe it.
        let Some(usage) = line.strip_prefix("  ").filter(|u| u.starts_with(|c: char| c.is_ascii_lowercase()))
        else {
            continue;
        };
        let (name, rest) = usage.split_once(' ').unwrap_or((usage, ""));
        commands.insert(name.to_owned(), rest.to_owned());
    }
    let mut out = BTreeMap::new();
    for (name, rest) in &commands {
        let mut f = flags(rest);
        if let Some(other) = rest.split("[same options as ").nth(1) {
            let other = other.split(']').next().unwrap();
            // "Same options": the other's optional flags, not its required ones.
            let theirs = commands.get(other).unwrap_or_else(|| panic!("{name}: no subcommand {other}"));
            f.extend(optional_flags(theirs));
        }
        out.insert(name.clone(), f);
    }
    (global, out)
}

/// The flags in a usage string: `-vv` is `-v` given twice.
fn flags(usage: &str) -> Vec<String> {
    let mut out = vec![];
    for token in usage.split(|c: char| c.is_whitespace() || "[]|".contains(c)) {
        let flag = match token.strip_prefix('-') {
            Some(rest)
                if rest
                    .strip_prefix('-')
                    .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_alphabetic())) =>
            {
                token.to_owned()
            }
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_alphabetic()) => format!("-{}", &rest[..1]),
            _ => continue,
        };
        if !out.contains(&flag) {
            out.push(flag);
        }
    }
    out
}

fn optional_flags(usage: &str) -> Vec<String> {
    usage.split('[').skip(1).filter_map(|s| s.split(']').next()).flat_map(flags).collect()
}

/// `flag` as a word of `help`, not the start of a longer flag.
fn has_flag(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(i, _)| {
        let before = help[..i].chars().next_back();
        let after = help[i + flag.len()..].chars().next();
        before.is_none_or(|c| c.is_whitespace() || "[(,".contains(c))
            && after.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-'))
    })
}

/// The code of a Markdown text: fenced blocks and inline spans, line by line.
fn code_lines(markdown: &str) -> Vec<String> {
    let mut out = vec![];
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if fenced {
            out.push(line.to_owned());
        } else {
            out.extend(line.split('`').skip(1).step_by(2).map(str::to_owned));
        }
    }
    out
}

/// A command line the README shows: the arguments after `batchscore` or
/// `cargo run --release --`, up to a shell comment; and whether it was the
/// `cargo run` form, which the Quick start tells a user to run as is.
fn shown_commands(readme: &str) -> Vec<(Vec<String>, bool)> {
    let mut out = vec![];
    for line in code_lines(readme) {
        let line = line.split(" #").next().unwrap();
        for (prefix, cargo) in [("cargo run --release -- ", true), ("batchscore ", false)] {
            for (i, _) in line.match_indices(prefix) {
                // A path such as /opt/batchscore/bin/batchscore is the binary too;
                // batchscore_last_run… or batchscore-demo is not.
                if !cargo && line[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
                    continue;
                }
                let args: Vec<String> =
                    line[i + prefix.len()..].split_whitespace().map(str::to_owned).collect();
                // `batchscore [--log-format …] <command>` is the synopsis, not a use.
                if args.first().is_some_and(|a| a.starts_with(|c: char| c.is_ascii_lowercase())) {
                    out.push((args, cargo));
                }
            }
        }
    }
    out
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

fn help(args: &[&str]) -> String {
    Workdir::new().cmd(args.iter().chain(&["--help"])).code(0).stdout
}

/// Flags the "Command line" block shows that `--help` does not.
fn missing_flags(readme: &str) -> Vec<String> {
    let (global, commands) = documented_flags(readme);
    let mut missing = vec![];
    let top = help(&[]);
    missing.extend(global.iter().filter(|f| !has_flag(&top, f)).map(|f| format!("batchscore {f}")));
    for (name, flags) in &commands {
        let text = help(&[name]);
        missing
            .extend(flags.iter().filter(|f| !has_flag(&text, f)).map(|f| format!("batchscore {name} {f}")));
    }
    missing
}

/// Commands shown in code whose subcommand the "Command line" block does
/// not define, or whose flags `<subcommand> --help` lacks.
fn command_problems(readme: &str) -> Vec<String> {
    let (_, commands) = documented_flags(readme);
    let mut problems = vec![];
    for (args, _) in shown_commands(readme) {
        let name = args[0].as_str();
        let shown = args.join(" ");
        if !commands.contains_key(name) {
            problems.push(format!("`batchscore {shown}`: {name} is not in the Command line section"));
            continue;
        }
        let text = help(&[name]);
        for flag in args.iter().filter(|a| a.starts_with('-')).flat_map(|a| flags(a)) {
            if !has_flag(&text, &flag) {
                problems.push(format!("`batchscore {shown}`: {name} has no {flag}"));
            }
        }
    }
    problems
}

#[test]
fn every_flag_of_the_command_line_section_is_in_the_help() {
    let (global, commands) = documented_flags(&readme());
    assert!(global.contains(&"--log-format".to_owned()), "{global:?}");
    assert!(commands.len() >= 7, "{commands:?}");
    let missing = missing_flags(&readme());
    assert!(
        missing.is_empty(),
        "the README's Command line section shows flags the binary lacks:\n{missing:#?}"
    );
}

#[test]
fn every_command_the_readme_shows_is_documented_and_takes_its_flags() {
    let shown = shown_commands(&readme());
    let names: Vec<&str> = shown.iter().map(|(a, _)| a[0].as_str()).collect();
    // The Quick start's, Scheduling's and the error section's, at least.
    for expected in ["run", "check", "inspect", "catchup"] {
        assert!(names.contains(&expected), "no `batchscore {expected}` found in the README: {names:?}");
    }
    let problems = command_problems(&readme());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The Quick start's `cargo run` lines, run as they are on a copy of the
/// demo, leave the files its text names.
#[test]
fn the_quick_start_commands_run() {
    let text = readme();
    let wd = Workdir::new();
    for dir in ["jobs", "data"] {
        for file in walk(&repo().join(dir)) {
            let rel = file.strip_prefix(repo()).unwrap().to_string_lossy().replace('\\', "/");
            wd.copy(&rel, &rel);
        }
    }
    // The Quick start's own: other sections' (the object-storage demo)
    // need a server the Quick start does not promise.
    let quick = text.split("\n## Quick start\n").nth(1).unwrap().split("\n## ").next().unwrap();
    let runs: Vec<Vec<String>> =
        shown_commands(quick).into_iter().filter(|(_, c)| *c).map(|(a, _)| a).collect();
    assert!(runs.len() >= 2, "{runs:?}");
    for args in &runs {
        wd.cmd(args).code(0);
    }
    let named: Vec<String> = code_lines(quick).into_iter().filter(|c| c.starts_with("out/")).collect();
    assert!(named.len() >= 2, "{named:?}");
    for path in named {
        assert!(
            wd.exists(&path),
            "the Quick start says the demo writes {path}; it does not: {:?}",
            wd.files("out")
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A README that shows a flag or a subcommand the binary lacks fails.
#[test]
fn the_command_checks_catch_what_the_binary_lacks() {
    let readme = "\n## Command line\n\n```\nbatchscore [--log-format human|json] [-v|-vv] <command>\n\n  \
                  run JOB [--date D] [--frobnicate]\n        Score.\n  \
                  catchup JOB [--since D] [same options as backfill]\n  \
                  backfill JOB --from D --to D [--jobs N]\n```\n\n\
                  Run `batchscore run JOB --date D --dry-run`, `/usr/bin/batchscore catchup J --since D` \
                  or `batchscore frob`; batchscore_x `b`.\n";
    let (global, commands) = documented_flags(readme);
    assert_eq!(global, ["--log-format", "-v"]);
    assert_eq!(commands["run"], ["--date", "--frobnicate"]);
    assert_eq!(commands["catchup"], ["--since", "--jobs"], "same options: the other's optional ones");
    assert_eq!(missing_flags(readme), ["batchscore run --frobnicate"]);
    assert_eq!(
        command_problems(readme),
        [
            "`batchscore run JOB --date D --dry-run`: run has no --dry-run",
            "`batchscore frob`: frob is not in the Command line section"
        ]
    );
    assert!(!has_flag(&help(&["run"]), "--dat"), "a prefix of a flag is not the flag");
}
