"""Write README.md's headline table from the result files (python scripts/readme_headline.py);
tests/test_beyond_ablation.py checks that the committed README holds exactly what this writes."""

from pathlib import Path

from himpc.report import beyond_ablation as ba
from himpc.report.paper import load_paper

ROOT = Path(__file__).resolve().parent.parent


def generated(root: Path = ROOT) -> str:
    return ba.headline_markdown([root / "results" / "kgbd"], 40, load_paper(root / "book" / "paper_results.yaml"),
                                long_epochs=80)


if __name__ == "__main__":
    readme = ROOT / "README.md"
    readme.write_text(ba.replace_block(readme.read_text(), generated()))
    print(generated())
