"""The reference pages: docs/cli.md is what the parsers give; docs/api.md covers every export."""

from __future__ import annotations

import re
from pathlib import Path

import extractkit
from extractkit.cli import build_parser
from extractkit.cli.reference import main, render_reference

ROOT = Path(__file__).resolve().parents[1]


def test_the_cli_page_is_generated_from_the_parsers() -> None:
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert page == render_reference(build_parser()), (
        "docs/cli.md is out of date: run `python -m extractkit.cli.reference docs/cli.md`"
    )


def test_the_cli_page_shows_every_command_with_its_arguments_and_examples(tmp_path: Path) -> None:
    out = tmp_path / "cli.md"
    assert main([str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    for heading in ("## extractkit extract", "### extractkit dataset split", "### extractkit finetune list"):
        assert f"\n{heading}\n" in page
    assert "| `-o, --output PATH` | write the results here (default: standard output) |" in page
    assert '$ extractkit extract location "graphic designer in New York"' in page
    assert "| `--json-answers, --no-json-answers` |" in page
    assert "&lt;name&gt;_train.jsonl" in page  # angle brackets are not taken for HTML


def test_the_api_page_documents_every_public_name_and_nothing_else() -> None:
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    documented = re.findall(r"^::: extractkit\.(\w+)$", page, flags=re.MULTILINE)
    public = {name for name in extractkit.__all__ if name != "__version__"}
    assert sorted(set(documented)) == sorted(documented), "a name is documented twice"
    missing = sorted(public - set(documented))
    assert not missing, f"add to docs/api.md: {', '.join(f'::: extractkit.{n}' for n in missing)}"
    assert set(documented) <= public, "docs/api.md documents a name extractkit does not export"
