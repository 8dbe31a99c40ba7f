"""The house: every import of every module (those inside functions too) goes to its own layer or a
lower one, no modules import in a circle, and docs/architecture.md lists exactly the modules there are."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vidpose"
DOC = ROOT / "docs" / "architecture.md"


def documented_layers() -> dict[str, int]:
    """module path (relative to vidpose/) -> layer, from the doc's table; package markers take
    the layer of their package's modules."""
    text = DOC.read_text()
    table = text[text.index("<!-- modules"):text.index("<!-- /modules -->")]
    layers: dict[str, int] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.fullmatch(r"\d|-", cells[0]):
            continue
        for path in re.findall(r"`([\w/]+\.py)`", cells[1]):
            layers[path] = int(cells[0]) if cells[0] != "-" else -1
    for path, layer in list(layers.items()):
        if layer == -1:
            siblings = [v for k, v in layers.items() if k.startswith(path.rsplit("/", 1)[0] + "/") and v >= 0]
            layers[path] = min(siblings)
    return layers


def module_name(path: str) -> str:
    name = "vidpose." + path[:-3].replace("/", ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def imports(path: Path, modules: set[str]) -> set[str]:
    """The vidpose modules ``path`` imports anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            n = name
            while n and n not in modules:
                n = n.rpartition(".")[0]
            if n and (n != "vidpose" or name == "vidpose"):  # a namespace folder (vidpose.engine) is not the package
                found.add(n)
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p.relative_to(PACKAGE).as_posix()): p for p in PACKAGE.rglob("*.py")}
    return {m: imports(p, set(files)) - {m} for m, p in files.items()}


def test_the_doc_lists_every_module_and_no_other():
    tree = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    listed = set(documented_layers())
    assert not tree - listed, f"modules missing from docs/architecture.md: {sorted(tree - listed)}"
    assert not listed - tree, f"docs/architecture.md lists modules that do not exist: {sorted(listed - tree)}"


def test_no_module_imports_from_a_layer_above_it():
    layer = {module_name(p): v for p, v in documented_layers().items()}
    upward = [f"{m} (layer {layer[m]}) imports {d} (layer {layer[d]})"
              for m, deps in graph().items() for d in sorted(deps) if layer[d] > layer[m]]
    assert not upward, "\n".join(upward)


def test_no_modules_import_in_a_circle():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(edges[m]):
            if state.get(d) == 1:
                cycles.append(path[path.index(d):] + [d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    """An import inside a function counts: the test would see the old engine/data -> realdata import."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from vidpose.realdata import KeyFrameDegradation\n")
    assert imports(f, {"vidpose.realdata", "vidpose.data"}) == {"vidpose.realdata"}
