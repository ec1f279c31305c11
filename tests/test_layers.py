"""The package's floors, read from the code's imports: no import circle, no import that runs back up.

Every import counts, also one inside a function (a deferred import hides a circle, it does not
remove it). A floor may import its own modules and the floors below it; ``methods`` (the
contestants) only the core and the inputs.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Bottom to top. A module belongs to the first floor whose prefix it starts with.
FLOORS = [
    ("core", ("bench.core", "bench")),
    ("inputs", ("bench.inputs",)),
    ("metrics", ("bench.metrics",)),
    ("methods", ("methods",)),
    ("engine", ("bench.engine",)),
    ("outputs", ("bench.outputs",)),
    ("experiments", ("bench.experiments",)),
    ("cli", ("bench.commands", "bench.cli")),
]
# What each floor may import besides itself; by default every floor below.
ONLY = {"methods": {"core", "inputs"}}


def modules() -> dict[str, Path]:
    found = {}
    for top in ("bench", "methods"):
        for path in (REPO / top).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def floor_of(module: str) -> str:
    best = max(
        ((len(p), name) for name, prefixes in FLOORS for p in prefixes if module == p or module.startswith(p + ".")),
        default=None,
    )
    assert best is not None, f"{module} is on no floor: add it to FLOORS"
    return best[1]


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """``{module: {modules of the project it imports}}``, a ``from package import submodule`` naming the submodule."""

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        out = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods else node.module for a in node.names
                ]
            for target in targets:
                if target.split(".")[0] in ("bench", "methods"):
                    resolved = resolve(target)
                    if resolved and resolved != name:
                        out.add(resolved)
        edges[name] = out
    return edges


def test_every_import_stays_on_its_floor_or_goes_down():
    mods = modules()
    order = [name for name, _ in FLOORS]
    wrong = []
    for module, targets in imports(mods).items():
        here = floor_of(module)
        allowed = ONLY.get(here, set(order[: order.index(here)])) | {here}
        wrong += [f"{module} ({here}) -> {t} ({floor_of(t)})" for t in sorted(targets) if floor_of(t) not in allowed]
    assert not wrong, "imports that run back up:\n" + "\n".join(wrong)


def test_no_import_circles():
    edges = imports(modules())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not circles, "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


def test_the_rules_can_fail():
    # The reader sees deferred imports and a package's submodules: a known edge must be found.
    edges = imports(modules())
    assert "bench.engine.dask_executor" in edges["bench.engine.where"]  # imported inside open_executor
    assert "methods.criminisi.kernels" in edges["methods.criminisi.inpaint"]
    assert floor_of("bench.engine.evaluate") == "engine" and floor_of("bench.cli") == "cli"


def test_reports_hold_artefacts_and_shell_scripts_but_no_python():
    # The scripts' Python lives in the package, where the floors above and the tests reach it.
    code = sorted(str(p.relative_to(REPO)) for p in (REPO / "reports").rglob("*.py"))
    assert code == []
    for script in (REPO / "reports").rglob("*.sh"):
        text = script.read_text()
        assert "python reports/" not in text and "sys.path" not in text, script
