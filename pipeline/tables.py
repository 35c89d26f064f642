"""The one Markdown table renderer of every report: the evaluation's test.md, the report
tool, the study READMEs and the tables TensorBoard shows as text."""
from collections.abc import Iterable, Sequence


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]],
                   align: str | None = None) -> list[str]:
    """Lines of a GitHub Markdown table: `header` cells, then `rows` of cells (each put
    through str()); `align` holds "l" (left) or "r" (right) per column, by default the
    first column left and the others right (a label, then numbers)."""
    align = align or "l" + "r" * (len(header) - 1)
    if len(align) != len(header):
        raise ValueError(f"{len(align)} alignments for {len(header)} columns")
    return ["| " + " | ".join(header) + " |",
            "|" + "".join("---:|" if a == "r" else "---|" for a in align),
            *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)]


def number(value: float | None, digits: int = 4) -> str:
    """A table cell of a number at `digits` decimals; "-" for a missing one."""
    return "-" if value is None else f"{value:.{digits}f}"
