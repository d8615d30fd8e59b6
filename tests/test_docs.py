"""Keep the plugin documentation in step with the hook specifications.

Like Datasette's tests/test_docs.py: every hookspec in ``core.hookspecs`` must have a
``## <name>`` section in docs/plugin-hooks.md that lists each of its arguments, every such
heading must name a real hookspec, and CHANGELOG.md's "Plugin API" section must name every
hook. Each hook is its own test case, so a failure says which hook fell out of step.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path

import pytest

import core.hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS_DOC = ROOT / "docs" / "plugin-hooks.md"
CHANGELOG = ROOT / "CHANGELOG.md"


def _hookspecs() -> dict[str, object]:
    """Every function of core.hookspecs marked by ``HookspecMarker("crm")``, in source order."""
    specs = [
        fn
        for _, fn in inspect.getmembers(core.hookspecs, inspect.isfunction)
        if hasattr(fn, "crm_spec")
    ]
    specs.sort(key=lambda fn: fn.__code__.co_firstlineno)
    return {fn.__name__: fn for fn in specs}


HOOKSPECS = _hookspecs()
HOOK_NAMES = list(HOOKSPECS)


def _arguments(name: str) -> list[str]:
    return list(inspect.signature(HOOKSPECS[name]).parameters)


def _strip_fences(lines: list[str]) -> list[str]:
    """The lines outside fenced code blocks (a ``## `` inside a code block is no heading)."""
    out, fenced = [], False
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return out


def _sections(text: str) -> dict[str, str]:
    """``## heading`` -> the text up to the next ``#`` or ``##`` heading (code included)."""
    sections: dict[str, str] = {}
    current: str | None = None
    body: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#{1,2} ", line):
            if current is not None:
                sections[current] = "\n".join(body)
            current = line[3:].strip() if line.startswith("## ") else None
            body = []
        elif current is not None:
            body.append(line)
    if current is not None:
        sections[current] = "\n".join(body)
    return sections


def _headings(text: str) -> list[str]:
    return [line[3:].strip() for line in _strip_fences(text.splitlines()) if line.startswith("## ")]


def _argument_bullets(section: str) -> list[str]:
    """The names in the ``- `arg`: ...`` list that follows ``**Arguments:**``."""
    lines = _strip_fences(section.splitlines())
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "**Arguments:**")
    except StopIteration:
        return []
    names = []
    for line in lines[start + 1 :]:
        if not line.strip():
            if names:
                break
            continue
        match = re.match(r"- `([A-Za-z_][A-Za-z0-9_]*)`:", line)
        if match:
            names.append(match.group(1))
        elif not line.startswith("  "):  # neither a bullet nor its continuation
            break
    return names


def _code_blocks(section: str) -> list[str]:
    return [
        textwrap.dedent(block)
        for block in re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    ]


@pytest.fixture(scope="module")
def hooks_doc() -> str:
    return HOOKS_DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def hook_sections(hooks_doc) -> dict[str, str]:
    return _sections(hooks_doc)


def test_hookspecs_found():
    assert len(HOOKSPECS) >= 10, f"only found {sorted(HOOKSPECS)}; is the marker still crm_spec?"


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_hook_has_section(name, hook_sections):
    assert name in hook_sections, f"docs/plugin-hooks.md has no '## {name}' heading"


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_hook_section_documents_every_argument(name, hook_sections):
    section = hook_sections.get(name)
    if section is None:
        pytest.fail(f"docs/plugin-hooks.md has no '## {name}' heading")
    arguments = _arguments(name)
    for argument in arguments:
        assert f"`{argument}`" in section, (
            f"'## {name}' in docs/plugin-hooks.md does not mention the argument `{argument}`"
        )
    listed = _argument_bullets(section)
    assert listed == arguments, (
        f"'## {name}': the **Arguments:** list names {listed}, the hookspec takes {arguments}"
    )


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_hook_section_says_what_it_returns(name, hook_sections):
    section = hook_sections.get(name, "")
    assert "**Called:**" in section, f"'## {name}' does not say when the hook is called"
    assert "**Returns:**" in section, f"'## {name}' does not say what the hook returns"


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_hook_section_example_matches_spec(name, hook_sections):
    """The example parses, implements this hook with @hookimpl, and takes only its arguments."""
    section = hook_sections.get(name, "")
    implementations = []
    for block in _code_blocks(section):
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == name:
                decorators = [ast.unparse(d) for d in node.decorator_list]
                if "hookimpl" in decorators:
                    implementations.append(node)
    assert implementations, f"'## {name}' has no ```python example with '@hookimpl def {name}'"
    allowed = set(_arguments(name))
    for node in implementations:
        taken = [a.arg for a in node.args.args if a.arg != "self"]
        assert set(taken) <= allowed, (
            f"the example of '## {name}' takes {taken}; the hookspec only has {sorted(allowed)}"
        )


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_hookspec_docstring_documents_arguments_and_return(name, hook_sections):
    spec = HOOKSPECS[name]
    doc = inspect.getdoc(spec) or ""
    assert doc, f"hookspec {name} has no docstring"
    for argument in _arguments(name):
        assert f":param {argument}:" in doc, f"hookspec {name} does not document :param {argument}:"
    if ":return:" in doc:
        return
    # Domain events return nothing: the spec must say so, and so must the docs.
    annotation = inspect.signature(spec).return_annotation
    assert annotation in (None, "None"), (
        f"hookspec {name} has no ':return:' in its docstring and is not annotated '-> None'"
    )
    section = hook_sections.get(name, "")
    assert "**Returns:** nothing" in section, (
        f"'## {name}' returns None; say '**Returns:** nothing' in docs/plugin-hooks.md"
    )


def test_every_heading_names_a_hookspec(hooks_doc):
    stale = [heading for heading in _headings(hooks_doc) if heading not in HOOKSPECS]
    assert not stale, f"docs/plugin-hooks.md documents hooks that do not exist: {stale}"


def test_hooks_documented_in_hookspec_order(hooks_doc):
    documented = [heading for heading in _headings(hooks_doc) if heading in HOOKSPECS]
    assert documented == HOOK_NAMES, "sections of docs/plugin-hooks.md follow core/hookspecs.py"


def test_hooks_doc_intro():
    intro = HOOKS_DOC.read_text(encoding="utf-8").split("\n## ", 1)[0]
    for phrase in ("from core.plugin_system import hookimpl", "weight", "disabled"):
        assert phrase in intro, f"the introduction of docs/plugin-hooks.md lacks {phrase!r}"


@pytest.fixture(scope="module")
def plugin_api_changelog() -> str:
    text = CHANGELOG.read_text(encoding="utf-8")
    match = re.search(r"^(#+) Plugin API\s*$", text, flags=re.MULTILINE)
    assert match, "CHANGELOG.md has no 'Plugin API' section"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.MULTILINE)
    return rest[: end.start()] if end else rest


def test_changelog_has_unreleased_section():
    text = CHANGELOG.read_text(encoding="utf-8")
    assert re.search(r"^## Unreleased\s*$", text, flags=re.MULTILINE), (
        "CHANGELOG.md has no '## Unreleased' section"
    )


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_changelog_names_hook(name, plugin_api_changelog):
    assert f"`{name}`" in plugin_api_changelog, (
        f"the 'Plugin API' section of CHANGELOG.md does not name `{name}`"
    )
