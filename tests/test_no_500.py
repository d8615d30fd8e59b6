"""No input from a user may produce a 500: every route of the app, fed garbage.

With the sales plugin on and a small data set (a client with a contact, a task, an
interaction, a deal, a product, a team, a second user and a second API token), this
walks ``app.url_map``:

1. every ``/api/v1`` rule and method, each ``<int:...>`` replaced by an existing id, 0
   and a number past 2^64; bodies: none, ``{}``, ``[]``, ``"x"``, every field of the
   request schema (read from the OpenAPI document) with the wrong type, and a valid-looking
   body with one kind of extreme value at a time (NUL characters, 10,000 characters, -1,
   1e308, huge ints, impossible dates); GETs get the same garbage as query strings;
2. every HTML GET rule with garbage query arguments, and every HTML POST rule with garbage
   form data and a valid CSRF token; the form and argument names are those the views and
   templates read.

Every answer must be below 500; all failures are collected and shown together. Routes that
destroy what the rest of the walk needs (deletes, purges, revocations, the admin's own
profile) run last.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from core.db import db
from core.users.models import User
from tests.conftest import api_token, csrf_token, enable, make_user

ROOT = Path(__file__).resolve().parents[1]
HUGE = 99999999999999999999
LONG = "x" * 10_000
NUL = "a\x00b"
BAD_DATE = "2026-13-45"

# Generic query garbage every GET gets besides what its own parameters declare.
GENERIC_QUERIES = [
    {"limit": "-1", "cursor": "garbage", "after": "9e99", "q": NUL, "date": BAD_DATE},
    {"limit": "abc", "cursor": str(HUGE), "after": str(HUGE), "q": LONG, "id": "9e99"},
]

CONVERTER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _skip(rule) -> str | None:
    """Why a rule is not called, or None."""
    if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
        return "static files: no user input beyond a file name"
    if rule.endpoint == "auth.logout":
        return "logging out would end the session the rest of the walk uses"
    if rule.endpoint == "api-docs.openapi_json":
        return None
    return None


def _destructive(rule, method: str) -> int:
    """Sort key: 0 for harmless calls; later for those that delete or log the admin out."""
    path = rule.rule
    if "token" in path and method in ("DELETE", "POST") and "<int:token_id>" in path:
        return 3
    if rule.endpoint.startswith("auth.") or "/plugins" in path:
        return 2
    if method == "DELETE" or re.search(r"/(delete|purge|remove|cancel|revoke|merge)\b", path):
        return 1
    return 0


# --- the data set --------------------------------------------------------------------------


@pytest.fixture
def world(app, api):
    enable(app, "sales")
    ids: dict[str, int] = {}

    def made(response, key):
        assert response.status_code in (200, 201), (key, response.get_json())
        ids[key] = response.get_json()["id"]
        return ids[key]

    client_id = made(api.post("/api/v1/clients", json={"name": "Fuzz SRL"}), "client_id")
    made(
        api.post(f"/api/v1/clients/{client_id}/contacts", json={"first_name": "Ion"}),
        "contact_id",
    )
    made(
        api.post(
            "/api/v1/tasks",
            json={"title": "Call Ion", "record_kind": "client", "record_id": client_id},
        ),
        "task_id",
    )
    made(
        api.post(
            f"/api/v1/clients/{client_id}/interactions",
            json={"kind": "call", "subject": "First call", "occurred_at": "2026-01-05T10:00"},
        ),
        "interaction_id",
    )
    made(
        api.post("/api/v1/sales/deals", json={"title": "Windows", "client_id": client_id}),
        "deal_id",
    )
    made(
        api.post(
            "/api/v1/sales/products", json={"name": "Window", "price": 100, "currency": "EUR"}
        ),
        "product_id",
    )
    made(api.post("/api/v1/teams", json={"name": "Fuzz team"}), "team_id")
    user_id = make_user(app, "other@example.com", ["clients.view"])
    ids["user_id"] = user_id
    with app.app_context():
        ids["role_id"] = db.session.get(User, user_id).roles[0].id
    # A second token of the admin's, so that revoking "an existing token" spares the API's.
    api_token(app.test_client())
    tokens = api.get("/api/v1/auth/tokens").get_json()
    tokens = tokens.get("items", tokens) if isinstance(tokens, dict) else tokens
    ids["token_id"] = max(t["id"] for t in tokens)
    return ids


# --- values --------------------------------------------------------------------------------


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "allOf" in schema:
        merged: dict = {"type": "object", "properties": {}}
        for part in schema["allOf"]:
            merged["properties"].update(_resolve(spec, part).get("properties", {}))
        return merged
    return schema


def _valid(spec, schema, name: str, ids: dict, depth: int = 0):
    """A plausible valid value, so that one extreme field reaches past the schema."""
    schema = _resolve(spec, schema)
    kind = schema.get("type")
    if schema.get("enum"):
        return next((v for v in schema["enum"] if v is not None), None)
    if kind == "integer":
        return ids.get(name, 1)
    if kind == "number":
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return [_valid(spec, schema.get("items", {}), name, ids, depth + 1)] if depth < 3 else []
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: _valid(spec, v, k, ids, depth + 1) for k, v in props.items() if depth < 3}
    fmt = schema.get("format")
    if fmt == "date":
        return date.today().isoformat()
    if fmt == "date-time":
        return date.today().isoformat() + "T10:00:00"
    if name == "month":
        return "2026-01"
    if "currency" in name:
        return "EUR"
    if "email" in name:
        return "fuzz@example.com"
    return "Fuzz"


def _mutate(spec, schema, name: str, ids: dict, how: str, depth: int = 0):
    """``schema``'s value with every leaf of one kind replaced by garbage of kind ``how``."""
    schema = _resolve(spec, schema)
    kind = schema.get("type")
    if kind == "array" or (kind is None and "items" in schema):
        if how == "wrong":
            return "x"
        return (
            [_mutate(spec, schema.get("items", {}), name, ids, how, depth + 1)] if depth < 3 else []
        )
    if kind == "object" or "properties" in schema:
        if how == "wrong":
            return (
                "x"
                if depth
                else {k: _wrong(_resolve(spec, v)) for k, v in schema.get("properties", {}).items()}
            )
        props = schema.get("properties", {})
        return {k: _mutate(spec, v, k, ids, how, depth + 1) for k, v in props.items() if depth < 3}
    valid = _valid(spec, schema, name, ids)
    fmt = schema.get("format")
    if how == "nul" and kind == "string":
        return NUL
    if how == "long" and kind == "string":
        return LONG
    if how == "negative" and kind in ("integer", "number"):
        return -1
    if how == "huge" and kind in ("integer", "number"):
        return HUGE if kind == "integer" else 1e308
    if how == "dates" and (kind == "string" and (fmt in ("date", "date-time") or name == "month")):
        return BAD_DATE
    if how == "dates" and kind in ("integer", "number"):
        return 9e99
    return valid


def _wrong(schema: dict):
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return "abc"
    if kind == "boolean":
        return "maybe"
    if kind == "array":
        return {"not": "a list"}
    if kind == "object":
        return ["not", "an", "object"]
    return {"nested": {"object": [1, 2]}}


def _bodies(spec, operation: dict | None, ids: dict) -> list:
    bodies: list = [None, {}, [], "x"]
    schema = None
    if operation:
        content = operation.get("requestBody", {}).get("content", {})
        schema = (content.get("application/json") or {}).get("schema")
    if schema is None:
        bodies.append({"id": "abc", "name": {"nested": 1}, "value": NUL, "count": HUGE})
        return bodies
    bodies.append(_mutate(spec, schema, "", ids, "wrong"))
    bodies.append(_valid(spec, schema, "", ids))
    for how in ("nul", "long", "negative", "huge", "dates"):
        bodies.append(_mutate(spec, schema, "", ids, how))
    return bodies


def _queries(operation: dict | None) -> list[dict]:
    queries = [dict(q) for q in GENERIC_QUERIES]
    params = [p for p in (operation or {}).get("parameters", []) if p.get("in") == "query"]
    for variant in range(3):
        query = {}
        for param in params:
            schema = param.get("schema", {})
            kind, fmt = schema.get("type"), schema.get("format")
            if kind in ("integer", "number"):
                query[param["name"]] = ["abc", "9e99", str(HUGE)][variant]
            elif fmt in ("date", "date-time"):
                query[param["name"]] = [BAD_DATE, "0001-01-01", "9999-12-31T99:99"][variant]
            elif kind == "boolean":
                query[param["name"]] = "maybe"
            elif schema.get("enum"):
                query[param["name"]] = ["nope", NUL, LONG][variant]
            else:
                query[param["name"]] = [NUL, LONG, "-1"][variant]
        if query:
            queries.append(query)
    return queries


def _form_names() -> list[str]:
    """The names the views read from forms and query strings, and the templates' inputs."""
    names: set[str] = set()
    code = re.compile(r'(?:form|args|values)\.(?:get|getlist)\("([\w\-.]+)"|form\["([\w\-.]+)"\]')
    field = re.compile(r'\bname="([\w\-.]+)"')
    for folder in ("core", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            for match in code.finditer(path.read_text(encoding="utf-8")):
                names.add(match.group(1) or match.group(2))
        for path in (ROOT / folder).rglob("*.html"):
            names.update(field.findall(path.read_text(encoding="utf-8")))
    names.discard("csrf_token")
    return sorted(names)


FORM_VALUES = ["", "abc", NUL, LONG, "-1", str(HUGE), "9e99", "1e308", BAD_DATE]


# --- the walk ------------------------------------------------------------------------------


def _paths(rule, ids: dict) -> list[str]:
    """The rule's URL with an existing id, with 0 and with a huge number for its ints."""
    variants = []
    for choice in ("existing", 0, HUGE):

        def fill(match, choice=choice):
            converter, name = match.group(1), match.group(2)
            if converter == "int":
                return str(ids.get(name, 1) if choice == "existing" else choice)
            if converter == "any":
                return "csv"
            if name == "fmt":
                return "csv" if choice == "existing" else "exe"
            if name == "name":
                # Plugin routes get the test plugin, not sales, which the walk needs on.
                if "plugins" in rule.rule:
                    return "hello" if choice == "existing" else "no-such-plugin"
                return ids.get("report", "funnel") if choice == "existing" else "no-such-report"
            if name == "kind":
                return "client" if choice == "existing" else "no-such-kind"
            return "garbage"

        variants.append(CONVERTER.sub(fill, rule.rule))
    return list(dict.fromkeys(variants))


def _summary(payload) -> str:
    text = json.dumps(payload, default=str) if not isinstance(payload, str) else repr(payload)
    return text if len(text) < 120 else text[:117] + "..."


class Failures(list):
    def __init__(self):
        super().__init__()
        self.statuses = Counter()

    def check(self, caplog, method, path, payload, response):
        response.get_data()  # a streamed export runs to its end, as a browser would read it
        response.close()
        self.statuses[(path.startswith("/api/"), method, response.status_code)] += 1
        if response.status_code < 500:
            return
        errors = [r for r in caplog.records if r.exc_info]
        cause = repr(errors[-1].exc_info[1])[:200] if errors else ""
        body = response.get_data(as_text=True)[:300]
        self.append(f"{method} {path} {_summary(payload)} -> {response.status_code} {cause} {body}")
        caplog.clear()


def test_no_route_answers_500_to_garbage(app, api, admin_client, world, caplog):
    caplog.set_level(logging.ERROR)
    ids = dict(world)
    spec = api.get("/api/v1/openapi.json").get_json()
    reports = api.get("/api/v1/reports").get_json()
    reports = reports.get("items", reports) if isinstance(reports, dict) else reports
    report_names = [r["name"] for r in reports]
    failures = Failures()
    calls = []
    for rule in app.url_map.iter_rules():
        if _skip(rule):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            calls.append((_destructive(rule, method), rule.rule, method, rule))
    calls.sort(key=lambda c: c[:3])
    token = csrf_token(admin_client, "/")
    names = _form_names()

    for _, _, method, rule in calls:
        is_api = rule.rule.startswith("/api/")
        swagger = CONVERTER.sub(lambda m: "{" + m.group(2) + "}", rule.rule)
        operation = spec["paths"].get(swagger, {}).get(method.lower()) if is_api else None
        paths = _paths(rule, ids)
        if "<name>" in rule.rule and "reports" in rule.rule:
            paths = [paths[0].replace("funnel", n) for n in report_names] + paths[1:]
        for number, path in enumerate(paths):
            first = number == 0 or (number < len(report_names) and "reports" in rule.rule)
            if is_api and method == "GET":
                queries = _queries(operation) if first else [GENERIC_QUERIES[0]]
                for query in [{}, *queries]:
                    response = api.get(path, query_string=query)
                    failures.check(caplog, method, path, query, response)
            elif is_api:
                bodies = _bodies(spec, operation, ids) if first else [{}, "x"]
                for body in bodies:
                    kwargs = {} if body is None else {"json": body}
                    response = getattr(api, method.lower())(path, **kwargs)
                    failures.check(caplog, method, path, body, response)
            elif method == "GET":
                queries = [{}] + [{n: v for n in names} for v in FORM_VALUES[1:]]
                for query in queries if first else queries[:2]:
                    response = admin_client.get(path, query_string=query)
                    failures.check(
                        caplog, method, path, {"*": next(iter(query.values()), "")}, response
                    )
            else:
                # What post_form does, with one token: the session's CSRF token stays valid.
                values = FORM_VALUES if first else FORM_VALUES[:2]
                for value in values:
                    form = {n: value for n in names} | {"csrf_token": token}
                    response = admin_client.post(path, data=form)
                    failures.check(caplog, method, path, {"*": value}, response)

    assert not failures, f"{len(failures)} calls answered 500:\n" + "\n".join(failures)
