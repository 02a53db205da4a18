//! The integration tests: one test binary, one module per area, so polars
//! and tract are linked once rather than once per file. Cargo.toml turns
//! off cargo's one-binary-per-file discovery (`autotests = false`); the
//! last test here catches a file in tests/ that no `mod` line compiles.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap should fail loudly

mod common;

mod bad_rows;
mod check;
mod deploy;
mod errors;
mod kubernetes;
mod memory;
mod monitor;
mod props;
mod readme;
mod run;
mod s3;
mod schedule;
mod shard;
mod text;
mod zoo;

#[test]
fn every_test_file_is_a_module() {
    let main = include_str!("main.rs");
    for entry in std::fs::read_dir(common::repo().join("tests")).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let module = match name.strip_suffix(".rs") {
            Some("main") => continue,
            Some(m) => m,
            None if path.is_dir() && path.join("mod.rs").is_file() => name,
            None => continue,
        };
        assert!(
            main.lines().any(|l| l == format!("mod {module};")),
            "tests/{name} is not compiled: add `mod {module};` to tests/main.rs"
        );
    }
}
