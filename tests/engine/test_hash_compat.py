"""Allocation compatibility: Cible buckets visitors exactly as Adobe's on-device engine does.

Adobe's `target_decisioning_engine.allocation_provider.compute_allocation` (which hashes with
`target_tools.hashing`) is called directly as the reference. It hashes code points, Adobe's edge
hashes UTF-16 code units; the two agree inside the Basic Multilingual Plane, so the reference
comparison uses BMP strings, and non-BMP strings are checked between Cible's two hash paths.
"""

from __future__ import annotations

import random
import sys
import uuid

import pytest
from target_decisioning_engine.allocation_provider import compute_allocation
from target_tools.hashing import hash_unencoded_chars_raw

from cible.engine import _hashing, allocation_for

ACTIVITY_IDS = (1, 125891, 201001, 333312, 2147483647)
CLIENT = "acmeretail"

_ALPHABETS = (
    "abcdefghijklmnopqrstuvwxyz0123456789",
    "àâäéèêëïîôöùûüÿçœæÀÉÈÇßñÑ",
    "абвгдежзийклмнопрстуфхцчшщъыьэюя",
    "日本語中文字漢字訪客用户测试ひらがなカタカナ",
    "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "-._~!*'() ",
)


def _visitor_ids(count: int, seed: int = 20261125) -> list[str]:
    rng = random.Random(seed)
    ids = ["a", "ab", "abc", "abcd"]
    while len(ids) < count:
        kind = rng.randrange(4)
        if kind == 0:
            ids.append(uuid.UUID(int=rng.getrandbits(128)).hex)
        elif kind == 1:
            ids.append(str(uuid.UUID(int=rng.getrandbits(128))))
        else:
            alphabet = "".join(rng.sample(_ALPHABETS, k=rng.randint(1, 3)))
            ids.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))))
    return ids


VISITORS = _visitor_ids(10_000)
NON_BMP = [
    "😀",
    "x😀y",
    "访客-\U0001d518\U0001d52b\U0001d526",
    "🎉🎉🎉",
    "a\U0001f600bc",
    "𝄞 music",
    "\U0010ffff",
]


def test_visitor_ids_cover_unicode() -> None:
    assert len(VISITORS) == 10_000
    assert any(not visitor.isascii() for visitor in VISITORS)
    assert all(ord(char) <= 0xFFFF for visitor in VISITORS for char in visitor)


@pytest.mark.slow
@pytest.mark.parametrize("activity_id", ACTIVITY_IDS)
def test_allocation_equals_adobe_python_sdk(activity_id: int) -> None:
    mismatches = [
        visitor
        for visitor in VISITORS
        if allocation_for(CLIENT, activity_id, visitor)
        != compute_allocation(CLIENT, activity_id, visitor)
    ]
    assert mismatches == []


def test_hash_equals_adobe_hash_inside_the_bmp() -> None:
    for visitor in VISITORS[:2000]:
        device_id = _hashing.device_id(CLIENT, 201001, visitor)
        assert _hashing.murmur3_utf16_pure(device_id) == hash_unencoded_chars_raw(device_id)


def test_pure_fallback_equals_mmh3() -> None:
    mmh3 = pytest.importorskip("mmh3")
    for text in VISITORS[:5000] + NON_BMP:
        expected = mmh3.hash(text.encode("utf-16-le"), 0, signed=True)
        assert _hashing.murmur3_utf16_pure(text) == expected, text
        assert _hashing.murmur3_utf16(text) == expected, text


def test_non_bmp_follows_utf16_code_units() -> None:
    # Surrogate pairs count as two code units, as in Java's hashUnencodedChars (Adobe's edge).
    assert _hashing.murmur3_utf16_pure("x😀y") == 995633236
    assert hash_unencoded_chars_raw("x😀y") != 995633236  # the Python SDK hashes code points


def test_allocation_same_on_both_paths() -> None:
    for visitor in VISITORS[:2000] + NON_BMP:
        assert allocation_for(CLIENT, 201001, visitor) == allocation_for(
            CLIENT, 201001, visitor, hash_function=_hashing.murmur3_utf16_pure
        )


def test_fallback_selected_without_mmh3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mmh3", None)  # makes `import mmh3` raise ImportError
    assert _hashing._select_implementation() is _hashing.murmur3_utf16_pure


def test_mmh3_selected_when_installed() -> None:
    pytest.importorskip("mmh3")
    assert _hashing._select_implementation() is not _hashing.murmur3_utf16_pure


def test_fifty_fifty_split_is_balanced() -> None:
    rng = random.Random(7)
    total = 100_000
    first_arm = sum(
        1
        for _ in range(total)
        if allocation_for(CLIENT, 201001, uuid.UUID(int=rng.getrandbits(128)).hex) <= 50.0
    )
    assert 0.49 <= first_arm / total <= 0.51


def test_allocation_range_and_rounding() -> None:
    values = {allocation_for(CLIENT, 201001, visitor) for visitor in VISITORS}
    assert min(values) >= 0.0
    assert max(values) <= 99.99
    assert all(round(value, 2) == value for value in values)
