"""The extractkit command: entry point, help, and errors as exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from extractkit.cli import main


def test_help_lists_command_groups(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "records" in out and "extract" in out and "exit status:" in out


def test_no_command_prints_help_on_stderr_and_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: extractkit" in capsys.readouterr().err


def test_library_errors_are_a_message_and_a_failing_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "list", "--store", "mysql://nope"]) != 0
    err = capsys.readouterr().err
    assert "error:" in err and "sqlite:///" in err  # names the fix


def test_module_entry_point_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "extractkit.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("extractkit ")
