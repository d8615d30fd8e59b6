from tests.plugins.sales.deals_helpers import new_client, sales_on, stages


def test_smoke(app, api):
    sales_on(app)
    client_id = new_client(app)
    r = api.get("/api/v1/sales/pipelines")
    assert r.status_code == 200, r.get_json()
    r = api.post("/api/v1/sales/deals", json={"title": "Windows", "client_id": client_id})
    assert r.status_code == 201, r.get_json()
    deal = r.get_json()
    s = stages(app)
    r = api.post(f"/api/v1/sales/deals/{deal['id']}/move", json={"stage_id": s["Measurements"]})
    assert r.status_code == 200, r.get_json()
