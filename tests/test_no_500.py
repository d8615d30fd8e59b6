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

import csv
import inspect
import io
import json
import logging
import re
from collections import Counter
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

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
    {"limit": "²", "cursor": "²", "after": "²", "ids": "1,²", "before": "²"},
]

CONVERTER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _skip(rule) -> str | None:
    """Why a rule is not called, or None."""
    if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
        return "static files: no user input beyond a file name"
    if rule.endpoint == "auth.logout":
        return "logging out would end the session the rest of the walk uses"
    # Everything else is called, the login form and the calendar feed (a garbage token)
    # included; there is no public lead form in this app yet.
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
    deal_id = made(
        api.post(
            "/api/v1/sales/deals",
            json={"title": "Windows", "client_id": client_id, "amount": 1000, "currency": "EUR"},
        ),
        "deal_id",
    )
    made(api.post(f"/api/v1/sales/deals/{deal_id}/invoices", json={}), "invoice_id")
    made(
        api.post(
            "/api/v1/sales/products", json={"name": "Window", "price": 100, "currency": "EUR"}
        ),
        "product_id",
    )
    made(api.post("/api/v1/teams", json={"name": "Fuzz team"}), "team_id")
    made(api.post("/api/v1/sales/product-groups", json={"name": "Windows"}), "group_id")
    ids["dimension_id"] = ids["group_id"]
    made(
        api.post(
            "/api/v1/sales/plans",
            json={
                "month": "2026-03",
                "kind": "product_group",
                "dimension_id": ids["group_id"],
                "amount": 1500,
                "currency": "EUR",
            },
        ),
        "plan_id",
    )
    list_id = made(
        api.post("/api/v1/sales/price-lists", json={"name": "Wholesale", "currency": "EUR"}),
        "list_id",
    )
    made(
        api.post(
            f"/api/v1/sales/price-lists/{list_id}/items",
            json={"product_id": ids["product_id"], "price": 90},
        ),
        "item_id",
    )
    made(
        api.post(
            "/api/v1/comments",
            json={"record_kind": "client", "record_id": client_id, "body": "Call back"},
        ),
        "comment_id",
    )
    ids["record_id"] = client_id
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


STRINGS = {
    "month": "2026-01",
    "number": "+373 22 123 456",
    "password": "correct-horse-battery-staple",
    "code": "fuzz",
    "record_kind": "client",
}


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
        # Only the required fields (all when none is): the others' plausible values are not
        # always valid (a status or a tax id), and one bad field would hide the others.
        required = schema.get("required") or list(schema.get("properties", {}))
        props = {
            k: v
            for k, v in schema.get("properties", {}).items()
            if k in required and not _resolve(spec, v).get("readOnly")
        }
        return {k: _valid(spec, v, k, ids, depth + 1) for k, v in props.items() if depth < 3}
    fmt = schema.get("format")
    if fmt == "date":
        return date.today().isoformat()
    if fmt == "date-time" or name.endswith("_at"):
        return date.today().isoformat() + "T10:00:00"
    if name in STRINGS:
        return STRINGS[name]
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


def _one_at_a_time(spec, operation: dict | None, ids: dict) -> list:
    """The valid body with one field at a time at an extreme of its own type.

    A body with every field wrong stops at the first check; one bad field among good ones
    reaches the services and the database (a 1e308 amount, an id past 2^63, year 1).
    """
    content = (operation or {}).get("requestBody", {}).get("content", {})
    schema = (content.get("application/json") or {}).get("schema")
    if schema is None:
        return []
    schema = _resolve(spec, schema)
    valid = _valid(spec, schema, "", ids)
    bodies = []
    for name, field in schema.get("properties", {}).items():
        field = _resolve(spec, field)
        if field.get("readOnly") or name == "version":
            continue
        kind, fmt = field.get("type"), field.get("format")
        if kind == "integer":
            extremes = [HUGE, -1, "²"]
        elif kind == "number":
            extremes = [1e308, -1e308, 1e-30, "NaN", "Infinity", "1e999"]
        elif kind == "string" and (fmt in ("date", "date-time") or name == "month"):
            extremes = ["0001-01-01", "9999-12-31", "2026-02-30"]
        elif kind == "string" and not field.get("enum"):
            extremes = [LONG]
        elif kind == "array":
            extremes = [[_valid(spec, field.get("items", {}), name, ids)] * 1000]
        else:
            extremes = []
        bodies.extend(valid | {name: extreme} for extreme in extremes)
    return bodies


def _queries(operation: dict | None) -> list[dict]:
    """Garbage query strings: a few all at once, then one parameter at a time.

    One bad parameter among good ones is what reaches past the first check (a NUL anywhere
    is refused before any view runs, and so hides everything else).
    """
    queries = [dict(q) for q in GENERIC_QUERIES]
    params = {
        p["name"]: p.get("schema", {})
        for p in (operation or {}).get("parameters", [])
        if p.get("in") == "query"
    }
    for name in ("limit", "cursor", "after", "before", "q", "ids"):
        params.setdefault(name, {"type": "generic"})
    for name, schema in params.items():
        kind, fmt = schema.get("type"), schema.get("format")
        if kind in ("integer", "number"):
            values = ["abc", "-1", "²", str(HUGE), "9e99", "NaN"]
        elif fmt in ("date", "date-time"):
            values = [BAD_DATE, "0001-01-01", "9999-12-31T99:99", "²"]
        elif kind == "boolean":
            values = ["maybe"]
        elif kind == "generic":
            values = ["²", "-1"]
        else:
            values = [LONG, "nope", "²"]
        queries.extend({name: value} for value in values)
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


class _Forms(HTMLParser):
    """The forms of a page: action, method and each field's value as the page fills it."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str, dict]] = []
        self._field: str | None = None
        self._text: list[str] = []
        self.selects: dict[str, str] = {}
        self.files: dict[int, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(
                (attrs.get("action") or "", (attrs.get("method") or "get").lower(), {})
            )
        if not self.forms or not attrs.get("name"):
            return
        fields = self.forms[-1][2]
        name = attrs["name"]
        if tag == "input" and attrs.get("type") == "file":
            self.files.setdefault(len(self.forms) - 1, []).append(name)
        elif tag == "input" and attrs.get("type") not in ("submit", "button", "image"):
            if attrs.get("type") in ("checkbox", "radio") and "checked" not in attrs:
                fields.setdefault(name, None)
            else:
                fields[name] = attrs.get("value") or ""
        elif tag == "select":
            self._field = name
            fields.setdefault(name, None)
        elif tag == "textarea":
            self._field, self._text = name, []

    def handle_data(self, data):
        if self._field and self.forms and self.lasttag == "textarea":
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "textarea" and self._field and self.forms:
            self.forms[-1][2][self._field] = "".join(self._text)
            self._field = None
        elif tag == "select":
            self._field = None


def _page_forms(html: str) -> list[tuple[str, str, dict]]:
    parser = _Forms()
    # A select's chosen value: the selected option's, else the first one's.
    for match in re.finditer(r"<select[^>]*name=\"([^\"]+)\"[^>]*>(.*?)</select>", html, re.S):
        options = re.findall(r"<option([^>]*)>", match.group(2))
        values = [re.search(r'value="([^"]*)"', o) for o in options]
        chosen = [v.group(1) for o, v in zip(options, values, strict=True) if v and "selected" in o]
        firsts = [v.group(1) for v in values if v and v.group(1)]
        parser.selects[match.group(1)] = (chosen or firsts or [""])[0]
    parser.feed(html)
    selects = parser.selects
    return [
        (
            action,
            method,
            {k: selects.get(k, v) if v is None else v for k, v in fields.items()},
            parser.files.get(index, []),
        )
        for index, (action, method, fields) in enumerate(parser.forms)
    ]


NUMBER = re.compile(r"^-?\d+([.,]\d+)?$")
DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?([T ]\d{2}:\d{2}(:\d{2})?)?$")
KEEP = {"csrf_token", "version"}


def _mutations(fields: dict) -> list[tuple[str, dict]]:
    """The page's own (valid) form with one kind of field at a time made garbage."""
    kinds = {
        "numbers abc": (NUMBER, "abc"),
        "numbers huge": (NUMBER, str(HUGE)),
        "numbers 1e308": (NUMBER, "1e308"),
        "numbers -1": (NUMBER, "-1"),
        "numbers ²": (NUMBER, "²"),
        "numbers NaN": (NUMBER, "NaN"),
        "numbers inf": (NUMBER, "inf"),
        "dates 2026-13-45": (DATE, BAD_DATE),
        "dates 9999": (DATE, "9999-12-31"),
    }
    variants = [("as the page fills it", dict(fields))]
    for label, (pattern, garbage) in kinds.items():
        changed = {
            k: garbage if k not in KEEP and v is not None and pattern.match(v) else v
            for k, v in fields.items()
        }
        if changed != fields:
            variants.append((label, changed))
    for label, garbage in (("texts NUL", NUL), ("texts long", LONG), ("all empty", "")):
        variants.append(
            (
                label,
                {
                    k: garbage
                    if k not in KEEP and (garbage == "" or not NUMBER.match(v or "0"))
                    else v
                    for k, v in fields.items()
                },
            )
        )
    return [(label, {k: v for k, v in form.items() if v is not None}) for label, form in variants]


# Garbage that parses as a number somewhere: Decimal("NaN") compares with nothing.
ODD_NUMBERS = ["NaN", "inf", "1,5", "1e308", "-1", str(HUGE), "²"]
IMPORT_COLUMNS = (
    "id,name,kind,tax_id,status,owner,tags,next_contact_on,website,phone,email,"
    "sku,group,unit,price,currency,vat_rate,active"
).split(",")


def _cells_csv() -> bytes:
    """A spreadsheet of clients and products whose every row is one kind of garbage."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(IMPORT_COLUMNS)
    for value in [*ODD_NUMBERS, "abc", BAD_DATE, "0001-01-01", LONG, "=cmd|' /C calc'!A0", ""]:
        writer.writerow([value] * len(IMPORT_COLUMNS))
    writer.writerow(["", "Acme", *[""] * (len(IMPORT_COLUMNS) - 2)])
    return out.getvalue().encode()


# Uploads: empty, not what their names say, broken spreadsheets, odd CSV, then one that
# reads (last, so that the routes of the import it makes get an existing id) whose cells
# are garbage.
FILES = [
    ("empty.csv", b""),
    ("noise.xlsx", b"\xff\xfe\x00garbage" * 50),
    ("zip.xlsx", b"PK\x03\x04" + b"\x00" * 100),
    ("odd.csv", b"name;email;price\n\x00;\xff\xfe;1e308\n=cmd;" + LONG.encode() + b";-1\n"),
    ("noext", b"\x89PNG\r\n\x1a\n"),
    ("cells.csv", _cells_csv()),
]

VIEW_READS = re.compile(
    r'(?:args|form|values)\.(?:get|getlist)\("([\w\-.]+)"|(?:args|form)\["([\w\-.]+)"\]'
    r'|_arg\("([\w\-.]+)"'
)
ONE_FIELD_VALUES = ["²", "abc", "-1", str(HUGE), "NaN"]


def _read_by_view(app, endpoint: str) -> list[str]:
    """The argument and form names the view function itself reads."""
    try:
        source = inspect.getsource(inspect.unwrap(app.view_functions[endpoint]))
    except (OSError, TypeError):
        return []
    return sorted({a or b or c for a, b, c in VIEW_READS.findall(source)} - {"csrf_token"})


FORM_VALUES = ["", "abc", NUL, LONG, "-1", str(HUGE), "9e99", "1e308", BAD_DATE, "²", "1,²", "NaN"]


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
    # The forms of every page, by the path they are sent to, to start from valid values.
    forms: dict[tuple[str, str], dict] = {}
    uploads: dict[str, tuple[dict, list[str]]] = {}
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.rule.startswith("/api/") and not _skip(rule):
            page = admin_client.get(_paths(rule, ids)[0])
            if page.status_code == 200 and page.mimetype == "text/html":
                for action, form_method, fields, files in _page_forms(page.get_data(as_text=True)):
                    target = urlsplit(action).path or urlsplit(page.request.url).path
                    forms.setdefault((form_method.upper(), target), fields)
                    if files:
                        uploads.setdefault(target, (fields, files))
            page.close()

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
                singles = _one_at_a_time(spec, operation, ids) if first else []
                multipart = "multipart/form-data" in (operation or {}).get("requestBody", {}).get(
                    "content", {}
                )
                for name, content in FILES if multipart and first else []:
                    response = api.post(path, data={"file": (io.BytesIO(content), name)})
                    failures.check(caplog, method, path, {"file": name}, response)
                for body in bodies + singles:
                    if method == "PATCH" and isinstance(body, dict) and "version" in body:
                        # The version the record has now, so that the change reaches past it.
                        current = api.get(path)
                        if current.status_code == 200 and "version" in current.get_json():
                            body = body | {"version": current.get_json()["version"]}
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
                for label, query in _mutations(forms.get(("GET", path), {})) if first else []:
                    response = admin_client.get(path, query_string=query)
                    failures.check(caplog, method, path, {"filters": label}, response)
                for name in _read_by_view(app, rule.endpoint) if first else []:
                    for value in ONE_FIELD_VALUES:
                        response = admin_client.get(path, query_string={name: value})
                        failures.check(caplog, method, path, {name: value}, response)
            else:
                # What post_form does, with one token: the session's CSRF token stays valid.
                values = FORM_VALUES if first else FORM_VALUES[:2]
                for value in values:
                    form = {n: value for n in names} | {"csrf_token": token}
                    response = admin_client.post(path, data=form)
                    failures.check(caplog, method, path, {"*": value}, response)
                own = forms.get(("POST", path)) if first else None
                for label, form in _mutations(own) if own else []:
                    response = admin_client.post(path, data=form | {"csrf_token": token})
                    failures.check(caplog, method, path, {"form": label}, response)
                for name in _read_by_view(app, rule.endpoint) if first else []:
                    for value in ONE_FIELD_VALUES:
                        form = (own or {}) | {name: value, "csrf_token": token}
                        response = admin_client.post(path, data=form)
                        failures.check(caplog, method, path, {name: value}, response)
                fields, files = uploads.get(path, ({}, [])) if first else ({}, [])
                for name, content in FILES if files else []:
                    form = fields | {f: (io.BytesIO(content), name) for f in files}
                    response = admin_client.post(path, data=form | {"csrf_token": token})
                    failures.check(caplog, method, path, {"file": name}, response)

    # An import of the garbage file ran in the background: a crash there is a 500 too.
    jobs = api.get("/api/v1/clients/imports").get_json()
    for job in jobs.get("items", jobs) if isinstance(jobs, dict) else jobs:
        if job["status"] == "failed":
            failures.append(f"client import {job['filename']} crashed: {job['message'][:300]}")
    assert not failures, f"{len(failures)} calls answered 500:\n" + "\n".join(failures)
