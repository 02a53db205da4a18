//! `check`, `inspect`, and one test per documented exit code.

use crate::common::{JobToml, Workdir, models};

const DATE: &str = "2026-11-23";
const CSV: &str = "id,mean radius,mean texture,z\n1,1,2,3\n";
const ALL: [&str; 3] = ["mean radius", "mean texture", "z"];

fn setup(wd: &Workdir, columns: &[&str]) {
    wd.write("m.onnx", models::linear(&[1.0, 2.0, 3.0], 0.0));
    wd.write(&format!("in/{DATE}.csv"), CSV);
    wd.write("job.toml", JobToml::new("c").keep(&["id"]).columns(columns).build());
}

/// Tests that differ only in data, one case each: the columns the job maps,
/// the day's CSV if not `CSV`, the command, and the exit code and the stderr
/// it must give. A macro rather than a loop over a table, so that each case
/// stays a test of its own: named in the output, run alone with a filter,
/// failing without hiding the others.
macro_rules! refused {
    ($($name:ident {
        columns: $columns:expr,
        $(csv: $csv:expr,)?
        args: $args:expr,
        code: $code:literal,
        stderr: $needles:expr $(,)?
    })*) => {$(
        #[test]
        fn $name() {
            let wd = Workdir::new();
            setup(&wd, &$columns);
            $(wd.write(&format!("in/{DATE}.csv"), $csv);)?
            wd.cmd($args).code($code).stderr_has(&$needles);
        }
    )*};
}

refused! {
    check_lists_every_missing_column_with_the_nearest_name {
        columns: ["mean radiu", "mean textur", "z"],
        args: ["check", "job.toml", "--date", DATE],
        code: 65,
        stderr: [
            &format!("{DATE}.csv"),
            "missing 2 columns",
            "\"mean radiu\" (nearest: \"mean radius\")",
            "\"mean textur\" (nearest: \"mean texture\")",
        ],
    }
    check_catches_a_feature_count_that_does_not_fit_the_model {
        columns: ["mean radius", "mean texture"],
        args: ["check", "job.toml", "--date", DATE],
        code: 70,
        stderr: ["model input \"x\"", "[N, 3]", "takes 3 columns", "maps 2 columns"],
    }
    check_reports_several_problems_at_once {
        columns: ["mean radiu", "mean texture"],
        args: ["check", "job.toml", "--date", DATE],
        code: 70,
        stderr: ["2 problems found", "takes 3 columns", "missing 1 column"],
    }
    a_wrong_delimiter_is_named {
        columns: ALL,
        csv: "id;mean radius;mean texture;z\n1;1;2;3\n",
        args: ["check", "job.toml", "--date", DATE],
        code: 65,
        stderr: ["whole header was read as one column", "delimiter ','"],
    }
    exit_65_for_bad_data {
        columns: ALL,
        csv: "id,mean radius,mean texture,z\n1,1,2,3\n2,1,,3\n",
        args: ["run", "job.toml", "--date", DATE],
        code: 65,
        stderr: ["row 2", "\"mean texture\"", "null", "missing value"],
    }
    exit_66_when_the_input_is_missing {
        columns: ALL,
        args: ["run", "job.toml", "--date", "2026-11-20"],
        code: 66,
        stderr: ["no input for 2026-11-20", "in/2026-11-20.csv", "in/%Y-%m-%d.csv"],
    }
}

#[test]
fn check_prints_the_plan_and_writes_nothing() {
    let wd = Workdir::new();
    setup(&wd, &ALL);
    let out = wd.cmd(["check", "job.toml", "--date", DATE]).code(0);
    for needle in [
        "x (float32, 3 columns)",
        "\"mean radius\"",
        "columns   id: str, score: f32",
        &format!("{DATE}.csv (csv, "),
        &format!("{DATE}.csv (csv)\n"),
        "nothing was written",
    ] {
        assert!(out.stdout.contains(needle), "{needle:?} not in:\n{}", out.stdout);
    }
    assert!(!wd.exists("out"));
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

/// A ZipMap output is declared in the file as a sequence of maps; inspect
/// shows what batchscore writes from it instead of an ONNX type code.
#[test]
fn inspect_shows_a_zipmap_output_as_the_columns_it_becomes() {
    let wd = Workdir::new();
    wd.copy("tests/fixtures/zoo/skl_logreg_zipmap/model.onnx", "m.onnx");
    let out = wd.cmd(["inspect", "m.onnx"]).code(0);
    let row =
        out.stdout.lines().find(|l| l.trim_start().starts_with("output_probability")).unwrap_or_default();
    assert!(row.contains("float32") && row.contains("classes [0, 1]"), "{}", out.stdout);
    assert!(out.stdout.contains("a ZipMap in the file"), "{}", out.stdout);
    assert!(!out.stdout.contains("onnx type"), "{}", out.stdout);
}

// One test per exit code a scheduler can act on (65 and 66 are cases of
// `refused!` above).

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
    // The records elsewhere, writable: the 73 must come from the output itself.
    let job = JobToml::new("c").keep(&["id"]).columns(&ALL).toml("state_dir = \"state\"");
    wd.write("job.toml", job.build());
    wd.cmd(["run", "job.toml", "--date", DATE]).code(73).stderr_has(&["cannot create", "out"]);
    let rec = wd.record(&format!("state/c/{DATE}.json"));
    assert_eq!(rec["error"]["exit_code"], 73);
}

#[test]
fn exit_78_for_a_bad_job_file() {
    let wd = Workdir::new();
    wd.cmd(["run", "nope.toml"]).code(78).stderr_has(&["nope.toml"]);
    wd.write("bad.toml", "name = \"x\"\nmodel = 3\n");
    wd.cmd(["run", "bad.toml"]).code(78).stderr_has(&["bad.toml", "model"]);
}
