"""Turning one row of an import file into client data, checking every cell.

The installation's lists (statuses, sources, users, custom fields, phone country, tax id
format) are read once per import into a ``Context``; a row is then checked without a query,
which is what lets 100,000 rows import in seconds. The rules are the same as for a client
saved in the form or the API (core.clients.services).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from json.encoder import encode_basestring_ascii as _json_text
from typing import Any, NamedTuple

import phonenumbers
import sqlalchemy as sa

from core.clients import normalise
from core.clients.custom_fields import active_fields, coerce
from core.clients.models import KINDS, ClientOption
from core.clients.search import email_words
from core.clients.taxids import validate_tax_id
from core.db import db
from core.settings.services import get as setting
from core.users.models import User

_SPLIT_PHONES = re.compile(r"[;,\n]+")
_SPLIT_EMAILS = re.compile(r"[;,\n]+")
_SPLIT_TAGS = re.compile(r"[;,\n]+")
_PATRONYMIC = re.compile(r"(вич|вна|ична|инична|ьич|оглы|кызы)$", re.IGNORECASE)

KIND_WORDS = {
    "company": "company",
    "organisation": "company",
    "organization": "company",
    "компания": "company",
    "организация": "company",
    "юрлицо": "company",
    "юридическое лицо": "company",
    "firma": "company",
    "unternehmen": "company",
    "companie": "company",
    "persoana juridica": "company",
    "person": "person",
    "individual": "person",
    "человек": "person",
    "физлицо": "person",
    "физическое лицо": "person",
    "частное лицо": "person",
    "privatperson": "person",
    "privatkunde": "person",
    "persoana fizica": "person",
}
TEXT_LIMITS = {
    "name": 300,
    "legal_name": 300,
    "industry": 120,
    "category": 120,
    "website": 300,
    "notes": 10_000,
}
# What a spreadsheet shows (and saves in CSV) where a formula failed: not a value to import.
SPREADSHEET_ERRORS = frozenset(
    ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA")
)
assert all(e.startswith("#") for e in SPREADSHEET_ERRORS)  # parse looks at the "#" first

# name_key of the few words a column of statuses, sources, kinds or owners repeats.
_lookup_key = functools.lru_cache(maxsize=4096)(normalise.name_key)
ADDRESS_LIMITS = {"street": 300, "city": 120, "region": 120, "postcode": 20, "country": 80}
CONTACT_LIMITS = {"first_name": 100, "middle_name": 100, "last_name": 100, "position": 200}


@dataclass(frozen=True)
class FieldSpec:
    """A custom field's definition as plain data (rows are checked in another process)."""

    key: str
    label: str
    kind: str
    choices: tuple[str, ...]
    required: bool


@dataclass
class Context:
    """What rows are checked against, read once per import; plain data, so it can be sent
    to the process that checks rows while this one writes them."""

    region: str
    tax_country: str
    statuses: dict[str, str]
    status_codes: list[str]
    default_status: str
    sources: dict[str, str]
    source_codes: list[str]
    users: dict[str, int]
    custom: dict[str, FieldSpec]
    shared_names: frozenset[str] = frozenset()  # user names more than one active user has

    @classmethod
    def load(cls) -> Context:
        lists: dict[str, list[ClientOption]] = {"status": [], "source": []}
        for option in db.session.execute(
            sa.select(ClientOption)
            .where(ClientOption.list.in_(lists), ClientOption.active.is_(True))
            .order_by(ClientOption.position, ClientOption.label)
        ).scalars():
            lists[option.list].append(option)
        users: dict[str, int] = {}
        shared: set[str] = set()
        for user_id, email, name in db.session.execute(
            sa.select(User.id, User.email, User.name).where(User.active.is_(True))
        ):
            users.setdefault(normalise.name_key(email), user_id)
            if users.setdefault(normalise.name_key(name), user_id) != user_id:
                shared.add(normalise.name_key(name))
        return cls(
            region=(setting("core.phone_region") or "").upper(),
            tax_country=setting("core.tax_id_country") or "",
            statuses=_option_lookup(lists["status"]),
            status_codes=[o.code for o in lists["status"]],
            default_status=lists["status"][0].code if lists["status"] else "lead",
            sources=_option_lookup(lists["source"]),
            source_codes=[o.code for o in lists["source"]],
            users=users,
            shared_names=frozenset(shared),
            custom={
                f.key: FieldSpec(f.key, f.label, f.kind, tuple(f.choices or ()), f.required)
                for f in active_fields()
            },
        )


def _option_lookup(options: list[ClientOption]) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for option in options:
        lookup.setdefault(normalise.name_key(option.code), option.code)
        lookup.setdefault(normalise.name_key(option.label), option.code)
    return lookup


# The columns of a new client that a checked row fills (``New.client``), in this order.
NEW_CLIENT_KEYS = (
    "kind",
    "name",
    "name_key",
    "legal_name",
    "tax_id",
    "tax_id_key",
    "industry",
    "status",
    "category",
    "source",
    "owner_id",
    "notes",
    "next_contact_on",
    "website",
    "custom",
)
ADDRESS_KEYS = ("country", "region", "city", "postcode", "street")
CONTACT_KEYS = ("first_name", "middle_name", "last_name", "position")


@dataclass(frozen=True)
class Creating:
    """What a run that writes adds to every new client: plain data, for the helper process."""

    default_owner_id: int | None
    label: str  # "#12 clients.csv": the history says "created by import #12 ..., line 7"
    # Whether rows found in the CRM are only skipped (not updated): then a row that would
    # create a client travels back from the helper process without the cell values the
    # update would need, which makes it several times cheaper to receive.
    lean: bool = False


class New(NamedTuple):
    """The database rows of a client a checked row would create, built where the row is
    checked (in the helper process during a run), so the process that writes only adds
    the ids. Values are in the form every database takes: dates as ISO text, JSON as text."""

    client: tuple  # NEW_CLIENT_KEYS
    phones: list[tuple[str, str]]  # (E.164, its digits reversed)
    emails: list[str]
    address: tuple[str, ...] | None  # ADDRESS_KEYS
    contact: tuple[str, ...] | None  # CONTACT_KEYS
    contact_phones: list[tuple[str, str]]
    contact_emails: list[str]
    history: str  # the client's history entry (JSON)
    contact_history: str  # the contact person's, up to the client id: append "<id>]}"
    document: str  # the search index text


@dataclass
class Row:
    """One file row as client data, with the problems found in its cells."""

    number: int
    client: dict[str, Any] = field(default_factory=dict)
    client_id: int | None = None
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    address: dict[str, str] | None = None
    contact: dict[str, Any] | None = None
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # column, value, reason
    custom_required: list[FieldSpec] = field(default_factory=list)  # required, not given
    new: New | None = None  # the rows to insert should it create a client (runs that write)
    lean: bool = False  # see Creating.lean
    _keys: list[tuple[str, str]] | None = field(default=None, repr=False)

    def __reduce_ex__(self, protocol: Any) -> Any:
        if self.lean:
            fields = (self.number, self.client_id, self.tags, self.errors, self.custom_required)
            return (_lean_row, (*fields, self._keys, self.new))
        return super().__reduce_ex__(protocol)

    def fail(self, column: str, value: str, reason: str) -> None:
        self.errors.append((column, value[:500], reason))

    def keys(self) -> list[tuple[str, str]]:
        """What identifies this client: (kind of key, value) pairs, strongest first."""
        if self._keys is None:
            self._keys = self._find_keys()
        return self._keys

    def _find_keys(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.client_id is not None:
            out.append(("id", str(self.client_id)))
        if self.client.get("tax_id_key"):
            out.append(("tax id", self.client["tax_id_key"]))
        contact = self.contact or {}
        out += [("e-mail", e) for e in (*self.emails, *contact.get("emails", ()))]
        out += [("phone", p) for p in (*self.phones, *contact.get("phones", ()))]
        has_contact_data = len(out) > (1 if self.client_id is not None else 0)
        # Two people may share a name; two companies with one name are one company.
        kind = self.client.get("kind", "company")
        if self.client.get("name_key") and (kind == "company" or not has_contact_data):
            out.append(("name", f"{kind}:{self.client['name_key']}"))
        return out


def parse(
    number: int,
    cells: list[str],
    mapping: list[str | None],
    header: list[str],
    ctx: Context,
    creating: Creating | None = None,
) -> Row:
    """The ``Row`` for the cells of file line ``number``."""
    return _parse(number, cells, _columns(mapping, header), mapping, header, ctx, creating)


def _columns(mapping: list[str | None], header: list[str]) -> list[tuple[int, str, str]]:
    """(index, field, column name) of the mapped columns."""
    return [
        (
            index,
            code,
            header[index] if index < len(header) and header[index] else f"column {index + 1}",
        )
        for index, code in enumerate(mapping)
        if code
    ]


def _parse(
    number: int,
    cells: list[str],
    columns: list[tuple[int, str, str]],
    mapping: list[str | None],
    header: list[str],
    ctx: Context,
    creating: Creating | None,
) -> Row:
    row = Row(number)
    contact: dict[str, Any] = {}
    address: dict[str, str] = {}
    custom: dict[str, Any] = {}
    count = len(cells)
    for index, code, column in columns:
        value = cells[index] if index < count else ""
        if value[:1] == "#" and value.upper() in SPREADSHEET_ERRORS:
            row.fail(column, value, "The spreadsheet shows an error here; correct the formula.")
            continue
        if code == "phone" or code == "contact.phone":
            target = row.phones if code == "phone" else contact.setdefault("phones", [])
            _phones(row, column, value, target, ctx.region)
            continue
        if code == "email" or code == "contact.email":
            target = row.emails if code == "email" else contact.setdefault("emails", [])
            _emails(row, column, value, target)
            continue
        if code == "tags":
            # Tags are one whatever their case: "VIP, vip" is one tag.
            known = {t.casefold() for t in row.tags}
            for tag in _SPLIT_TAGS.split(value):
                tag = tag.strip()[:60]
                if tag and tag.casefold() not in known:
                    known.add(tag.casefold())
                    row.tags.append(tag)
            continue
        if not value:
            continue
        if code.startswith("custom:"):
            custom_field = ctx.custom.get(code[7:])
            if custom_field is None:
                # Turned off since the mapping was chosen: the value has nowhere to go.
                row.fail(column, value, f"The custom field {code[7:]} is no longer in use.")
                continue
            if custom_field.kind == "date":
                # The same date formats as for the next contact date.
                parsed = parse_date(value)
                if parsed is None:
                    row.fail(column, value, "Enter a date as YYYY-MM-DD or DD.MM.YYYY.")
                else:
                    custom[custom_field.key] = parsed.isoformat()
                continue
            try:
                custom[custom_field.key] = coerce(custom_field, value)
            except ValueError as exc:
                row.fail(column, value, str(exc))
        elif code.startswith("address."):
            part = code[8:]
            if len(value) > ADDRESS_LIMITS[part]:
                row.fail(column, value, f"Use at most {ADDRESS_LIMITS[part]} characters.")
            address[part] = value
        elif code.startswith("contact."):
            _contact_cell(row, column, value, code[8:], contact)
        else:
            _client_cell(row, column, value, code, ctx)
    _finish(row, custom, address, contact, mapping, header, ctx)
    if not row.errors:
        row.keys()  # worked out here, in the helper process when there is one
        if creating is not None:
            row.new = new_rows(row, ctx, creating)
            row.lean = creating.lean
    return row


def _lean_row(number, client_id, tags, errors, custom_required, keys, new) -> Row:  # noqa: ANN001
    return Row(
        number,
        client_id=client_id,
        tags=tags,
        errors=errors,
        custom_required=custom_required,
        new=new,
        _keys=keys,
    )


def parse_batch(
    batch: list[tuple[int, list[str]]],
    mapping: list[str | None],
    header: list[str],
    ctx: Context,
    creating: Creating | None = None,
) -> list[Row]:
    """``parse`` for every (line, cells) of a batch; runs in a helper process too."""
    columns = _columns(mapping, header)
    return [
        _parse(number, cells, columns, mapping, header, ctx, creating) for number, cells in batch
    ]


def new_rows(row: Row, ctx: Context, creating: Creating) -> New:
    client = row.client
    get = client.get
    name = get("name", "")
    next_contact = get("next_contact_on")
    values = (
        get("kind", "company"),
        name,
        get("name_key", ""),
        get("legal_name"),
        get("tax_id"),
        get("tax_id_key"),
        get("industry"),
        get("status") or ctx.default_status,
        get("category"),
        get("source"),
        get("owner_id") or creating.default_owner_id,
        get("notes", ""),
        None if next_contact is None else next_contact.isoformat(),
        get("website"),
        _json_object(get("custom")),
    )
    words = [
        name,
        get("legal_name") or "",
        get("tax_id") or "",
        *map(email_words, row.emails),
        *(p[1:] for p in row.phones),
        *row.tags,
    ]
    person = contact_phones = contact_emails = None
    contact_history = ""
    if row.contact:
        c = row.contact
        person = tuple(c.get(k, "") for k in CONTACT_KEYS)
        contact_phones = c.get("phones", [])
        contact_emails = c.get("emails", [])
        # The history entry of the contact person (as json.dumps writes {key: [None, value]}),
        # but for the client id (known on writing): "<id>]}" is appended then.
        contact_history = "{"
        for k in CONTACT_KEYS:
            if c.get(k):
                contact_history += f'"{k}": [null, {_json_value(c[k])}], '
        contact_history += '"client_id": [null, '
        words += [" ".join(person[:3]), *map(email_words, contact_emails)]
        words += [p[1:] for p in contact_phones]
    address = None
    if row.address:
        address = tuple(row.address.get(k, "") for k in ADDRESS_KEYS)
    return New(
        client=values,
        phones=[(p, p[:0:-1]) for p in row.phones],
        emails=row.emails,
        address=address,
        contact=person,
        contact_phones=[(p, p[:0:-1]) for p in contact_phones or ()],
        contact_emails=contact_emails or [],
        # json.dumps({"name": [None, name], "import": [None, "<label>, line <n>"]}), written out
        history=(
            f'{{"name": [null, {_json_value(name)}], '
            f'"import": [null, {_json_text(f"{creating.label}, line {row.number}")}]}}'
        ),
        contact_history=contact_history,
        document=normalise.name_key(" ".join(words)),
    )


def _json_object(value: dict | None) -> str:
    """json.dumps(value or {}), without the encoder for the usual empty one."""
    return json.dumps(value) if value else "{}"


def _json_value(value: Any) -> str:
    """json.dumps(value): a string (the usual case) straight through the C string encoder."""
    return _json_text(value) if type(value) is str else json.dumps(value)


def _phones(row: Row, column: str, value: str, target: list[str], region: str) -> None:
    for part in _SPLIT_PHONES.split(value):
        part = part.strip()
        if not part:
            continue
        try:
            e164 = normalise.phone(part, region)
        except ValueError as exc:
            e164 = _international_without_plus(part)
            if e164 is None:
                row.fail(column, part, str(exc))
                continue
        if e164 not in target:
            target.append(e164)


def _international_without_plus(value: str) -> str | None:
    """A spreadsheet keeps "+373 69 123456" typed as a number as 37369123456: accept such
    digits as an international number when they form a valid one."""
    if not (value.isascii() and value.isdigit()) or not 11 <= len(value) <= 15:
        return None
    try:
        parsed = phonenumbers.parse("+" + value, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _emails(row: Row, column: str, value: str, target: list[str]) -> None:
    parts = [p.strip() for p in _SPLIT_EMAILS.split(value)]
    if any(p.count("@") > 1 for p in parts):
        parts = value.split()  # "a@x.md b@y.md": addresses separated by spaces only
    for part in parts:
        if not part:
            continue
        try:
            email = normalise.email(part)
        except ValueError as exc:
            row.fail(column, part, str(exc))
            continue
        if email not in target:
            target.append(email)


def _client_cell(row: Row, column: str, value: str, code: str, ctx: Context) -> None:
    client = row.client
    if code == "id":
        digits = value[:-2] if value.endswith(".0") else value
        if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
            row.fail(column, value, "A client id is a whole number.")
        else:
            row.client_id = int(digits)
    elif code == "kind":
        kind = KIND_WORDS.get(_lookup_key(value))
        if kind is None:
            row.fail(column, value, f"Choose one of: {', '.join(KINDS)}.")
        else:
            client["kind"] = kind
    elif code in TEXT_LIMITS:
        if len(value) > TEXT_LIMITS[code]:
            row.fail(column, value, f"Use at most {TEXT_LIMITS[code]} characters.")
        client[code] = value
    elif code == "tax_id":
        problem = validate_tax_id(value, ctx.tax_country)
        if problem:
            row.fail(column, value, problem)
        client["tax_id"] = value
    elif code in ("status", "source"):
        lookup = ctx.statuses if code == "status" else ctx.sources
        option = lookup.get(_lookup_key(value))
        if option is None:
            codes = ctx.status_codes if code == "status" else ctx.source_codes
            row.fail(column, value, f"Unknown {code} {value!r}; choose one of: {', '.join(codes)}.")
        client[code] = option
    elif code == "owner":
        owner_id = ctx.users.get(_lookup_key(value))
        if _lookup_key(value) in ctx.shared_names:
            owner_id = None
            row.fail(column, value, "Several active users have this name; give the e-mail.")
        elif owner_id is None:
            row.fail(column, value, "No active user has this e-mail or name.")
        client["owner_id"] = owner_id
    elif code == "next_contact_on":
        parsed = parse_date(value)
        if parsed is None:
            row.fail(column, value, "Enter a date as YYYY-MM-DD or DD.MM.YYYY.")
        client["next_contact_on"] = parsed


def _contact_cell(row: Row, column: str, value: str, part: str, contact: dict) -> None:
    if part == "full_name":
        parts = split_full_name(value)
        for name, text in parts.items():
            if len(text) > CONTACT_LIMITS[name]:
                limit = CONTACT_LIMITS[name]
                row.fail(column, value, f"Use at most {limit} characters for each part of a name.")
                break
        contact.update(parts)
        return
    if len(value) > CONTACT_LIMITS[part]:
        row.fail(column, value, f"Use at most {CONTACT_LIMITS[part]} characters.")
    contact[part] = value


def _finish(
    row: Row,
    custom: dict[str, Any],
    address: dict[str, str],
    contact: dict[str, Any],
    mapping: list[str | None],
    header: list[str],
    ctx: Context,
) -> None:
    client = row.client
    if "name" in mapping and not client.get("name"):
        column = header[mapping.index("name")] or f"column {mapping.index('name') + 1}"
        if all(problem[0] != column for problem in row.errors):
            row.fail(column, "", "Enter a name.")
    if client.get("name"):
        client["name_key"] = normalise.name_key(client["name"])
    if client.get("tax_id"):
        client["tax_id_key"] = normalise.tax_id(client["tax_id"])
    if custom:
        client["custom"] = custom
    row.custom_required = [
        f for f in ctx.custom.values() if f.required and custom.get(f.key) in (None, "", [])
    ]
    if address:
        row.address = address
    if contact:
        names = [contact.get(k) for k in ("first_name", "middle_name", "last_name")]
        if not any(names):
            row.fail("contact", "", "Give the contact person's first or last name.")
        row.contact = contact


def missing_required(row: Row, mapping: list[str | None], header: list[str]) -> None:
    """A name and the required custom fields are needed when a row creates a client."""
    if "name" not in mapping:  # only the CRM id is mapped: the row can only update
        index = mapping.index("id")
        value = "" if row.client_id is None else str(row.client_id)
        row.fail(
            header[index] or f"column {index + 1}",
            value,
            "No client in the CRM matches this row, and a new client needs a name: map the "
            "column that holds it.",
        )
        return
    for custom_field in row.custom_required:
        code = f"custom:{custom_field.key}"
        column = header[mapping.index(code)] if code in mapping else code
        row.fail(column or code, "", f"{custom_field.label} is required.")


def split_full_name(value: str) -> dict[str, str]:
    """Name parts: "Иванов Иван Петрович" is last, first, patronymic; "Anna Maria Popescu"
    is first, middle, last."""
    words = value.split()
    if not words:
        return {}
    if len(words) == 3 and _PATRONYMIC.search(words[2]):
        return {"last_name": words[0], "first_name": words[1], "middle_name": words[2]}
    if len(words) == 1:
        return {"first_name": words[0]}
    return {
        "first_name": words[0],
        "middle_name": " ".join(words[1:-1]),
        "last_name": words[-1],
    }


def parse_date(value: str) -> date | None:
    text = value.strip()
    for pattern in ("%Y-%m-%d", "%d.%m.%Y", "%Y-%m-%d %H:%M:%S", "%d.%m.%y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None
