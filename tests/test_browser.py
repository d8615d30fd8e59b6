"""End to end: the real `crm run` server (gunicorn, two workers) driven by Debian's chromium.

An administrator signs in, toggles the "hello" test plugin on the plugins page and sees its
menu entry and pages appear and disappear; the broken test plugin is shown as failed.
Plugin toggles reach the other gunicorn worker within CRM_PLUGIN_STATE_TTL (default 0.5 s),
so checks that may land on that worker reload the page until they hold (bounded).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "browser-pass-123"
STARTUP_TIMEOUT = 30.0
EXPECT_TIMEOUT = 5_000  # ms, for each Playwright expectation
PROPAGATION_TIMEOUT = 10.0  # s, for a toggle to reach every worker
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen) -> None:
    """Stop gunicorn's master and workers: SIGTERM to the process group, SIGKILL if needed."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


# The environment `crm run` got (set by the ``server`` fixture), for a `crm worker` beside it.
SERVER_ENV: dict[str, str] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """Base URL of a freshly initialised CRM served by `crm run --workers 2`."""
    if os.environ.get("CRM_TEST_DATABASE_URL"):
        pytest.skip("browser tests run on SQLite only (CRM_TEST_DATABASE_URL is set)")
    crm = Path(sys.executable).parent / "crm"
    if not crm.exists():
        pytest.skip(f"the `crm` command is not installed beside {sys.executable}")
    tmp = tmp_path_factory.mktemp("browser")
    env = dict(os.environ)
    env.pop("SECRET_KEY", None)
    env.update(
        CRM_INSTANCE_PATH=str(tmp / "instance"),
        DATABASE_URL=f"sqlite:///{tmp / 'crm.sqlite3'}",
        CRM_JOBS_SQLITE_PATH=str(tmp / "instance" / "jobs.sqlite3"),
        PYTHONUNBUFFERED="1",
    )
    init = subprocess.run(
        [str(crm), "init", "--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert init.returncode == 0, f"crm init failed:\n{init.stdout}\n{init.stderr}"
    SERVER_ENV.clear()
    SERVER_ENV.update(env, CWD=str(tmp))

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(crm), "run", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the workers die with it
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"crm run exited with {proc.returncode}:\n{_log_tail(log_path)}")
            try:
                with urllib.request.urlopen(f"{base_url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"/health did not answer 200 within {STARTUP_TIMEOUT:.0f} s:\n"
                    f"{_log_tail(log_path)}"
                )
            time.sleep(0.1)  # startup poll of a subprocess, not of the page
        yield base_url
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (no `chromium` on PATH)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(base_url=server)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def eventually(
    check: Callable[[], None], reload: Callable[[], None], timeout: float = PROPAGATION_TIMEOUT
) -> None:
    """Run ``check`` (Playwright expectations); on failure ``reload`` and try again, bounded.

    A toggle done in one gunicorn worker reaches the other within CRM_PLUGIN_STATE_TTL, and
    a reload may be answered by either worker.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        reload()


def _sign_in(page) -> None:
    """Sign in as the administrator on the login page."""
    page.goto("/login")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _status_becomes(page, path: str, status: int) -> None:
    """GET ``path`` in the browser until it answers ``status`` (bounded); assert on the last."""
    deadline = time.monotonic() + PROPAGATION_TIMEOUT
    while True:
        response = page.goto(path)
        assert response is not None
        if response.status == status or time.monotonic() > deadline:
            break
    assert response.status == status, f"GET {path} answered {response.status}, not {status}"


def test_admin_toggles_plugin_in_browser(page):
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT)
    menu = page.get_by_test_id("main-menu")
    hello_link = menu.get_by_role("link", name="Hello", exact=True)

    def on_dashboard(check: Callable[[], None]) -> None:
        page.goto("/")
        eventually(check, reload=lambda: page.goto("/"))

    # Sign in.
    page.goto("/login")
    page.locator("#email").fill(ADMIN_EMAIL)
    page.locator("#password").fill(ADMIN_PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/login"))
    expect(menu).to_be_visible()

    # The plugins page: hello starts disabled, broken has failed to import.
    page.goto("/admin/plugins/")
    hello_row = page.locator('tr[data-plugin="hello"]')
    broken_row = page.locator('tr[data-plugin="broken"]')
    expect(hello_row.get_by_test_id("state")).to_have_text("disabled")
    expect(broken_row.get_by_test_id("state")).to_have_text("failed")
    expect(broken_row.get_by_test_id("error")).to_contain_text("import failed")
    expect(hello_link).to_have_count(0)

    # Enable hello: its menu entry appears.
    hello_row.get_by_role("button", name="Enable").click()
    expect(page.locator(".alert-success")).to_contain_text("Plugin Hello is enabled.")
    expect(hello_row.get_by_test_id("state")).to_have_text("enabled")
    on_dashboard(lambda: expect(hello_link).to_have_count(1, timeout=500))
    expect(hello_link).to_be_visible()
    expect(hello_link).to_have_attribute("href", "/hello/")

    # Disable hello: flash, badge, no menu entry, its pages answer 404.
    page.goto("/admin/plugins/")
    hello_row.get_by_role("button", name="Disable").click()
    expect(page).to_have_url(re.compile(r"/admin/plugins/$"))
    expect(page.locator(".alert-success")).to_have_text(
        "Plugin Hello is disabled; its data is kept."
    )
    expect(hello_row.get_by_test_id("state")).to_have_text("disabled")
    expect(hello_row.get_by_role("button", name="Enable")).to_be_visible()
    on_dashboard(lambda: expect(hello_link).to_have_count(0, timeout=500))
    expect(menu).to_be_visible()
    _status_becomes(page, "/hello/", 404)

    # Enable it again: everything is back.
    page.goto("/admin/plugins/")
    hello_row.get_by_role("button", name="Enable").click()
    expect(page.locator(".alert-success")).to_contain_text("Plugin Hello is enabled.")
    expect(hello_row.get_by_test_id("state")).to_have_text("enabled")
    on_dashboard(lambda: expect(hello_link).to_have_count(1, timeout=500))
    _status_becomes(page, "/hello/", 200)
    expect(page.get_by_role("heading", name="Hello")).to_be_visible()
    expect(hello_link).to_have_attribute("aria-current", "page")


def test_a_manager_finds_a_client_by_phone_sees_the_duplicate_and_merges_it(page):
    """Issue 3's walk-through: create a company with two contact persons, find it by a phone
    typed with spaces and brackets, be warned when entering it again, merge, see history."""
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT)
    _sign_in(page)

    page.goto("/clients/new")
    page.fill("#name", "Fereastra Nord SRL")
    page.locator("input[name=phone_value]").first.fill("+373 22 555 123")
    page.locator("input[name=email_value]").first.fill("office@fereastra.md")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("client-name")).to_have_text("Fereastra Nord SRL")
    for first, last in (("Ion", "Rusu"), ("Maria", "Ceban")):
        page.locator("summary", has_text="Add a contact person").click()
        page.fill("#first_name", first)
        page.fill("#last_name", last)
        page.get_by_role("button", name="Add contact person").click()
        expect(page.get_by_test_id("contacts")).to_contain_text(f"{first} {last}")

    page.fill("#global-search", "(022) 555-123")
    page.keyboard.press("Enter")
    result = page.get_by_test_id("search-results").get_by_role("link", name="Fereastra Nord SRL")
    expect(result).to_be_visible()

    page.goto("/clients/new")
    page.fill("#name", "FEREASTRA-NORD")
    page.locator("input[name=phone_value]").first.fill("+373 (22) 555-123")
    page.get_by_role("button", name="Save").click()
    warning = page.get_by_test_id("duplicates")
    expect(warning).to_contain_text("Fereastra Nord SRL")
    expect(warning).to_contain_text("same phone")
    page.check("#confirm_duplicates")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("client-name")).to_have_text("FEREASTRA-NORD")
    duplicate_url = page.url

    result.page.goto("/clients/?q=fereastra")
    page.get_by_test_id("clients").get_by_role("link", name="Fereastra Nord SRL").click()
    original_id = page.url.rstrip("/").split("/")[-1]
    duplicate_id = duplicate_url.rstrip("/").split("/")[-1]
    page.fill("#merge-with", duplicate_id)
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_test_id("merge")).to_contain_text("FEREASTRA-NORD")
    page.get_by_role("button", name="Merge").click()
    expect(page.get_by_test_id("client-name")).to_have_text("Fereastra Nord SRL")
    assert page.url.rstrip("/").endswith(f"/clients/{original_id}")
    expect(page.get_by_test_id("timeline")).to_contain_text("merge")
    expect(page.get_by_test_id("contacts")).to_contain_text("Ion Rusu")
    expect(page.get_by_test_id("contacts")).to_contain_text("Maria Ceban")


def test_a_manager_records_a_call_and_a_follow_up_task_and_sees_both(page):
    """Issue 4's walk-through: record a call on a client card, create a follow-up task from
    the card, and see both in the client's timeline and the task in "My tasks"."""
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT)
    _sign_in(page)

    page.goto("/clients/new")
    page.fill("#name", "Ferestre Sud SRL")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("client-name")).to_have_text("Ferestre Sud SRL")
    card_url = page.url

    page.locator("summary", has_text="Record a call / meeting / note").click()
    form = page.get_by_test_id("record-interaction")
    form.locator("select[name=kind]").select_option("call")
    form.locator("select[name=direction]").select_option("out")
    form.locator("input[name=subject]").fill("Offer for 12 windows")
    form.locator("input[name=outcome]").fill("Call back with the price")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("Offer for 12 windows")

    page.get_by_role("link", name="New task").click()
    page.fill("#title", "Call back with the price")
    page.fill("#due_at", "2030-03-04T10:30")
    page.get_by_role("button", name="Save").click()
    assert page.url == card_url
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text("Call back with the price")
    expect(timeline).to_contain_text("Offer for 12 windows")
    expect(page.get_by_test_id("client-tasks")).to_contain_text("Call back with the price")

    page.goto("/tasks/")
    task = page.get_by_test_id("task").filter(has_text="Call back with the price")
    expect(task).to_be_visible()
    expect(task).to_contain_text("2030-03-04")


def _api_post(base_url: str, path: str, body: dict, token: str | None = None) -> dict:
    request = urllib.request.Request(
        base_url + path,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _api_get(base_url: str, path: str, token: str):
    request = urllib.request.Request(base_url + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_a_deal_dragged_across_the_board_gets_the_stages_task(page, server):
    """Issue 5's board: "Measurements" has a rule that gives the deal's owner a task. Drag
    the deal from "First call" to "Measurements" on the kanban board; with `crm worker`
    running, the task appears on the deal's client card and in My tasks."""
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT)
    token = _api_post(
        server, "/api/v1/auth/token", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )["token"]
    [pipeline] = [p for p in _api_get(server, "/api/v1/sales/pipelines", token)]
    stages = {s["name"]: s["id"] for s in pipeline["stages"]}
    _api_post(
        server,
        "/api/v1/task-templates",
        {
            "code": "measure",
            "title": "Measure the windows",
            "due_amount": 1,
            "due_unit": "working_days",
        },
        token,
    )
    _api_post(
        server,
        f"/api/v1/sales/stages/{stages['Measurements']}/rules",
        {"action": "task", "params": {"template": "measure", "assignee": "owner"}},
        token,
    )
    client = _api_post(server, "/api/v1/clients", {"name": "Casa Luminii SRL"}, token)
    deal = _api_post(
        server,
        "/api/v1/sales/deals",
        {
            "title": "12 windows for Casa Luminii",
            "client_id": client["id"],
            "pipeline_id": pipeline["id"],
        },
        token,
    )

    env = dict(SERVER_ENV)
    cwd = env.pop("CWD")
    crm = Path(sys.executable).parent / "crm"
    worker = subprocess.Popen(
        [str(crm), "worker", "--workers", "1", "--no-periodic"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _sign_in(page)
        page.goto(f"/sales/deals/board?pipeline={pipeline['id']}")
        first = page.get_by_test_id(f"column-{stages['First call']}")
        measurements = page.get_by_test_id(f"column-{stages['Measurements']}")
        card = page.get_by_test_id(f"deal-{deal['id']}")
        expect(first).to_contain_text("12 windows for Casa Luminii")
        card.drag_to(measurements)
        expect(measurements.get_by_test_id(f"deal-{deal['id']}")).to_be_visible()
        expect(measurements.get_by_test_id("count")).to_have_text("1")
        expect(first.get_by_test_id("count")).to_have_text("0")
        # The move was saved, not only drawn: a fresh board shows it in its new column.
        page.reload()
        expect(measurements).to_contain_text("12 windows for Casa Luminii")

        def task_is_listed() -> None:
            expect(
                page.get_by_test_id("task").filter(has_text="Measure the windows")
            ).to_be_visible(timeout=1_000)

        page.goto("/tasks/")
        eventually(task_is_listed, page.reload, timeout=30)
        page.goto(f"/clients/{client['id']}")
        expect(page.get_by_test_id("timeline")).to_contain_text("Measurements")
    finally:
        _stop(worker)


def test_a_new_deals_client_is_picked_from_suggestions_while_typing(page, server):
    """The deal form's client field suggests the clients the search finds as the user types
    (picker.js asks /clients/pick); the picked "Name (#id)" is the deal's client."""
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT)
    token = _api_post(
        server, "/api/v1/auth/token", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )["token"]
    client = _api_post(server, "/api/v1/clients", {"name": "Ferestre Moldova SRL"}, token)
    _sign_in(page)
    page.goto("/sales/deals/new")
    page.fill("#title", "Windows for the new office")
    page.locator("#client_id").press_sequentially("ferestre", delay=20)
    label = f"Ferestre Moldova SRL (#{client['id']})"
    expect(page.locator(f'#client_id-options option[value="{label}"]')).to_be_attached()
    page.fill("#client_id", label)  # what choosing the suggestion puts in the field
    page.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_contain_text("Windows for the new office")
    expect(page.locator("main")).to_contain_text("Ferestre Moldova SRL")


def test_a_duplicate_scan_runs_in_the_worker_while_the_page_follows_it(page, server):
    """Start a scan with no worker running: the page shows it waiting with a progress bar.
    Start `crm worker`: the page's script follows the scan and shows the pairs when it is
    done, without the user reloading. Then dismiss the pair."""
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT)
    token = _api_post(
        server, "/api/v1/auth/token", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )["token"]
    for name in ("Livada Verde SRL", "LIVADA-VERDE"):
        _api_post(server, "/api/v1/clients", {"name": name}, token)

    _sign_in(page)
    page.get_by_role("link", name="Duplicates").click()
    page.get_by_role("button", name="Scan for duplicates").click()
    expect(page.get_by_test_id("scan-status")).to_have_text("Waiting for a worker")
    expect(page.locator("progress#scan-progress")).to_be_visible()
    expect(page.get_by_role("button", name="Scan for duplicates")).to_be_disabled()

    env = dict(SERVER_ENV)
    cwd = env.pop("CWD")
    crm = Path(sys.executable).parent / "crm"
    worker = subprocess.Popen(
        [str(crm), "worker", "--workers", "1", "--no-periodic"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        pair = page.get_by_test_id("pair")
        expect(pair).to_have_count(1, timeout=30_000)  # no reload by the test: the script's
        expect(page.get_by_test_id("scan-status")).to_have_text("Finished")
        expect(pair).to_contain_text("Livada Verde SRL")
        expect(pair).to_contain_text("LIVADA-VERDE")
        expect(pair).to_contain_text("similar name")
        pair.get_by_role("button", name="Not duplicates").click()
        expect(page.get_by_test_id("pair")).to_have_count(0)
        expect(page.get_by_test_id("pairs")).to_contain_text("No pairs to review.")
    finally:
        _stop(worker)


def test_an_import_runs_in_the_background_with_a_progress_bar(page, server, tmp_path):
    """Upload a semicolon CSV in Windows-1251, check the guessed columns, start, and watch a
    real `crm worker` import it while the page follows the progress."""
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT)
    rows = ["Название;Телефон;E-mail"]
    rows += [f"Компания {n:04d} ООО;+373 22 {100000 + n};office{n}@example.md" for n in range(1500)]
    rows.append("Без почты;;not-an-email")
    csv_file = tmp_path / "clients.csv"
    csv_file.write_bytes(("\r\n".join(rows) + "\r\n").encode("cp1251"))

    _sign_in(page)
    page.goto("/clients/")
    page.get_by_test_id("import-link").click()
    page.set_input_files("#file", str(csv_file))
    page.get_by_role("button", name="Upload and map columns").click()
    expect(page.locator("#column-0")).to_have_value("name")
    expect(page.locator("#column-1")).to_have_value("phone")
    expect(page.locator("#column-2")).to_have_value("email")
    expect(page.get_by_test_id("mapping-form")).to_contain_text("Компания 0000 ООО")
    page.get_by_role("button", name="Start the import").click()
    expect(page.get_by_test_id("import-progress")).to_be_visible()

    env = dict(SERVER_ENV)
    cwd = env.pop("CWD")
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "crm"), "worker", "--workers", "1", "--no-periodic"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # The page polls the worker's progress and shows the summary when it is done.
        expect(page.get_by_test_id("import-summary")).to_be_visible(timeout=60_000)
        expect(page.get_by_test_id("created")).to_have_text("1500")
        expect(page.get_by_test_id("failed")).to_have_text("1")
        expect(page.get_by_test_id("issues")).to_contain_text("not-an-email")
    finally:
        _stop(worker)

    page.fill("#global-search", "022 101 499")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("search-results")).to_contain_text("Компания 1499 ООО")
