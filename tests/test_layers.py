"""The layers hold: a lower app never imports a higher one (function-level imports included), and the two
plugins around the inbox core never import each other."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

# Bottom first. channels_app and ai_agent share a level: neither may import the other.
LAYERS = [["accounts"], ["contacts"], ["inbox"], ["memory"], ["channels_app", "ai_agent"], ["reports"], ["web"],
          ["config"]]  # fmt: skip


def _imports(app: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / app).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module.split(".")[0]))
            elif isinstance(node, ast.Import):
                found.update((str(path.relative_to(ROOT)), alias.name.split(".")[0]) for alias in node.names)
    return found


def test_no_app_imports_a_higher_layer_or_its_sibling() -> None:
    level = {app: n for n, apps in enumerate(LAYERS) for app in apps}
    wrong = [
        f"{where} imports {target}"
        for app in level
        for where, target in _imports(app)
        if target in level and target != app and level[target] >= level[app]
    ]
    assert wrong == []
