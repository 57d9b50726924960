"""The package's layers (docs/architecture.md): the method never imports the book layer, the book layer
never imports the orchestration layer, and no module imports another module's private names."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "himpc"
BOOK_LAYER, ORCHESTRATION = "himpc.report", "himpc.rerun"


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PKG.parent).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(absolute module, names, line) of every import in ``path``, lazy ones inside functions included."""
    mod = _module(path)
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            out.append((base, [a.name for a in node.names], node.lineno))
    return out


def _layer(mod: str) -> str:
    if mod == BOOK_LAYER or mod.startswith(BOOK_LAYER + "."):
        return "book"
    if mod == ORCHESTRATION or mod.startswith(ORCHESTRATION + "."):
        return "orchestration"
    return "method" if mod.startswith("himpc") else "outside"


def _files() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def test_the_layers_only_import_downwards():
    """method <- book <- orchestration; the CLI (a method module) reaches the orchestration layer for
    `himpc rerun / book` and `--jobs`, never the book layer itself."""
    bad = []
    for f in _files():
        me = _layer(_module(f))
        for target, _, line in _imports(f):
            them = _layer(target)
            if me == "method" and them == "book":
                bad.append(f"{f.relative_to(PKG.parent)}:{line} imports {target}")
            if me == "method" and them == "orchestration" and _module(f) != "himpc.cli":
                bad.append(f"{f.relative_to(PKG.parent)}:{line} imports {target}")
            if me == "book" and them == "orchestration":
                bad.append(f"{f.relative_to(PKG.parent)}:{line} imports {target}")
    assert not bad, "\n".join(bad)


def test_no_private_name_is_imported_across_modules():
    bad = [f"{f.relative_to(PKG.parent)}:{line} imports {n} from {target}"
           for f in _files() for target, names, line in _imports(f)
           for n in names if n.startswith("_") and target.startswith("himpc") and n != "__version__"]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """The import walk resolves relative imports: a method module importing the book layer is caught."""
    pkg = tmp_path / "himpc"
    (pkg / "report").mkdir(parents=True)
    (pkg / "engine.py").write_text("def f():\n    from .report.viz import bar\n    from ._x import _y\n")
    monkeypatch.setattr(__import__(__name__), "PKG", pkg)
    found = _imports(pkg / "engine.py")
    assert ("himpc.report.viz", ["bar"], 2) in found and _layer(found[0][0]) == "book"
    assert ("himpc._x", ["_y"], 3) in found


def test_the_architecture_page_lists_every_module_as_its_docstring_says():
    import subprocess
    import sys
    script = PKG.parent / "scripts" / "architecture.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    page = (PKG.parent / "book" / "architecture.md").read_text()
    for f in _files():
        if f.name != "__main__.py":
            assert f"`{f.relative_to(PKG.parent)}`" in page, f"{f} missing from book/architecture.md"
