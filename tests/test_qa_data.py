"""Question–answer pairs read from the installed chatterbot-corpus."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

_spec = importlib.util.spec_from_file_location("trivia_build", Path(__file__).parents[1] / "tasks" / "trivia" / "build.py")
_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_build)
load_chatterbot_trivia, pairs_from_conversations = _build.load_chatterbot_trivia, _build.pairs_from_conversations


def test_pairs_from_conversations_recovers_a_flattened_entry():
    conversations = [
        ["Who was the 37th President of the United States?", "Richard Nixon"],
        ["What year?", 1963],
        "In bingo, which number is \"two little ducks\"? - '22'",
        ["only a question"],
        None,
        ["  spaced   out ", "  'quoted'  "],
    ]
    assert pairs_from_conversations(conversations) == [
        {"question": "Who was the 37th President of the United States?", "answer": "Richard Nixon"},
        {"question": "What year?", "answer": "1963"},
        {"question": 'In bingo, which number is "two little ducks"?', "answer": "22"},
        {"question": "spaced out", "answer": "quoted"},
    ]
    assert pairs_from_conversations(None) == []


def test_installed_trivia_file_and_the_shipped_task_data_agree():
    rows = load_chatterbot_trivia()
    assert len(rows) == 261
    assert rows[0] == {"question": "Who was the 37th President of the United States?", "answer": "Richard Nixon"}
    assert {"question": 'In a game of bingo, which number is represented by the phrase "two little ducks"?', "answer": "22"} in rows
    assert all(r["question"] and r["answer"] for r in rows)
    assert len({r["question"] for r in rows}) == len(rows)
    shipped = Path(__file__).parents[1] / "tasks" / "trivia" / "trivia.jsonl"
    assert [json.loads(line) for line in shipped.read_text(encoding="utf-8").splitlines()] == rows, "rebuild: python tasks/trivia/build.py"
