"""The Subscription API (webhooks.md): create, read, search, delete, $status, $deliveries, $resend,
what it refuses, and the SSRF guard on subscriber URLs. Delivery itself: test_webhooks_delivery.py."""

import asyncio

import pytest

from app.services import services
from app.subscriptions import outbound
from app.subscriptions.outbound import OutboundPolicy, Refused
from app.subscriptions.resources import SECRET_EXTENSION_URL
from app.subscriptions.topics import RED_FLAG_DETECTED, TRIAGE_COMPLETED
from tests.support import FHIR_JSON, assert_fhir_response, assert_valid_r4
from tests.webhook_support import secret, secret_of, subscribe, subscription_body

RECEIVER = "http://127.0.0.1:9/hook"  # allowlisted in the test app; nothing needs to listen here


def post(client, body, **headers):
    return client.post("/fhir/Subscription", json=body, headers={"Content-Type": FHIR_JSON, **headers})


def stored_subscriptions(app) -> int:
    from sqlalchemy import func, select

    from app.store.tables import WebhookSubscription

    with services(app).engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(WebhookSubscription)).scalar_one()


def test_create_answers_201_with_a_generated_secret_shown_only_once(client):
    r = post(client, subscription_body(RECEIVER, topic=RED_FLAG_DETECTED, filters=("CarePlan?patient=Patient/p7",)))
    created = assert_fhir_response(r, 201, "Subscription")
    assert r.headers["location"] == f"/fhir/Subscription/{created['id']}" and r.headers["etag"] == 'W/"1"'
    assert created["status"] == "requested" and created["criteria"] == RED_FLAG_DETECTED
    generated = secret_of(created)
    assert generated.startswith("whsec_") and len(generated) == len("whsec_") + 44  # 32 bytes, base64

    read = assert_fhir_response(client.get(r.headers["location"]), 200, "Subscription")
    assert "extension" not in read["channel"] and generated not in client.get(r.headers["location"]).text
    assert read["_criteria"] == created["_criteria"]
    searched = assert_fhir_response(client.get("/fhir/Subscription"), 200, "Bundle")
    assert searched["total"] == 1 and generated not in str(searched)


def test_a_client_secret_is_accepted_and_never_shown_again(client):
    own = secret()
    created = subscribe(client, RECEIVER, secret_value=own)
    assert secret_of(created) == own
    assert own not in client.get(f"/fhir/Subscription/{created['id']}").text
    minimal = post(client, subscription_body(RECEIVER, secret_value=secret()), Prefer="return=minimal")
    assert minimal.status_code == 201 and minimal.content == b"" and minimal.headers["location"]
    # without a secret of its own, the client gets the representation anyway: it is the only chance
    generated = post(client, subscription_body(RECEIVER), Prefer="return=minimal")
    assert secret_of(assert_fhir_response(generated, 201, "Subscription")).startswith("whsec_")


def test_search_by_status_read_and_delete(client, app):
    first = subscribe(client, RECEIVER)
    second = subscribe(client, RECEIVER, topic=RED_FLAG_DETECTED)
    bundle = assert_fhir_response(client.get("/fhir/Subscription", params={"status": "requested"}), 200, "Bundle")
    assert {e["resource"]["id"] for e in bundle["entry"]} == {first["id"], second["id"]}
    assert client.get("/fhir/Subscription", params={"status": "active,off"}).json()["total"] == 0
    assert_fhir_response(client.get("/fhir/Subscription", params={"status": "sleepy"}), 400, "OperationOutcome")

    assert client.delete(f"/fhir/Subscription/{first['id']}").status_code == 204
    assert_fhir_response(client.get(f"/fhir/Subscription/{first['id']}"), 404, "OperationOutcome")
    assert_fhir_response(client.delete(f"/fhir/Subscription/{first['id']}"), 404, "OperationOutcome")
    assert stored_subscriptions(app) == 1
    assert_fhir_response(client.put(f"/fhir/Subscription/{second['id']}", json={}), 405, "OperationOutcome")


def test_status_operation_answers_backport_status_parameters(client):
    created = subscribe(client, RECEIVER)
    bundle = assert_fhir_response(client.get(f"/fhir/Subscription/{created['id']}/$status"), 200, "Bundle")
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    status = bundle["entry"][0]["resource"]
    assert status["resourceType"] == "Parameters" and status["meta"]["profile"][0].endswith(
        "backport-subscription-status-r4"
    )
    values = {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in status["parameter"]}
    assert values["status"] == "requested" and values["type"] == "query-status"
    assert values["topic"] == TRIAGE_COMPLETED and values["events-since-subscription-start"] == "0"
    assert values["subscription"]["reference"].endswith(f"/Subscription/{created['id']}")
    every = assert_fhir_response(
        client.get("/fhir/Subscription/$status", params={"status": "requested"}), 200, "Bundle"
    )
    assert every["total"] == 1
    assert_fhir_response(client.get("/fhir/Subscription/nothing-here/$status"), 404, "OperationOutcome")


def test_delivery_log_and_resend_answer_parameters(client):
    created = subscribe(client, RECEIVER)
    log = assert_fhir_response(client.get(f"/fhir/Subscription/{created['id']}/$deliveries"), 200, "Parameters")
    parts = {p["name"]: p for p in log["parameter"][0]["part"]}
    assert parts["type"]["valueCode"] == "handshake" and parts["state"]["valueCode"] == "pending"
    assert parts["webhook-id"]["valueString"].startswith("msg_")
    assert_fhir_response(
        client.get(f"/fhir/Subscription/{created['id']}/$deliveries", params={"state": "lost"}), 400, "OperationOutcome"
    )
    resent = assert_fhir_response(client.post(f"/fhir/Subscription/{created['id']}/$resend"), 200, "Parameters")
    assert resent["parameter"] == [{"name": "resent", "valueInteger": 0}]
    assert_fhir_response(client.post("/fhir/Subscription/unknown/$resend"), 404, "OperationOutcome")


def _with(body, path, value):
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


@pytest.mark.parametrize(
    "change, where",
    [
        ((("criteria",), "https://example.org/SubscriptionTopic/admission"), "Subscription.criteria"),
        ((("channel", "type"), "email"), "Subscription.channel.type"),
        ((("channel", "payload"), "application/xml"), "Subscription.channel.payload"),
        (
            (
                ("channel", "_payload"),
                {
                    "extension": [
                        {
                            "url": "http://hl7.org/fhir/uv/subscriptions-backport/"
                            "StructureDefinition/backport-payload-content",
                            "valueCode": "empty",
                        }
                    ]
                },
            ),
            "Subscription.channel.payload.extension",
        ),
        ((("channel", "header"), ["webhook-signature: v1,forged"]), "Subscription.channel.header[0]"),
        ((("channel", "header"), ["Bad header\r\nInjected: 1"]), "Subscription.channel.header[0]"),
        (
            (
                ("_criteria",),
                {
                    "extension": [
                        {
                            "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                            "backport-filter-criteria",
                            "valueString": "CarePlan?category=urgent",
                        }
                    ]
                },
            ),
            "Subscription.criteria.extension",
        ),
        (
            (
                ("_criteria",),
                {
                    "extension": [
                        {
                            "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                            "backport-filter-criteria",
                            "valueString": "disposition=doctor",
                        }
                    ]
                },
            ),
            "Subscription.criteria.extension",
        ),  # red-flag-detected never reports a doctor disposition
    ],
)  # an unknown modifierExtension is not valid FHIR to this server: 400 (test_api_strict_fhir.py)
def test_subscriptions_this_server_cannot_serve_are_422(client, app, change, where):
    body = _with(subscription_body(RECEIVER, topic=RED_FLAG_DETECTED), *change)
    outcome = assert_fhir_response(post(client, body), 422, "OperationOutcome")
    assert where in [e for issue in outcome["issue"] for e in issue.get("expression", ())]
    assert stored_subscriptions(app) == 0


def test_a_malformed_secret_is_422_and_never_echoed(client):
    bad = "whsec_tooshort"
    r = post(client, subscription_body(RECEIVER, secret_value=bad))
    assert_fhir_response(r, 422, "OperationOutcome")
    assert bad not in r.text


@pytest.mark.parametrize(
    "body, status",
    [
        (
            {
                "resourceType": "Subscription",
                "status": "requested",
                "criteria": TRIAGE_COMPLETED,
                "channel": {"type": "rest-hook", "endpoint": RECEIVER},
            },
            400,
        ),  # R4 requires a reason
        ({"resourceType": "Patient"}, 400),
        ([1, 2], 400),
    ],
)
def test_what_is_not_an_r4_subscription_is_400(client, body, status):
    assert_fhir_response(post(client, body), status, "OperationOutcome")


# --- SSRF ------------------------------------------------------------------------------

REFUSED_ENDPOINTS = [
    "http://127.0.0.2:8080/hook",  # loopback, though 127.0.0.1 is allowlisted
    "https://[::1]/hook",
    "https://10.1.2.3/hook",
    "https://172.16.5.4/hook",
    "https://192.168.1.10/hook",  # private
    "https://100.64.0.1/hook",  # shared address space
    "https://169.254.169.254/latest/meta-data/",  # link-local metadata
    "https://[fd00:ec2::254]/",
    "https://168.63.129.16/",
    "https://100.100.100.200/",  # cloud metadata
    "https://[::ffff:10.0.0.1]/hook",
    "https://[::ffff:169.254.169.254]/",  # IPv4-mapped IPv6
    "https://[64:ff9b::7f00:1]/",
    "https://[2002:a00:1::]/",  # NAT64 and 6to4 wrapping private IPv4
    "https://[fe80::1]/hook",
    "https://0.0.0.0/hook",
    "https://[::]/hook",
    "https://224.0.0.1/hook",
    "https://240.0.0.1/hook",  # multicast, reserved
    "https://2130706434/hook",
    "https://0x7f.2/hook",  # 127.0.0.2 in other spellings
    "http://93.184.216.34/hook",  # public, but http
    "https://user:password@93.184.216.34/hook",  # credentials in the URL
    "ftp://93.184.216.34/hook",
]


@pytest.mark.parametrize("endpoint", REFUSED_ENDPOINTS)
def test_endpoints_reaching_internal_addresses_are_refused(client, app, endpoint):
    outcome = assert_fhir_response(post(client, subscription_body(endpoint)), 422, "OperationOutcome")
    assert outcome["issue"][0]["expression"] == ["Subscription.channel.endpoint"]
    assert "password" not in str(outcome)
    assert stored_subscriptions(app) == 0


@pytest.fixture
def fake_dns(monkeypatch):
    names = {
        "internal.example": ["10.0.0.7"],
        "metadata.example": ["169.254.169.254"],
        "loopback.example": ["127.0.0.1"],  # 127.0.0.1 is allowlisted as an address, not by this name...
        "mixed.example": ["93.184.216.34", "192.168.0.5"],  # one bad address is enough to refuse
        "public.example": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    }

    async def resolve(host, port):
        if host not in names:
            raise OSError("no such name")
        return names[host]

    monkeypatch.setattr(outbound, "_getaddrinfo", resolve)
    return names


@pytest.mark.parametrize("host", ["internal.example", "metadata.example", "mixed.example", "nowhere.example"])
def test_names_resolving_to_internal_addresses_are_refused(client, fake_dns, host):
    assert_fhir_response(post(client, subscription_body(f"https://{host}/hook")), 422, "OperationOutcome")


def test_a_public_name_is_accepted_and_the_checked_address_is_the_one_connected_to(client, fake_dns):
    created = subscribe(client, "https://public.example/hook?x=1")
    assert created["channel"]["endpoint"] == "https://public.example/hook?x=1"
    target = asyncio.run(OutboundPolicy().resolve("https://public.example:8443/hook?x=1"))
    assert str(target.url) == "https://93.184.216.34:8443/hook?x=1"
    assert target.host_header == "public.example:8443" and target.sni == "public.example"
    # ...while loopback.example, a name for an allowlisted address, is allowed
    assert (
        asyncio.run(OutboundPolicy.from_setting("127.0.0.1").resolve("http://loopback.example/")).url.host
        == "127.0.0.1"
    )


def test_the_allowlist_is_the_only_way_in(fake_dns):
    async def check(policy, url):
        try:
            await policy.resolve(url)
            return True
        except Refused:
            return False

    closed = OutboundPolicy.from_setting("")
    opened = OutboundPolicy.from_setting("internal.example, 10.9.0.0/16, [::1]")
    assert not asyncio.run(check(closed, "https://internal.example/"))
    assert not asyncio.run(check(closed, "https://loopback.example/"))
    assert asyncio.run(check(opened, "https://internal.example/"))
    assert asyncio.run(check(opened, "http://internal.example/"))  # allowlisted hosts may use http
    assert asyncio.run(check(opened, "http://10.9.4.4:8000/"))
    assert asyncio.run(check(opened, "http://[::1]:8000/"))
    assert not asyncio.run(check(opened, "https://10.10.4.4/"))
    assert not asyncio.run(check(opened, "https://metadata.example/"))
    assert not asyncio.run(check(opened, "http://93.184.216.34/"))  # public hosts need https


def test_secret_extension_url_is_the_documented_one():
    assert SECRET_EXTENSION_URL.endswith("/StructureDefinition/webhook-secret")
    assert_valid_r4(subscription_body(RECEIVER, secret_value=secret()))


def test_localhost_is_refused_unless_allowlisted():
    async def check(policy):
        try:
            await policy.resolve("https://localhost:8443/hook")
            return True
        except Refused:
            return False

    assert not asyncio.run(check(OutboundPolicy.from_setting("")))  # the real resolver
    assert asyncio.run(check(OutboundPolicy.from_setting("localhost")))
