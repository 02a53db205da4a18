//! deploy/kubernetes/cronjob.yaml is valid Kubernetes, and agrees with the
//! job file it ships, with batchscore's exit codes and with its own pieces.
//!
//! Validation is offline and needs no Python: the resources' JSON schemas,
//! from Kubernetes 1.33's strict schemas (unknown fields are errors), are
//! vendored in tests/fixtures/kubernetes/ (README.md there says from where
//! and how to refresh them), and checked with the `jsonschema` crate.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::common::{Workdir, repo};

const MANIFEST: &str = "deploy/kubernetes/cronjob.yaml";
const SCHEMAS: &str = "tests/fixtures/kubernetes/v1.33.0-strict";
/// The job file the ConfigMap carries.
const JOB: &str = "jobs/demo-s3.toml";
/// Keys of jobs/demo-s3.toml the pod's copy leaves out, as the comment in
/// the ConfigMap explains: the README's local endpoint, and a textfile
/// for node_exporter.
const LEFT_OUT_IN_THE_POD: &[&str] = &["storage.endpoint", "metrics"];

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The manifest's documents as JSON values, in order.
fn documents() -> Vec<Value> {
    let text = read(MANIFEST);
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{MANIFEST}: {e}")))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn document<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "{MANIFEST}: expected one {kind}");
    found[0]
}

/// The vendored schema of a document's apiVersion and kind.
fn schema_for(doc: &Value) -> Value {
    let name = match (doc["apiVersion"].as_str(), doc["kind"].as_str()) {
        (Some("v1"), Some("ConfigMap")) => "configmap-v1",
        (Some("batch/v1"), Some("CronJob")) => "cronjob-batch-v1",
        (api, kind) => panic!(
            "{MANIFEST}: no schema vendored for {api:?} {kind:?}: add it with tools/vendor-k8s-schemas.py"
        ),
    };
    serde_json::from_str(&read(&format!("{SCHEMAS}/{name}.json"))).unwrap()
}

/// Every violation of `schema` by `doc`, one line each with its JSON pointer.
fn validate_with(schema: &Value, doc: &Value) -> Vec<String> {
    let validator = jsonschema::draft202012::new(schema).unwrap_or_else(|e| panic!("a vendored schema: {e}"));
    validator.iter_errors(doc).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

fn job_of(cron: &mut Value) -> &mut Value {
    &mut cron["spec"]["jobTemplate"]["spec"]
}

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let docs = documents();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap_or("?")).collect();
    assert_eq!(kinds, ["ConfigMap", "CronJob"], "{MANIFEST}: its documents");
    for doc in &docs {
        let errors = validate_with(&schema_for(doc), doc);
        assert!(
            errors.is_empty(),
            "{MANIFEST}: {} {}:\n{}",
            doc["kind"],
            doc["metadata"]["name"],
            errors.join("\n")
        );
    }

    // The schemas still catch what they are here for: a misspelled field
    // (strict schemas refuse unknown fields), a wrong type, a missing
    // required field, deep inside the CronJob.
    let cron = document(&docs, "CronJob");
    let schema = schema_for(cron);
    let broken = |edit: &dyn Fn(&mut Value), expected: &str| {
        let mut doc = cron.clone();
        edit(&mut doc);
        let errors = validate_with(&schema, &doc);
        assert!(errors.iter().any(|e| e.contains(expected)), "expected {expected:?} among {errors:#?}");
    };
    broken(
        &|d| {
            let spec = job_of(d).as_object_mut().unwrap();
            let v = spec.remove("backoffLimitPerIndex").unwrap();
            spec.insert("backoffLimitPerIndx".into(), v);
        },
        "/spec/jobTemplate/spec: Additional properties are not allowed ('backoffLimitPerIndx' was unexpected)",
    );
    broken(
        &|d| job_of(d)["completions"] = json!("4"),
        "/spec/jobTemplate/spec/completions: \"4\" is not of type",
    );
    broken(
        &|d| job_of(d)["template"]["spec"]["containers"][0]["env"][0]["valeu"] = json!("4"),
        "/env/0: Additional properties are not allowed ('valeu' was unexpected)",
    );
    broken(
        &|d| {
            job_of(d)["template"]["spec"].as_object_mut().unwrap().remove("containers");
        },
        "/spec/jobTemplate/spec/template/spec: \"containers\" is a required property",
    );
    broken(&|d| d["kind"] = json!("Cronjob"), "/kind: \"Cronjob\" is not one of");
}

/// `toml`'s value at a dotted path.
fn lookup<'a>(table: &'a toml::Table, dotted: &str) -> Option<&'a toml::Value> {
    let (first, rest) = dotted.split_once('.').map_or((dotted, None), |(a, b)| (a, Some(b)));
    match rest {
        None => table.get(first),
        Some(rest) => lookup(table.get(first)?.as_table()?, rest),
    }
}

fn remove(table: &mut toml::Table, dotted: &str) {
    match dotted.split_once('.') {
        None => {
            table.remove(dotted);
        }
        Some((first, rest)) => {
            if let Some(t) = table.get_mut(first).and_then(toml::Value::as_table_mut) {
                remove(t, rest);
            }
        }
    }
}

/// The exit codes of the README's table, but 0.
fn documented_exit_codes() -> BTreeSet<i64> {
    let readme = read("README.md");
    let section = readme.split("\n## Exit codes\n").nth(1).expect("README: no \"## Exit codes\"");
    let section = section.split("\n#").next().unwrap();
    let codes: BTreeSet<i64> = section
        .lines()
        .filter_map(|l| l.strip_prefix('|')?.split('|').next())
        .flat_map(|cell| cell.split('/').map(str::trim).filter_map(|c| c.parse().ok()).collect::<Vec<i64>>())
        .filter(|c| *c != 0)
        .collect();
    assert!(codes.len() >= 10, "README's exit-code table: {codes:?}");
    codes
}

#[test]
fn the_cronjob_agrees_with_the_job_file() {
    let docs = documents();
    let config_map = document(&docs, "ConfigMap");
    let cron = document(&docs, "CronJob");
    let job_spec = &cron["spec"]["jobTemplate"]["spec"];
    let pod = &job_spec["template"]["spec"];
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let env = |name: &str| -> Option<&Value> {
        container["env"].as_array()?.iter().find(|e| e["name"] == name).map(|e| &e["value"])
    };

    // The ConfigMap's job file is jobs/demo-s3.toml, but for what a pod
    // needs otherwise (compared as TOML: comments and order may differ).
    let job_text = config_map["data"]["job.toml"].as_str().expect("the ConfigMap's job.toml");
    let shipped: toml::Table = toml::from_str(&read(JOB)).unwrap();
    let in_pod: toml::Table = toml::from_str(job_text).expect("the ConfigMap's job.toml is not TOML");
    let mut want = shipped.clone();
    let mut got = in_pod.clone();
    for key in LEFT_OUT_IN_THE_POD {
        assert!(lookup(&in_pod, key).is_none(), "the pod's job file must not set {key}");
        remove(&mut want, key);
    }
    // catchup needs a schedule; jobs/demo-s3.toml has none (yet).
    match shipped.get("schedule") {
        Some(s) => assert_eq!(in_pod.get("schedule"), Some(s), "schedule vs {JOB}"),
        None => assert!(got.remove("schedule").is_some(), "the pod's job file needs a schedule for catchup"),
    }
    remove(&mut got, "schedule");
    remove(&mut want, "schedule");
    assert_eq!(got, want, "the ConfigMap's job.toml vs {JOB} (less {LEFT_OUT_IN_THE_POD:?})");

    // The schedule and zone as the binary reads them (as tests/deploy.rs does).
    let wd = Workdir::new();
    let path = wd.write("job.toml", job_text);
    let out = wd.cmd(["next", path.to_str().unwrap(), "-n", "1"]).code(0);
    let first = out.stdout.lines().next().unwrap();
    let expr = first.split('"').nth(1).unwrap();
    let zone = first.split("\" in ").nth(1).unwrap().split(" (").next().unwrap();
    assert_eq!(cron["spec"]["schedule"], expr, "the CronJob's schedule vs the job's");
    assert_eq!(cron["spec"]["timeZone"], zone, "the CronJob's timeZone vs the job's timezone");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");

    // One pod per shard, and each knows how many there are.
    assert_eq!(job_spec["completionMode"], "Indexed");
    let completions = job_spec["completions"].as_i64().unwrap();
    assert_eq!(job_spec["parallelism"].as_i64(), Some(completions), "parallelism vs completions");
    let shards = env("BATCHSCORE_SHARDS").and_then(Value::as_str).expect("env BATCHSCORE_SHARDS");
    assert_eq!(shards.parse::<i64>().ok(), Some(completions), "BATCHSCORE_SHARDS vs completions");
    assert_eq!(pod["restartPolicy"], "Never", "podFailurePolicy needs restartPolicy: Never");

    // The command: catchup (as the other schedulers) of the mounted job
    // file, with as many threads as the CPU asked for.
    let args: Vec<&str> = container["args"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(args[0], "catchup", "{args:?}");
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            let volume = pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == m["name"]);
            volume.is_some_and(|v| v["configMap"]["name"] == config_map["metadata"]["name"])
        })
        .expect("the ConfigMap mounted");
    assert_eq!(args[1], format!("{}/job.toml", mount["mountPath"].as_str().unwrap()), "the job file's path");
    let threads = args.iter().position(|a| *a == "--threads").map(|i| args[i + 1]).expect("--threads");
    let resources = &container["resources"];
    assert_eq!(resources["requests"]["cpu"], threads, "--threads vs the CPU request");
    assert_eq!(resources["limits"]["cpu"], threads, "--threads vs the CPU limit");
    assert_eq!(
        env("POLARS_MAX_THREADS").and_then(Value::as_str),
        Some(threads),
        "POLARS_MAX_THREADS vs --threads"
    );

    // Exit codes: every code of the README's table that a pod can exit
    // with is decided by exactly one rule; the final ones fail the shard,
    // the transient ones are retried.
    let rules = job_spec["podFailurePolicy"]["rules"].as_array().unwrap();
    assert_eq!(rules[0]["action"], "Ignore", "a disruption is looked at first, whatever the exit code");
    assert_eq!(rules[0]["onPodConditions"][0]["type"], "DisruptionTarget");
    let mut by_action: std::collections::BTreeMap<&str, BTreeSet<i64>> = Default::default();
    for rule in rules {
        let action = rule["action"].as_str().unwrap();
        assert!(["FailJob", "FailIndex", "Ignore", "Count"].contains(&action), "unknown action {action}");
        let Some(codes) = rule.get("onExitCodes") else { continue };
        assert_eq!(codes["containerName"], container["name"], "{rule}");
        assert_eq!(codes["operator"], "In", "{rule}");
        for c in codes["values"].as_array().unwrap() {
            let c = c.as_i64().unwrap();
            let seen = by_action.values().any(|s| s.contains(&c));
            assert!(!seen, "exit code {c} is in two rules (only the first would count)");
            by_action.entry(action).or_default().insert(c);
        }
    }
    let codes = |s: &[i64]| s.iter().copied().collect::<BTreeSet<i64>>();
    assert_eq!(by_action.get("FailIndex"), Some(&codes(&[64, 65, 66, 70, 71, 73, 78])), "fail the shard");
    assert_eq!(by_action.get("Count"), Some(&codes(&[74, 75])), "retry the shard");
    let decided: BTreeSet<i64> = by_action.values().flatten().copied().collect();
    // 130 (SIGINT) never reaches a pod; 143 (SIGTERM) is a disruption, a
    // deadline or a deleted pod, counted by default.
    let documented: BTreeSet<i64> =
        documented_exit_codes().into_iter().filter(|c| ![130, 143].contains(c)).collect();
    assert_eq!(decided, documented, "the podFailurePolicy's exit codes vs README's table");
}

/// What the Job controller does with a pod that ended with `code`, by the
/// manifest's podFailurePolicy: the first rule whose exit codes match, or
/// Count (the default) when none does.
fn action(rules: &[Value], code: i32) -> String {
    rules
        .iter()
        .find(|r| {
            r["onExitCodes"]["values"]
                .as_array()
                .is_some_and(|v| v.iter().any(|c| c.as_i64() == Some(code.into())))
        })
        .map_or("Count".into(), |r| r["action"].as_str().unwrap().to_owned())
}

/// How the Indexed Job ended: per index, the exit code of each attempt.
type Attempts = Vec<Vec<i32>>;

/// Runs the CronJob's Job as the Job controller would, against the local S3
/// server: `completions` pods at once (parallelism = completions), each with
/// the container's args and env and its `JOB_COMPLETION_INDEX`; a failed
/// pod's index is failed or retried (up to backoffLimitPerIndex) by the
/// podFailurePolicy. `between` runs after each attempt of each index.
fn run_indexed_job(
    wd: &Workdir,
    s3: &crate::common::s3server::S3Server,
    now: &str,
    between: &dyn Fn(usize, i32),
) -> (Attempts, String) {
    let docs = documents();
    let cron = document(&docs, "CronJob");
    let config_map = document(&docs, "ConfigMap");
    let spec = &cron["spec"]["jobTemplate"]["spec"];
    let container = &spec["template"]["spec"]["containers"][0];
    let completions = spec["completions"].as_u64().unwrap() as usize;
    let backoff = spec["backoffLimitPerIndex"].as_u64().unwrap() as usize;
    let rules = spec["podFailurePolicy"]["rules"].as_array().unwrap().clone();
    // The ConfigMap mounted where the pod finds it: its path under the work directory.
    let mount = container["volumeMounts"][0]["mountPath"].as_str().unwrap();
    wd.write(
        &format!("{}/job.toml", mount.trim_start_matches('/')),
        config_map["data"]["job.toml"].as_str().unwrap(),
    );
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_str().unwrap().replace(mount, &wd.path(mount.trim_start_matches('/')).to_string_lossy())
        })
        .collect();
    let env: Vec<(String, String)> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?.to_owned(), e["value"].as_str()?.to_owned())))
        .chain(s3.env().into_iter().map(|(k, v)| (k.to_owned(), v))) // the Secret's keys
        .chain([("BATCHSCORE_NOW".to_owned(), now.to_owned())])
        .collect();
    let pod = |index: usize| {
        let mut c = wd.cmd(&args);
        for (k, v) in &env {
            c = c.env(k, v);
        }
        c.env("JOB_COMPLETION_INDEX", &index.to_string()).spawn()
    };
    let mut attempts: Attempts = vec![vec![]; completions];
    let mut logs = String::new();
    let mut running: Vec<usize> = (0..completions).collect();
    while !running.is_empty() {
        let pods: Vec<_> = running.iter().map(|&i| (i, pod(i))).collect();
        running.clear();
        for (i, p) in pods {
            let out = p.wait_with_output().unwrap();
            let code = out.status.code().unwrap_or(-1);
            logs.push_str(&String::from_utf8_lossy(&out.stderr));
            attempts[i].push(code);
            between(i, code);
            let failures = attempts[i].iter().filter(|c| **c != 0).count();
            if code != 0 && action(&rules, code) == "Count" && failures <= backoff {
                running.push(i);
            }
        }
    }
    (attempts, logs)
}

#[test]
fn the_indexed_job_scores_the_day_as_kubernetes_runs_it() {
    use crate::common::s3server::S3Server;
    let s3 = S3Server::start();
    s3.with_demo();
    let wd = Workdir::new();
    // Shard 2's lock is held when the Job starts (a pod killed a minute ago,
    // its lease not run out yet): that pod exits 75 and is retried, counted.
    let lock = "demo/_batchscore/demo-s3/2026-11-23.shards/part-00002-of-00004.lock";
    let until = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
    s3.put(
        "demo-scores",
        lock,
        format!(r#"{{"host":"node-7","pid":1,"started_at":"2026-11-24T02:30:00Z","expires_at":"{until}"}}"#),
    );
    let released = |i: usize, code: i32| {
        if i == 2 && code == 75 {
            std::fs::remove_file(s3.path("demo-scores", lock)).unwrap();
        }
    };
    // The night of the 24th (02:30 London) scores the 23rd.
    let (attempts, logs) = run_indexed_job(&wd, &s3, "2026-11-24T02:30:05Z", &released);
    assert_eq!(attempts, [vec![0], vec![0], vec![75, 0], vec![0]], "{logs}");
    assert_eq!(logs.matches("date committed").count(), 1, "{logs}");
    let manifest: Value =
        serde_json::from_slice(&s3.get("demo-scores", "demo/scores-2026-11-23/_SUCCESS").unwrap()).unwrap();
    assert_eq!(manifest["shards"], 4);
    assert_eq!(manifest["rows"]["read"], 1000);
    assert_eq!(
        manifest["rows"]["scored"],
        manifest["parts"].as_array().unwrap().iter().map(|p| p["rows"].as_u64().unwrap()).sum::<u64>()
    );

    // The next night's input has not landed: every pod exits 66, which the
    // policy fails at once (no retries), and the date stays open for the
    // next catchup.
    let (attempts, _) = run_indexed_job(&wd, &s3, "2026-11-25T02:30:05Z", &|_, _| {});
    assert_eq!(attempts, vec![vec![66]; 4]);
    assert!(s3.get("demo-scores", "demo/scores-2026-11-24/_SUCCESS").is_none());
    // It lands; the following night's Job scores both open dates.
    s3.put(
        "demo-exports",
        "2026-11-24.csv",
        std::fs::read(repo().join("data/input/2026-11-22.csv")).unwrap(),
    );
    s3.put(
        "demo-exports",
        "2026-11-25.csv",
        std::fs::read(repo().join("data/input/2026-11-23.csv")).unwrap(),
    );
    let (attempts, logs) = run_indexed_job(&wd, &s3, "2026-11-26T02:30:05Z", &|_, _| {});
    assert_eq!(attempts, vec![vec![0]; 4], "{logs}");
    assert_eq!(logs.matches("date committed").count(), 2, "{logs}");
    for d in ["2026-11-24", "2026-11-25"] {
        assert!(s3.get("demo-scores", &format!("demo/scores-{d}/_SUCCESS")).is_some(), "{d}");
    }
}
