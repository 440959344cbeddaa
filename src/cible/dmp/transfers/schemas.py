"""Request bodies of ``/v1/destinations/`` and its mappings, with AAM's field names.

AAM's REST API creates URL destinations (``destinationType`` ``PUSH``) and cookie destinations
(``ADS``) and only lists server-to-server ones, which Adobe's consultants configure (Adobe
Audience Manager, "Create destinations"). A self-hosted install has no consultant: Cible also
creates real-time HTTP destinations (``S2S``) through the same API, with the settings AAM's
real-time outbound documentation names (endpoint, ``User_DPID``, ``Client_ID``, HMAC signing or
OAuth 2.0 client credentials, timeout, retries), and batch file destinations (``FILE``,
``cible.dmp.transfers.export``) with the settings of AAM's batch outbound documentation (file
name and content templates, full or ``iter`` mode, SFTP or S3 delivery, split size).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cible.dmp.transfers.locations import check_url as check_location
from cible.jobs.outbound import check_url

MAX_ID = 2**31 - 1
DESTINATION_TYPES = ("PUSH", "ADS", "S2S", "FILE")
ALGORITHMS = ("HmacSHA1", "HmacSHA256", "HmacMD5")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def _url(value: str) -> str:
    problem = check_url(value)
    if problem:
        raise ValueError(problem)
    return value


class Signature(_In):
    """HMAC over the body (AAM, "Digitally signed HTTP(S) requests")."""

    algorithm: Literal["HmacSHA1", "HmacSHA256", "HmacMD5"] = "HmacSHA1"
    header: str = "X-Signature"
    key: str = Field(min_length=1, max_length=1024)

    @field_validator("header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not _HEADER.match(value):
            raise ValueError("a header name: letters, digits and dashes, 1 to 64 characters")
        return value


class OAuth(_In):
    """OAuth 2.0 client credentials (AAM, "OAuth integration for real-time transfers")."""

    token_url: str = Field(alias="tokenUrl", max_length=2048)
    client_id: str = Field(alias="clientId", min_length=1, max_length=255)
    client_secret: str = Field(alias="clientSecret", min_length=1, max_length=1024)

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str) -> str:
        return _url(value)


class Location(_In):
    """Where a ``FILE`` destination's files go (``cible.dmp.transfers.locations``)."""

    url: str = Field(min_length=1, max_length=2048)
    username: str = Field(default="", max_length=255)
    password: str = Field(default="", max_length=1024)
    private_key: str = Field(default="", alias="privateKey", max_length=16384)
    host_key: str = Field(default="", alias="hostKey", max_length=4096)
    endpoint_url: str = Field(default="", alias="endpointUrl", max_length=2048)
    region: str = Field(default="", max_length=64)
    access_key_id: str = Field(default="", alias="accessKeyId", max_length=255)
    secret_access_key: str = Field(default="", alias="secretAccessKey", max_length=1024)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        problem = check_location(value)
        if problem:
            raise ValueError(problem)
        return value


class DestinationIn(_In):
    name: str = Field(min_length=1, max_length=255)
    description: str = ""
    destination_type: Literal["PUSH", "ADS", "S2S", "FILE"] = Field(alias="destinationType")
    status: Literal["ACTIVE", "INACTIVE"] = "ACTIVE"
    data_export_labels: list[str] = Field(default_factory=list, alias="dataExportLabels")
    # URL destination (PUSH)
    serialization_enabled: bool = Field(default=False, alias="serializationEnabled")
    url_format_string: str = Field(default="", alias="urlFormatString", max_length=2048)
    secure_url_format_string: str = Field(
        default="", alias="secureUrlFormatString", max_length=2048
    )
    delimiter: str = Field(default=",", max_length=8)
    tag_type: Literal["img", "iframe"] = Field(default="img", alias="tagType")
    # Cookie destination (ADS)
    cookie_name: str = Field(default="", alias="cookieName", max_length=255)
    cname_domain: str = Field(default="", alias="cnameDomain", max_length=255)
    ttl: int = Field(default=30, ge=0, le=3650)  # days
    max_size: int = Field(default=4096, alias="maxSize", ge=16, le=4096)
    format_type: Literal["single_key", "multi_key"] = Field(
        default="single_key", alias="formatType"
    )
    single_key: str = Field(default="", alias="singleKey", max_length=255)
    key_separator: str = Field(default=";", alias="keySeparator", max_length=8)
    value_separator: str = Field(default="=", alias="valueSeparator", max_length=8)
    serialization_separator: str = Field(default=",", alias="serializationSeparator", max_length=8)
    # Real-time HTTP destination (S2S)
    url: str = Field(default="", max_length=2048)
    user_dpid: int | None = Field(default=None, alias="userDpid", ge=0, le=MAX_ID)
    client_id: str = Field(default="", alias="clientId", max_length=255)
    timeout_ms: int = Field(default=3000, alias="timeoutMs", ge=50, le=60_000)
    max_attempts: int = Field(default=8, alias="maxAttempts", ge=1, le=50)
    max_users_per_message: int = Field(default=10, alias="maxUsersPerMessage", ge=1, le=10)
    signature: Signature | None = None
    oauth: OAuth | None = None
    # Batch file destination (FILE)
    location: Location | None = None
    file_name_template: str = Field(default="", alias="fileNameTemplate", max_length=1024)
    content_template: str = Field(default="", alias="contentTemplate", max_length=4096)
    sync_mode: Literal["iter", "full"] = Field(default="iter", alias="syncMode")
    every_minutes: int = Field(default=1440, alias="everyMinutes", ge=1, le=44_640)
    offset_minutes: int = Field(default=0, alias="offsetMinutes", ge=0, le=44_640)
    gzip: bool = True
    max_file_lines: int = Field(default=0, alias="maxFileLines", ge=0)
    max_file_bytes: int = Field(default=0, alias="maxFileBytes", ge=0)
    dpid: int | None = Field(default=None, ge=0, le=MAX_ID)
    master_dpid: int | None = Field(default=None, alias="masterDpid", ge=0, le=MAX_ID)
    pid_alias: str = Field(default="", alias="pidAlias", max_length=255)

    @model_validator(mode="after")
    def _by_type(self) -> DestinationIn:
        kind = self.destination_type
        urls = self.url_format_string + self.secure_url_format_string
        if kind == "PUSH" and self.serialization_enabled and "%ALIAS%" not in urls:
            raise ValueError("a serialized URL destination needs %ALIAS% in its URL format")
        if kind == "PUSH":
            for url in (self.url_format_string, self.secure_url_format_string):
                if url:
                    _url(url)
        if kind == "ADS" and not self.cookie_name:
            raise ValueError("a cookie destination needs a cookieName")
        if kind == "ADS" and self.format_type == "single_key" and not self.single_key:
            raise ValueError("a single_key cookie destination needs a singleKey")
        if kind == "S2S":
            _url(self.url)
            if self.signature and self.oauth:
                raise ValueError("give signature or oauth, not both")
        if kind == "FILE" and self.location is None:
            raise ValueError("a batch file destination needs a location")
        return self


class MappingIn(_In):
    sid: int = Field(ge=1, le=MAX_ID)
    trait_type: Literal["SEGMENT"] = Field(default="SEGMENT", alias="traitType")
    trait_alias: str = Field(default="", alias="traitAlias", max_length=255)
    value_alias: str = Field(default="", alias="valueAlias", max_length=255)
    url: str = Field(default="", max_length=2048)
    secure_url: str = Field(default="", alias="secureUrl", max_length=2048)
    start_date: str | None = Field(default=None, alias="startDate")
    end_date: str | None = Field(default=None, alias="endDate")

    @field_validator("start_date", "end_date")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is not None and not _DATE.match(value):
            raise ValueError("a date written yyyy-mm-dd")
        return value

    @field_validator("url", "secure_url")
    @classmethod
    def _urls(cls, value: str) -> str:
        return _url(value) if value else value
