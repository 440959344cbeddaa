"""Loads the demo data and prints how to reach it: used by ``scripts/run``.

A client secret can be shown only once, so the demo credentials (the API client's, and the
password of the admin web UI's ``demo`` user) are kept in ``.cible-demo.json`` (git-ignored) at
creation and printed from there on later runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson

from cible.config import get_settings
from cible.demo import DEMO_TENANT, install_demo
from cible.errors import NotFound
from cible.store import Database
from cible.ui import users

CREDENTIALS = Path(".cible-demo.json")


def main() -> int:
    settings = get_settings()
    db = Database(settings.database_url)
    try:
        result = install_demo(db)
        org = result.tenant.organization_id
        if result.created:
            data = {"clientId": result.client_id, "clientSecret": result.client_secret}
            CREDENTIALS.write_bytes(orjson.dumps(data))
            os.chmod(CREDENTIALS, 0o600)
        _ensure_ui_user(db)
    finally:
        db.dispose()
    host = os.environ.get("CIBLE_HOST", "127.0.0.1")
    port = os.environ.get("CIBLE_PORT", "8080")
    base = f"http://{host}:{port}"
    if not CREDENTIALS.exists():
        print(f"Cible on {base} (demo credentials were created elsewhere; see `cible clients`)")
        return 0
    creds = orjson.loads(CREDENTIALS.read_bytes())
    cid, secret = creds["clientId"], creds["clientSecret"]
    ui_password = creds.get("uiPassword", "(unknown: see `cible users create`)")
    print(
        f"""
Cible is starting on {base}  (API docs: {base}/docs)

Admin web UI:     {base}/ui/
  username:       {UI_USER}
  password:       {ui_password}

Demo tenant:      demo   (organization id {org})
Demo API client:  {cid}
Demo secret:      {secret}

Get a token:
  curl -s -X POST {base}/ims/token/v3 -d grant_type=client_credentials \\
       -d client_id={cid} -d client_secret={secret}
List the demo offers (put the access_token in TOKEN):
  curl -s {base}/demo/target/offers -H "Authorization: Bearer $TOKEN" -H "X-Api-Key: {cid}"
Ask for a decision, as Adobe's SDKs do (live A/B test on mbox "hero", XT on "banner"):
  curl -s -X POST "{base}/rest/v1/delivery?client=demo&sessionId=s1" \\
       -H 'Content-Type: application/json' \\
       -d '{{"context":{{"channel":"web","address":{{"url":"https://shop.example/?campaign=spring"}}}},
            "execute":{{"mboxes":[{{"index":0,"name":"hero"}},{{"index":1,"name":"banner"}}]}}}}'
""",
        flush=True,
    )
    return 0


UI_USER = "demo"


def _ensure_ui_user(db: Database) -> None:
    """The admin web UI's ``demo`` user (approver on the demo tenant), once; its password is
    added to the credentials file."""
    with db.session() as session:
        try:
            users.get_user(session, UI_USER)
            return
        except NotFound:
            password = users.new_password()
            users.create_user(
                session,
                username=UI_USER,
                password=password,
                tenant_code=DEMO_TENANT,
                role="approver",
            )
    stored = orjson.loads(CREDENTIALS.read_bytes()) if CREDENTIALS.exists() else {}
    CREDENTIALS.write_bytes(orjson.dumps({**stored, "uiPassword": password}))
    os.chmod(CREDENTIALS, 0o600)


if __name__ == "__main__":
    sys.exit(main())
