"""``python -m bench.testbed.runner --out DIR`` makes DIR before the run, not at its end."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import testbed_support  # noqa: F401 (puts the repo root on sys.path)
from bench.testbed import runner


def test_a_missing_out_directory_is_made_before_the_run_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "not" / "yet"
    written: list[Path] = []

    def full(args: argparse.Namespace) -> dict[str, Any]:
        # The run's plots and partial JSON are written into it as each scenario ends.
        assert Path(args.out).is_dir()
        return {}

    monkeypatch.setattr(runner, "full", full)
    monkeypatch.setattr(runner.report, "write", lambda _doc, path: written.append(path))
    assert runner.main(["--out", str(out)]) == 0
    assert written == [out]
