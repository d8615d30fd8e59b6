"""DESIGN.md's import rules: core never imports a plugin; a plugin imports only core and the
plugins it declares in ``requires``. Checked on every plugin found through entry points."""

from __future__ import annotations

import ast
from importlib.metadata import entry_points
from pathlib import Path

import core

ROOT = Path(core.__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _plugin_packages() -> dict[str, str]:
    """Plugin name -> the module path its code lives under (from its entry point)."""
    return {ep.name: ep.value.split(":")[0] for ep in entry_points(group="crm.plugins")}


def _violations(packages: dict[str, str], requires: dict[str, tuple[str, ...]]) -> list[str]:
    import importlib.util

    problems = []
    for name, module in packages.items():
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            continue
        base = Path(spec.origin).parent if spec.submodule_search_locations else Path(spec.origin)
        files = base.rglob("*.py") if base.is_dir() else [base]
        for file in files:
            for imported in _imports(file):
                for other, other_module in packages.items():
                    if other == name or other in requires.get(name, ()):
                        continue
                    if imported == other_module or imported.startswith(other_module + "."):
                        problems.append(f"{file}: plugin {name!r} imports {other!r} ({imported})")
    return problems


def test_core_never_imports_a_plugin():
    plugin_modules = set(_plugin_packages().values()) | {"plugins"}
    problems = []
    for file in (ROOT / "core").rglob("*.py"):
        for imported in _imports(file):
            if any(imported == m or imported.startswith(m + ".") for m in plugin_modules):
                problems.append(f"{file}: {imported}")
    assert not problems, problems


def test_installed_plugins_import_only_what_they_declare(app):
    registry = app.extensions["crm_plugins"]
    requires = {name: info.requires for name, info in registry.plugins.items()}
    assert _violations(_plugin_packages(), requires) == []


def test_the_check_catches_an_undeclared_import(tmp_path, monkeypatch):
    package = tmp_path / "rogue_plugin"
    package.mkdir()
    (package / "__init__.py").write_text("from crm_test_plugins.hello.models import Greeting\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    packages = {"rogue": "rogue_plugin", "hello": "crm_test_plugins.hello"}
    assert len(_violations(packages, {"rogue": ()})) == 1
    assert _violations(packages, {"rogue": ("hello",)}) == []
