"""The one Markdown table renderer (pipeline/tables.py)."""
import pytest


def test_one_markdown_table_renderer():
    from pipeline.tables import markdown_table, number
    assert markdown_table(("model", "NLL"), [["HRED", number(3.14159)], ["VHCR", number(None)]]
                          ) == ["| model | NLL |", "|---|---:|", "| HRED | 3.1416 |",
                                "| VHCR | - |"]
    assert markdown_table(("a", "b"), [[1, 2]], "rl")[1] == "|---:|---|"
    with pytest.raises(ValueError, match="1 alignments for 2 columns"):
        markdown_table(("a", "b"), [], "l")
