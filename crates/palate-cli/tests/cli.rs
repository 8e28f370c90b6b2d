//! The `palate` binary end to end: JSON shape and order, stdin input, and errors that name the file.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use palate_tests::minilm_dir as model_dir;

fn palate(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_palate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn rows_of(out: &Output) -> Vec<serde_json::Value> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn embed_json_keeps_order_and_shape() {
    let model = model_dir();
    let out = palate(&["embed", "--model", model.to_str().unwrap(), "--json", "Hello, world!", ""], None);
    let rows = rows_of(&out);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["text"], "Hello, world!");
    // Same ids as the reference tokenizer (tests/fixtures/minilm.json, text 1).
    assert_eq!(rows[0]["ids"], serde_json::json!([101, 7592, 1010, 2088, 999, 102]));
    assert_eq!(rows[1]["ids"], serde_json::json!([101, 102]));
    for row in &rows {
        let e: Vec<f64> = serde_json::from_value(row["embedding"].clone()).unwrap();
        assert_eq!(e.len(), 384);
        assert!((e.iter().map(|x| x * x).sum::<f64>().sqrt() - 1.0).abs() < 1e-4);
    }
}

#[test]
fn embed_reads_stdin_one_text_per_line() {
    let model = model_dir();
    let out = palate(&["embed", "--model", model.to_str().unwrap(), "--json"], Some("first line\nsecond line\n"));
    let rows = rows_of(&out);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["text"], "second line");
}

#[test]
fn errors_name_the_file_and_exit_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(model_dir().join("config.json"), dir.path().join("config.json")).unwrap();
    let out = palate(&["embed", "--model", dir.path().to_str().unwrap(), "x"], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: ") && stderr.contains("tokenizer.json: missing"), "{stderr}");

    let out = palate(&["embed", "--model", "m", "--backend", "tpu", "x"], None);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2 (clap)");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown backend \"tpu\""));
}

#[test]
fn score_prints_one_score_per_response_in_order() {
    let model = palate_tests::root().join("tests/fixtures/rm/qwen3");
    let chat: serde_json::Value =
        serde_json::from_slice(&std::fs::read(palate_tests::root().join("tests/fixtures/rm/chat.json")).unwrap()).unwrap();
    let rows: Vec<&serde_json::Value> =
        chat["rows"].as_array().unwrap().iter().filter(|r| r["prompt"] == "How do I boil an egg?").collect();
    let mut args = vec!["score", "--model", model.to_str().unwrap(), "--prompt", "How do I boil an egg?", "--json"];
    for r in &rows {
        args.extend(["--response", r["response"].as_str().unwrap()]);
    }
    let out = rows_of(&palate(&args, None));
    assert_eq!(out.len(), rows.len());
    for (got, want) in out.iter().zip(&rows) {
        assert_eq!(got["response"], want["response"]);
        let (g, w) = (got["score"].as_f64().unwrap(), want["score"].as_f64().unwrap());
        assert!((g - w).abs() < 1e-4 * w.abs().max(1e-2), "{g} vs {w}");
    }
    let out = palate(&["score", "--model", model.to_str().unwrap(), "--prompt", "x"], None);
    assert_eq!(out.status.code(), Some(2), "at least one --response is required");
    let out = palate(&["score", "--model", "/nonexistent", "--prompt", "x", "--response", "y"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/model.safetensors: missing"));
}

#[test]
fn convert_writes_a_bpk_that_scores_like_the_folder() {
    let model = palate_tests::root().join("tests/fixtures/rm/qwen3");
    let dir = tempfile::tempdir().unwrap();
    let bpk = dir.path().join("rm.f32.bpk");
    let out = palate(&["convert", "--model", model.to_str().unwrap(), "--quantize", "f32", "--out", bpk.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reward-model, f32"));
    let score = |m: &str| {
        rows_of(&palate(&["score", "--model", m, "--prompt", "Hi", "--response", "Hello!", "--response", "Go away.", "--json"], None))
            .iter()
            .map(|r| r["score"].as_f64().unwrap())
            .collect::<Vec<_>>()
    };
    let (folder, file) = (score(model.to_str().unwrap()), score(bpk.to_str().unwrap()));
    assert_eq!(folder.len(), 2);
    for (a, b) in folder.iter().zip(&file) {
        assert!((a - b).abs() < 1e-5 * a.abs().max(1.0), "{folder:?} vs {file:?}");
    }
    // Not a model folder, and an unknown precision.
    let out = palate(&["convert", "--model", "/nonexistent", "--out", bpk.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/config.json"));
    let out = palate(&["convert", "--model", "x", "--quantize", "q3", "--out", "y"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown precision \"q3\""));
}
