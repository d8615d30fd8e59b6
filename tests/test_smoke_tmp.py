from tests.conftest import login, api_token, enable

def test_smoke(app, client):
    r = client.get("/")
    assert r.status_code == 302, r.data
    r = login(client)
    assert r.status_code == 302, r.data
    r = client.get("/")
    assert r.status_code == 200, r.data
    for p in ["/admin/users", "/admin/teams", "/admin/roles", "/admin/roles/new", "/admin/plugins/", "/admin/settings/", "/admin/audit/", "/profile", "/admin/users/new", "/admin/users/1"]:
        r = client.get(p)
        assert r.status_code == 200, (p, r.data[:3000])
    enable(app, "hello")
    r = client.get("/hello/")
    assert r.status_code == 200, r.data
    h = api_token(app.test_client())
    c = app.test_client()
    r = c.get("/api/v1/plugins", headers=h)
    assert r.status_code == 200, r.data
    r = c.get("/api/v1/openapi.json")
    assert r.status_code == 200, r.data
    r = c.get("/api/v1/hello/greetings", headers=h)
    assert r.status_code == 200, r.data
