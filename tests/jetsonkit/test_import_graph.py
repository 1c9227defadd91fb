"""The import graph of jetsonkit/ and calibrators/ has no circle at all.

Every import counts, at module level or inside a function (a deferred import still ties the two modules together).
A circle through two packages is a lower layer reaching up (the old calibrate -> datasource -> evaluate -> convert ->
ranges -> calibrate); one inside a package is the same thing at a smaller scale (a registry importing the modules
that register into it, a value object calling the implementation built on it). The shared piece goes down a layer:
convert/graph.py (Node, Graph), convert/registry.py (the op registry), pipeline/report_files.py (writing, above
both renderers), PreprocessSpec's own geometry (below the frame step that uses it).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path, packages=("jetsonkit", "calibrators")) -> dict[str, set[str]]:
    files = {module_name(root, p): p for pkg in packages for p in (root / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in files else mod for a in node.names]
            for t in targets:
                while t and t not in files:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_circle():
    modules = import_graph(REPO)
    assert len(modules) > 100 and "jetsonkit.calibrate" in modules["jetsonkit.convert.tflite"]
    assert "jetsonkit.convert.registry" in modules["jetsonkit.convert.lower"]  # relative imports count
    assert cycles(modules) == [], "import circle (move the shared piece down a layer)"


def test_calibrators_imports_nothing_of_jetsonkit():
    modules = import_graph(REPO)
    assert not [(m, t) for m, ts in modules.items() if m.startswith("calibrators") for t in ts
                if t.startswith("jetsonkit")]


def test_in_tree_packages_are_not_optional_dependencies():
    """jetsonkit and calibrators ship together: no require("calibrators") / available("jetsonkit.x") probing."""
    found = []
    for pkg in ("jetsonkit", "calibrators"):
        for path in sorted((REPO / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] in ("require", "available") \
                        and node.args and isinstance(node.args[0], ast.Constant) \
                        and str(node.args[0].value).split(".")[0] in ("jetsonkit", "calibrators", "kernels"):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
    assert found == []


def test_one_lazy_import_mechanism():
    """Packages that defer heavy imports all use jetsonkit._lazy.lazy_names; none writes its own __getattr__."""
    own = [str(p.relative_to(REPO)) for p in (REPO / "jetsonkit").rglob("*.py") if p.name != "_lazy.py"
           and any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__"
                   for n in ast.parse(p.read_text(encoding="utf-8")).body)]
    assert own == []


def test_engine_and_runtime_link_one_way():
    """The TensorRT runtime reads what the engine package writes (sidecar, versions, engine loading); the engine
    package never imports the runtime (inspecting an engine's I/O is the runtime's job: runtime/trt_inspect.py)."""
    modules = import_graph(REPO)
    up = sorted(f"{m} -> {t}" for m, ts in modules.items() if m.startswith("jetsonkit.engine") for t in ts
                if t.startswith("jetsonkit.runtime"))
    down = [m for m, ts in modules.items() if m.startswith("jetsonkit.runtime")
            and any(t.startswith("jetsonkit.engine") for t in ts)]
    assert up == [] and "jetsonkit.runtime.tensorrt_backend" in down
