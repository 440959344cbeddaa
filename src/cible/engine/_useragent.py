"""Browser and platform from a User-Agent string, for the `user.*` context keys.

Adobe's on-device rules compare `user.browserType` (a lower-case browser name), `user.platform`
and `user.browserVersion` (major version, -1 when unknown). The Node SDK derives them with a short
ordered list of patterns (`target-tools/src/clientInfo.js`, mapped to Target's platform names in
`target-decisioning-engine/src/contextProvider.js`); the Python SDK uses the `user-agents` package
instead, which agrees on desktop Chrome, Firefox, Safari, Edge and IE and on the `mac` platform,
but names mobile browsers differently ("chrome mobile") and reports "Windows"/"Linux" capitalised.
Cible follows the Node SDK's vocabulary, which is also at.js's: browser types `edge`, `mobile
safari`, `safari`, `chrome`, `firefox`, `ie`, `unknown`; platforms `windows`, `mac`, `linux`,
`iOS`, `Android`, `Unix`, `unknown`. Two additions: Chrome and Firefox on iOS (`CriOS`, `FxiOS`)
count as `chrome` and `firefox`, which the Node patterns leave `unknown`.

Parsing is a handful of precompiled regular expressions, cached per distinct string.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["UNKNOWN", "parse_user_agent"]

UNKNOWN = "unknown"

# (browser type, pattern); the group named "v" holds the version. First match wins: Edge and
# Chromium-based browsers also say "Chrome/", every WebKit browser also says "Safari/".
_BROWSERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("edge", re.compile(r"\b(?:Edge|EdgiOS|EdgA|Edg)/(?P<v>[\w.]+)", re.IGNORECASE)),
    ("chrome", re.compile(r"\bCriOS/(?P<v>[\w.]+)", re.IGNORECASE)),
    ("firefox", re.compile(r"\bFxiOS/(?P<v>[\w.]+)", re.IGNORECASE)),
    (
        "mobile safari",
        re.compile(r"\bVersion/(?P<v>[\w.]+).+?Mobile/\w+\s+Safari", re.IGNORECASE),
    ),
    ("safari", re.compile(r"\bVersion/(?P<v>[\w.]+).+?(?:Mobile\s?)?Safari", re.IGNORECASE)),
    ("chrome", re.compile(r"\bChrome/v?(?P<v>[\w.]+)", re.IGNORECASE)),
    ("firefox", re.compile(r"\bFirefox/(?P<v>[\w.-]+)$", re.IGNORECASE)),
    ("ie", re.compile(r"(?:\bMS|\()IE\s(?P<v>[\w.]+)", re.IGNORECASE)),
    ("ie", re.compile(r"\bTrident\b.+rv[:\s](?P<v>[\w.]+).+like\sGecko", re.IGNORECASE)),
)

_PLATFORMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Android", re.compile(r"Android [0-9.]+;")),
    ("linux", re.compile(r" Linux ")),
    ("Unix", re.compile(r"FreeBSD|OpenBSD|CrOS")),
    ("windows", re.compile(r"[( ]Windows ")),
    ("mac", re.compile(r"Macintosh;")),
)

_LEADING_DIGITS = re.compile(r"\d+")


@lru_cache(maxsize=4096)
def parse_user_agent(user_agent: str) -> tuple[str, str, int]:
    """`(browserType, platform, browserVersion)` for a User-Agent string.

    >>> parse_user_agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    ...                  "(KHTML, like Gecko) Version/17.1 Safari/605.1.15")
    ('safari', 'mac', 17)
    >>> parse_user_agent("")
    ('unknown', 'unknown', -1)
    """
    browser, version = UNKNOWN, -1
    for name, pattern in _BROWSERS:
        match = pattern.search(user_agent)
        if match:
            browser = name
            digits = _LEADING_DIGITS.match(match.group("v"))
            version = int(digits.group(0)) if digits else -1
            break
    platform = UNKNOWN
    for name, pattern in _PLATFORMS:
        if pattern.search(user_agent):
            platform = name
            break
    return browser, platform, version
