"""benchmarks/bench_llm.py: exits 2 with the install line without TRL, its character tokenizer
is monarl's, and (where TRL is installed) a minimal run writes its JSON record."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_llm.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_llm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_without_trl_exits_2_with_the_install_line():
    code = ("import runpy, sys; sys.modules['trl'] = None; sys.argv = ['bench_llm.py', "
            f"'--quick']; runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert "pip install -e '.[bench]'" in done.stdout
    assert len(done.stdout.strip().splitlines()) == 1


def test_char_tokenizer_is_monarls():
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    from monarl.algos.llm.char_tokenizer import CharTokenizer

    tokenizer = _bench().char_tokenizer()
    chat = [{"role": "user", "content": "Summarize: income high,\ndebt low."}]
    ids = CharTokenizer().chat_ids(chat)
    text = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == CharTokenizer().decode(ids)
    assert tokenizer.eos_token_id == CharTokenizer.eot_id


def test_minimal_run_writes_its_record(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("trl")
    out = tmp_path / "bench.jsonl"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--prompts", "2", "--group", "2", "--max-new-tokens",
         "4", "--steps", "1", "--warmup", "0", "--rounds", "1", "--threads", "1",
         "--json", str(out)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(out.read_text().splitlines()[-1])
    for side in ("monarl", "trl"):
        assert record[side]["steps"] == 1
        assert 0 < record[side]["generated_tokens"] <= 2 * 2 * 4
        assert record[side]["trained_tokens"] == record[side]["generated_tokens"]
    assert record["trl"]["logged_generated_tokens"] == record["trl"]["generated_tokens"]
    assert record["ratio"]["update_tokens_per_second"] > 0
