"""Loads the demo data and prints how to reach it: used by ``scripts/run``.

A client secret can be shown only once, so the demo credentials are kept in
``.cible-demo.json`` (git-ignored) at creation and printed from there on later runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson

from cible.config import get_settings
from cible.demo import install_demo
from cible.store import Database

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
    print(
        f"""
Cible is starting on {base}  (API docs: {base}/docs)

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


if __name__ == "__main__":
    sys.exit(main())
