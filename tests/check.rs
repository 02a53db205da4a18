//! `check`, `inspect`, and one test per documented exit code.

use crate::common::{JobToml, Workdir, models};

const DATE: &str = "2026-11-23";
const ALL: [&str; 3] = ["mean radius", "mean texture", "z"];

fn setup(wd: &Workdir, columns: &[&str]) {
    wd.write("m.onnx", models::linear(&[1.0, 2.0, 3.0], 0.0));
    wd.write(&format!("in/{DATE}.csv"), "id,mean radius,mean texture,z\n1,1,2,3\n");
    wd.write("job.toml", JobToml::new("c").keep(&["id"]).columns(columns).build());
}

#[test]
fn check_prints_the_plan_and_writes_nothing() {
    let wd = Workdir::new();
    setup(&wd, &ALL);
    let out = wd.cmd(["check", "job.toml", "--date", DATE]).code(0);
    for needle in
        ["x (float32, 3 columns)", "\"mean radius\"", "columns   id: str, score: f32", "nothing was written"]
    {
        assert!(out.stdout.contains(needle), "{needle:?} not in:\n{}", out.stdout);
    }
    assert!(!wd.exists("out"));
}

#[test]
fn check_lists_every_missing_column_with_the_nearest_name() {
    let wd = Workdir::new();
    setup(&wd, &["mean radiu", "mean textur", "z"]);
    wd.cmd(["check", "job.toml", "--date", DATE]).code(65).stderr_has(&[
        &format!("{DATE}.csv"),
        "missing 2 columns",
        "\"mean radiu\" (nearest: \"mean radius\")",
        "\"mean textur\" (nearest: \"mean texture\")",
    ]);
}

#[test]
fn check_catches_a_feature_count_that_does_not_fit_the_model() {
    let wd = Workdir::new();
    setup(&wd, &["mean radius", "mean texture"]);
    wd.cmd(["check", "job.toml", "--date", DATE]).code(70).stderr_has(&[
        "model input \"x\"",
        "[N, 3]",
        "takes 3 columns",
        "maps 2 columns",
    ]);
}

#[test]
fn check_reports_several_problems_at_once() {
    let wd = Workdir::new();
    setup(&wd, &["mean radiu", "mean texture"]);
    wd.cmd(["check", "job.toml", "--date", DATE]).code(70).stderr_has(&[
        "2 problems found",
        "takes 3 columns",
        "missing 1 column",
    ]);
}

#[test]
fn a_wrong_delimiter_is_named() {
    let wd = Workdir::new();
    setup(&wd, &ALL);
    wd.write(&format!("in/{DATE}.csv"), "id;mean radius;mean texture;z\n1;1;2;3\n");
    wd.cmd(["check", "job.toml", "--date", DATE])
        .code(65)
        .stderr_has(&["whole header was read as one column", "delimiter ','"]);
}

#[test]
fn inspect_shows_inputs_outputs_and_ops() {
    let wd = Workdir::new();
    wd.write("m.onnx", models::with_string_input());
    let out = wd.cmd(["inspect", "m.onnx"]).code(0);
    for needle in ["num", "city", "string", "[N, 1]", "ai.onnx.ml:CategoryMapper", "ai.onnx 13", "sha256"] {
        assert!(out.stdout.contains(needle), "{needle:?} not in:\n{}", out.stdout);
    }
}

// One test per exit code a scheduler can act on.

#[test]
fn exit_64_for_a_bad_command_line() {
    Workdir::new().cmd(["run"]).code(64);
    Workdir::new().cmd(["run", "job.toml", "--date", "23/11/2026"]).code(64);
}

#[test]
fn exit_0_for_help_and_version() {
    let out = Workdir::new().cmd(["--help"]).code(0);
    assert!(out.stdout.contains("inspect"));
    Workdir::new().cmd(["--version"]).code(0);
}

#[test]
fn exit_65_for_bad_data() {
    let wd = Workdir::new();
    setup(&wd, &ALL);
    wd.write(&format!("in/{DATE}.csv"), "id,mean radius,mean texture,z\n1,1,2,3\n2,1,,3\n");
    wd.cmd(["run", "job.toml", "--date", DATE]).code(65).stderr_has(&[
        "row 2",
        "\"mean texture\"",
        "null",
        "missing value",
    ]);
}

#[test]
fn exit_66_when_the_input_is_missing() {
    let wd = Workdir::new();
    setup(&wd, &ALL);
    wd.cmd(["run", "job.toml", "--date", "2026-11-20"]).code(66).stderr_has(&[
        "no input for 2026-11-20",
        "in/2026-11-20.csv",
        "in/%Y-%m-%d.csv",
    ]);
}

#[test]
fn exit_70_when_the_model_is_missing_or_not_onnx() {
    let wd = Workdir::new();
    setup(&wd, &ALL);
    std::fs::remove_file(wd.path("m.onnx")).unwrap();
    wd.cmd(["run", "job.toml", "--date", DATE]).code(70).stderr_has(&["cannot read model", "m.onnx"]);
    wd.write("m.onnx", "this is not a protobuf at all, just some text that happens to be here");
    wd.cmd(["run", "job.toml", "--date", DATE]).code(70).stderr_has(&["not a valid ONNX file"]);
    let full = models::linear(&[1.0, 2.0, 3.0], 0.0);
    wd.write("m.onnx", &full[..full.len() / 2]);
    wd.cmd(["run", "job.toml", "--date", DATE]).code(70).stderr_has(&["m.onnx"]);
    assert!(!wd.exists(&format!("out/{DATE}.csv")));
}

#[test]
fn exit_73_when_the_output_cannot_be_created() {
    let wd = Workdir::new();
    setup(&wd, &ALL);
    // A regular file where the output directory should be: no permissions
    // trick needed, so this holds for root and on Windows too.
    wd.write("out", "a file, not a directory");
    wd.cmd(["run", "job.toml", "--date", DATE]).code(73).stderr_has(&["cannot create"]);
}

#[test]
fn exit_78_for_a_bad_job_file() {
    let wd = Workdir::new();
    wd.cmd(["run", "nope.toml"]).code(78).stderr_has(&["nope.toml"]);
    wd.write("bad.toml", "name = \"x\"\nmodel = 3\n");
    wd.cmd(["run", "bad.toml"]).code(78).stderr_has(&["bad.toml", "model"]);
}
