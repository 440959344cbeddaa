"""The ``/v1`` request bodies, with AAM's field names (Adobe Audience Manager REST API).

Fields the API returns but nobody writes (``sid``, ``pid``, ``createTime``...) are ignored when
a client sends an object back, as AAM's own clients do with a GET result they edited.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_ID = 2**31 - 1  # ids are INTEGER columns

ID_TYPES = ("COOKIE", "DEVICE_ADVERTISING_ID", "CROSS_DEVICE")
TRAIT_TYPES = ("RULE_BASED_TRAIT", "ON_BOARDED_TRAIT")
MERGE_RULES = ("DEVICE_ONLY", "LAST_AUTHENTICATED", "CURRENT_AUTHENTICATED")


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class DataSourceIn(_In):
    name: str = Field(min_length=1, max_length=255)
    description: str = ""
    integration_code: str | None = Field(default=None, alias="integrationCode", max_length=255)
    id_type: Literal["COOKIE", "DEVICE_ADVERTISING_ID", "CROSS_DEVICE"] = Field(
        default="COOKIE", alias="idType"
    )
    inbound_s2s: bool = Field(default=True, alias="inboundS2S")
    outbound_s2s: bool = Field(default=False, alias="outboundS2S")
    share_enabled: bool = Field(default=False, alias="allowDeviceGraphSharing")
    authenticated_profile: bool = Field(default=False, alias="useAuthenticatedProfile")
    merge_rule: Literal["DEVICE_ONLY", "LAST_AUTHENTICATED", "CURRENT_AUTHENTICATED"] = Field(
        default="LAST_AUTHENTICATED", alias="mergeRule"
    )
    unique_trait_integration_codes: bool = Field(default=False, alias="uniqueTraitIntegrationCodes")
    unique_segment_integration_codes: bool = Field(
        default=False, alias="uniqueSegmentIntegrationCodes"
    )
    data_export_restrictions: list[str] = Field(
        default_factory=list, alias="dataExportRestrictions"
    )
    # AAM's UI: default 720 days, at least a month, at most 5 years (Data source settings).
    customer_id_retention_days: int = Field(
        default=720, alias="customerIdRetentionDays", ge=30, le=1825
    )


class FolderIn(_In):
    name: str = Field(min_length=1, max_length=255)
    parent_folder_id: int = Field(default=0, alias="parentFolderId", ge=0, le=MAX_ID)


class TraitIn(_In):
    name: str = Field(min_length=1, max_length=255)
    trait_type: Literal["RULE_BASED_TRAIT", "ON_BOARDED_TRAIT"] = Field(alias="traitType")
    data_source_id: int = Field(alias="dataSourceId", ge=1, le=MAX_ID)
    folder_id: int = Field(alias="folderId", ge=1, le=MAX_ID)
    trait_rule: str = Field(default="", alias="traitRule")
    ttl: int = Field(default=120, ge=0, le=100_000)
    description: str = ""
    comments: str = ""
    integration_code: str | None = Field(default=None, alias="integrationCode", max_length=255)
    type: int = Field(default=0, ge=0, le=MAX_ID)
    status: Literal["ACTIVE", "INACTIVE"] = "ACTIVE"


class SegmentIn(_In):
    name: str = Field(min_length=1, max_length=255)
    segment_rule: str = Field(alias="segmentRule", min_length=1)
    data_source_id: int = Field(alias="dataSourceId", ge=1, le=MAX_ID)
    folder_id: int = Field(alias="folderId", ge=1, le=MAX_ID)
    merge_rule_data_source_id: int | None = Field(
        default=None, alias="mergeRuleDataSourceId", ge=1, le=MAX_ID
    )
    integration_code: str | None = Field(default=None, alias="integrationCode", max_length=255)
    description: str = ""
    status: Literal["ACTIVE", "INACTIVE"] = "ACTIVE"


class ValidateIn(_In):
    code: str
