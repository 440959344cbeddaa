"""Adobe Target's four roles and what each may do.

Adobe Target, "Users and roles": observers view; editors create and edit but cannot make an
activity live; approvers create, edit and activate or stop; publishers view and activate or stop
without editing. Capabilities, not a ladder, because publisher is not above editor.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OBSERVER = "observer"
    EDITOR = "editor"
    APPROVER = "approver"
    PUBLISHER = "publisher"


class Capability(StrEnum):
    READ = "read"
    WRITE = "write"
    ACTIVATE = "activate"


GRANTS: dict[Role, frozenset[Capability]] = {
    Role.OBSERVER: frozenset({Capability.READ}),
    Role.EDITOR: frozenset({Capability.READ, Capability.WRITE}),
    Role.APPROVER: frozenset({Capability.READ, Capability.WRITE, Capability.ACTIVATE}),
    Role.PUBLISHER: frozenset({Capability.READ, Capability.ACTIVATE}),
}


def parse_role(value: str) -> Role:
    """The role named ``value``, or ``ValueError`` listing the valid names."""
    try:
        return Role(value.lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r}; expected one of {names}") from None
