"""Trait and segment storage folders, as AAM's trees; every trait folder has a folder trait."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cible.dmp._common import FOLDER_TRAIT, bump_rules, get_folder, refuse_if_used, require_write
from cible.dmp.schemas import FolderIn
from cible.dmp.tables import (
    DataSource,
    Folder,
    Segment,
    Trait,
)
from cible.errors import BadRequest, Conflict, NotFound
from cible.tenants.principal import Principal
from cible.tenants.roles import Capability


def _folders(session: Session, tenant_id: int, kind: str) -> list[Folder]:
    query = select(Folder).where(Folder.tenant_id == tenant_id, Folder.kind == kind)
    return list(session.scalars(query.order_by(Folder.id)))


def folder_tree(
    session: Session, principal: Principal, kind: str, root: int | None = None
) -> list[dict[str, Any]]:
    """The folders as AAM's trees: ``{folderId, parentFolderId, name, path, subFolders}``."""
    principal.require(Capability.READ)
    folders = _folders(session, principal.tenant_id, kind)
    children: dict[int, list[Folder]] = {}
    for folder in folders:
        children.setdefault(folder.parent_id or 0, []).append(folder)

    def render(folder: Folder, path: str) -> dict[str, Any]:
        here = f"{path}/{folder.name}"
        subs = [render(child, here) for child in children.get(folder.id, [])]
        return {
            "folderId": folder.id,
            "parentFolderId": folder.parent_id or 0,
            "name": folder.name,
            "path": here,
            "folderCount": len(subs),
            "subFolders": subs,
        }

    if root is not None:
        found = get_folder(session, principal.tenant_id, kind, root)
        return [render(found, _path(session, found)[: -len(found.name) - 1])]
    return [render(folder, "") for folder in children.get(0, [])]


def _path(session: Session, folder: Folder) -> str:
    names = [folder.name]
    current = folder
    while current.parent_id is not None:
        parent = session.get(Folder, current.parent_id)
        if parent is None:
            break
        names.append(parent.name)
        current = parent
    return "/" + "/".join(reversed(names))


def _check_parent(session: Session, tenant_id: int, kind: str, parent: int) -> int | None:
    if parent == 0:
        return None
    try:
        return get_folder(session, tenant_id, kind, parent).id
    except NotFound:
        raise BadRequest.fields(
            [("parentFolderId", f"{kind[:-1]} folder {parent} does not exist")]
        ) from None


def create_folder(
    session: Session, principal: Principal, kind: str, body: FolderIn, now: datetime
) -> Folder:
    require_write(principal)
    parent = _check_parent(session, principal.tenant_id, kind, body.parent_folder_id)
    folder = Folder(tenant_id=principal.tenant_id, kind=kind, parent_id=parent, name=body.name)
    session.add(folder)
    session.flush()
    if kind == "traits":
        # Every trait folder has its folder trait, the OR of its subtree (AAM, "Folder Traits").
        session.add(
            Trait(
                tenant_id=principal.tenant_id,
                name=body.name,
                trait_type=FOLDER_TRAIT,
                trait_rule="",
                data_source_id=_default_data_source(session, principal.tenant_id, now).id,
                folder_id=folder.id,
                ttl=0,
                create_time=now,
                update_time=now,
            )
        )
        bump_rules(session, principal.tenant_id)
    return folder


def _default_data_source(session: Session, tenant_id: int, now: datetime) -> DataSource:
    """The tenant's first data source, created on demand for folder traits."""
    found = session.scalar(
        select(DataSource).where(DataSource.tenant_id == tenant_id).order_by(DataSource.id).limit(1)
    )
    if found is not None:
        return found
    ds = DataSource(
        tenant_id=tenant_id,
        name="Default",
        description="Created for folder traits",
        create_time=now,
        update_time=now,
    )
    session.add(ds)
    session.flush()
    return ds


def update_folder(
    session: Session, principal: Principal, kind: str, folder_id: int, body: FolderIn
) -> Folder:
    """Rename or move a folder; moving it under itself or a descendant is refused."""
    folder = get_folder(session, principal.tenant_id, kind, folder_id)
    require_write(principal)
    parent = _check_parent(session, principal.tenant_id, kind, body.parent_folder_id)
    cursor = parent
    while cursor is not None:
        if cursor == folder.id:
            raise BadRequest.fields(
                [("parentFolderId", "a folder cannot move under itself or its subfolders")]
            )
        cursor = session.get(Folder, cursor).parent_id  # type: ignore[union-attr]
    folder.parent_id = parent
    folder.name = body.name
    if kind == "traits":
        session.execute(
            update(Trait)
            .where(Trait.folder_id == folder.id, Trait.trait_type == FOLDER_TRAIT)
            .values(name=body.name)
        )
        bump_rules(session, principal.tenant_id)
    return folder


def delete_folder(session: Session, principal: Principal, kind: str, folder_id: int) -> None:
    folder = get_folder(session, principal.tenant_id, kind, folder_id)
    require_write(principal)
    if session.scalar(select(func.count()).where(Folder.parent_id == folder.id)):
        raise Conflict(f"folder {folder_id} has subfolders; delete or move them first")
    table: Any = Trait if kind == "traits" else Segment
    used = select(func.count()).where(table.folder_id == folder.id)
    if kind == "traits":
        folder_trait = session.scalar(
            select(Trait.id).where(Trait.folder_id == folder.id, Trait.trait_type == FOLDER_TRAIT)
        )
        used = used.where(Trait.trait_type != FOLDER_TRAIT)
        if folder_trait is not None:
            refuse_if_used(session, principal.tenant_id, [folder_trait])
    if session.scalar(used):
        raise Conflict(f"folder {folder_id} is not empty; delete or move its {kind} first")
    session.delete(folder)
    session.flush()
    bump_rules(session, principal.tenant_id)
