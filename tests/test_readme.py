"""The README's API tour runs as written (a real process on a real file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list[str]:
    return [block.split("```", 1)[0] for block in README.read_text().split("```python\n")[1:]]


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_minimal_bot_runs_twice(tmp_path: Path) -> None:
    bot = _python_blocks()[1]
    for _ in range(2):  # the second run recovers what the first left
        _run(bot, tmp_path)


def test_api_tour_runs(tmp_path: Path) -> None:
    result = _run(_python_blocks()[0], tmp_path)
    assert "HealthReport(ok=True" in result.stdout
    assert (tmp_path / "db" / "trading.db").is_file()
