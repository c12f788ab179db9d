"""Start in a blink: the CLI's light commands import no model or statistics library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "sentence_transformers", "scipy", "sklearn", "datasets", "evaluate", "onnxruntime", "codecarbon")

PROBE = """
import json, sys
sys.argv = ["advisor", *{args!r}]
from advisor import cli
try:
    cli.main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def _heavy_after(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE.format(args=list(args), heavy=HEAVY)], capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_cli_loads_nothing_heavy():
    out = subprocess.run(
        [sys.executable, "-c", f"import sys, advisor.cli; print([m for m in {HEAVY!r} if m in sys.modules])"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [["--help"], ["ls", "tasks"], ["ls", "models"], ["validate"], ["validate", "--task", "spam"]])
def test_light_commands_load_nothing_heavy(args):
    got = _heavy_after(*args)
    assert got["code"] in (0, None), got
    assert got["heavy"] == [], f"advisor {' '.join(args)} imported {got['heavy']}"
