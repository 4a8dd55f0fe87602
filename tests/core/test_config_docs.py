"""The README's configuration table is the one the code generates."""

from __future__ import annotations

from pathlib import Path

from awoooi.config_docs import iter_settings, markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- config-table:start -->") + len("<!-- config-table:start -->")
    end = text.index("<!-- config-table:end -->")
    return text[start:end].strip()


def test_readme_table_matches_settings() -> None:
    assert _readme_table() == markdown_table(), "run `awoooi config keys` and paste into README"


def test_every_key_has_env_var_and_description() -> None:
    docs = list(iter_settings())
    keys = {doc.key for doc in docs}
    assert {"home", "database_url", "jobs.max_attempts", "repair.mode"} <= keys
    for doc in docs:
        assert doc.env == "AWOOOI_" + doc.key.replace(".", "__").upper()
        assert doc.description, f"{doc.key} has no description"
