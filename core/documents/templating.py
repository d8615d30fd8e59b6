"""Document template bodies: a sandboxed Jinja2 syntax, checked when saved, and the
variables a body may use (core's and those plugins add through ``document_variables``).

A body is checked twice before it is saved: statically (every placeholder must name a
documented variable; the error carries its line and column) and by rendering it with
sample values, so a template that saves also renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

ANY = object()  # below this, attributes are not checked (plugin values, loop variables)

# What a body may use: name -> its attributes (None for a value with no attributes).
CLIENT = {
    "id": None,
    "name": None,
    "legal_name": None,
    "kind": None,
    "tax_id": None,
    "address": None,
    "addresses": ANY,
    "phone": None,
    "phones": ANY,
    "email": None,
    "emails": ANY,
    "website": None,
    "custom": ANY,
}
CONTACT = {
    "first_name": None,
    "middle_name": None,
    "last_name": None,
    "full_name": None,
    "position": None,
    "salutation": None,
    "email": None,
    "phone": None,
}
USER = {"name": None, "email": None, "phone": None}
COMPANY = {
    "name": None,
    "address": None,
    "tax_id": None,
    "bank_name": None,
    "bank_account": None,
    "bank_code": None,
    "phone": None,
    "email": None,
}
DOCUMENT = {"number": None, "type": None, "title": None, "date": None}
CORE_VARIABLES: dict[str, Any] = {
    "client": CLIENT,
    "contact": CONTACT,
    "user": USER,
    "company": COMPANY,
    "document": DOCUMENT,
    "today": None,
}


def environment() -> SandboxedEnvironment:
    # Plain text out (the PDF layer escapes it); autoescape would put &amp; into PDFs.
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


@dataclass(frozen=True)
class TemplateProblem:
    line: int
    column: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


def _column(source: str, line: int, needle: str) -> int | None:
    lines = source.splitlines()
    if 1 <= line <= len(lines):
        index = lines[line - 1].find(needle)
        if index >= 0:
            return index + 1
    return None


def _dotted(node: nodes.Node) -> list[str] | None:
    """``client.address`` -> ["client", "address"]; None for anything else."""
    parts: list[str] = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            parts.append(node.arg.value)
        else:
            return None
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    parts.append(node.name)
    return parts[::-1]


def _local_names(tree: nodes.Template) -> set[str]:
    """Names a body defines itself (loop variables, ``set``, macro arguments)."""
    names: set[str] = {"loop", "range", "true", "false", "none"}
    for node in tree.find_all(nodes.Name):
        if node.ctx in ("store", "param"):
            names.add(node.name)
    return names


def _unknown(tree: nodes.Template, schema: dict[str, Any], source: str) -> TemplateProblem | None:
    local = _local_names(tree)
    seen: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if id(node) in seen:
            continue
        parts = _dotted(node)
        if parts is None:
            continue
        # Mark the inner nodes of a chain so "client.name" is not checked again as "client".
        inner = node
        while isinstance(inner, nodes.Getattr | nodes.Getitem):
            inner = inner.node
            seen.add(id(inner))
        if isinstance(inner, nodes.Name) and inner.ctx != "load" or parts[0] in local:
            continue
        level: Any = schema
        for depth, part in enumerate(parts):
            if level is ANY:
                break
            if not isinstance(level, dict) or part not in level:
                name = ".".join(parts[: depth + 1])
                return TemplateProblem(
                    node.lineno,
                    _column(source, node.lineno, name),
                    f"unknown placeholder {name!r}",
                )
            level = level[part]
    return None


def schema_of(sample: Any) -> Any:
    """The attribute schema of a plugin's sample value (dicts are checked, the rest not)."""
    if isinstance(sample, dict):
        return {str(k): schema_of(v) for k, v in sample.items()}
    return ANY if isinstance(sample, list | tuple) else None


def check(
    source: str, extra_samples: dict[str, Any], sample_context: dict[str, Any]
) -> TemplateProblem | None:
    """The first problem of ``source``, or None when it may be saved."""
    env = environment()
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return TemplateProblem(exc.lineno or 1, None, exc.message or "syntax error")
    schema = {**{k: schema_of(v) for k, v in extra_samples.items()}, **CORE_VARIABLES}
    problem = _unknown(tree, schema, source)
    if problem is not None:
        return problem
    try:
        env.from_string(source).render({**extra_samples, **sample_context})
    except TemplateSyntaxError as exc:  # an unknown filter or test is found on compiling
        return TemplateProblem(exc.lineno or 1, None, exc.message or "syntax error")
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        return TemplateProblem(_render_line(exc), None, str(exc))
    return None


def _render_line(exc: BaseException) -> int:
    """The body's line a render error happened on (Jinja maps its frames to "<template>")."""
    line = 1
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


@lru_cache(maxsize=1)
def _shared_environment() -> SandboxedEnvironment:
    return environment()


@lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    """A body compiled once per worker: compiling costs more than rendering, and the same
    few templates make every document."""
    return _shared_environment().from_string(source)


def render(source: str, context: dict[str, Any]) -> str:
    return _compiled(source).render(context)
