"""The audience manager's taxonomy: data sources, trait and segment folders, traits, segments.

Every change bumps the tenant's rules version in the same transaction, so DCS workers recompile
the tenant's rules on their next call (see ``cible.dmp.rules``). Rules are validated by the
parsers that later evaluate them: a rule the API accepts always compiles, and a refused rule's
400 names the line and column (docs/audience-manager.md, "Traits", "Segments").

This module is the taxonomy's public API; the work is in ``_datasources``, ``_folders``,
``_traits`` and ``_segments``, over what ``_common`` holds.
"""

from __future__ import annotations

from cible.dmp._common import (
    FOLDER_TRAIT,
    KINDS,
    MAX_ID,
    MAX_SEGMENTS,
    MAX_TRAITS,
    WINDOWS,
    ListQuery,
    bump_rules,
    envelope,
    parse_id,
)
from cible.dmp._datasources import (
    create_data_source,
    data_source_json,
    delete_data_source,
    get_data_source,
    list_data_sources,
    update_data_source,
)
from cible.dmp._folders import create_folder, delete_folder, folder_tree, update_folder
from cible.dmp._segments import (
    create_segment,
    delete_segments,
    get_segment,
    list_all_segments,
    list_segments,
    populations,
    replace_populations,
    segment_json,
    update_segment,
    validate_segment_rule,
)
from cible.dmp._traits import (
    create_trait,
    delete_traits,
    get_trait,
    list_traits,
    rule_versions,
    trait_json,
    update_trait,
    validate_trait_rule,
)

__all__ = [
    "FOLDER_TRAIT",
    "KINDS",
    "MAX_ID",
    "MAX_SEGMENTS",
    "MAX_TRAITS",
    "WINDOWS",
    "ListQuery",
    "bump_rules",
    "create_data_source",
    "create_folder",
    "create_segment",
    "create_trait",
    "data_source_json",
    "delete_data_source",
    "delete_folder",
    "delete_segments",
    "delete_traits",
    "envelope",
    "folder_tree",
    "get_data_source",
    "get_segment",
    "get_trait",
    "list_all_segments",
    "list_data_sources",
    "list_segments",
    "list_traits",
    "parse_id",
    "populations",
    "replace_populations",
    "rule_versions",
    "segment_json",
    "trait_json",
    "update_data_source",
    "update_folder",
    "update_segment",
    "update_trait",
    "validate_segment_rule",
    "validate_trait_rule",
]
