"""Object storage in an S3-compatible bucket (Cloudflare R2 in production) with boto3.

Uploads stream: up to one part is buffered, larger bodies go up as a multipart upload, and a
body past `max_bytes` aborts the upload, so the key never shows a partial or oversized object.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator, Mapping
from datetime import timezone
from typing import Any, BinaryIO
from urllib.parse import quote

from botocore.exceptions import ClientError

from webapp.stores.objects.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    check_key,
    iter_chunks,
)

PART_SIZE = 8 * 1024 * 1024  # S3 parts are at least 5 MiB (except the last)
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # the SigV4 limit
MISSING_CODES = ("404", "NoSuchKey", "NotFound")


def public_base_url(config: Mapping[str, Any]) -> str | None:
    """The bucket's public base URL, if any. Precedence: `S3_DEV_URL` when `USE_S3_DEV_URL`
    is on (the reference's development switch), else `R2_PUBLIC_DOMAIN`; without either,
    links are presigned."""
    base = ""
    if config.get("USE_S3_DEV_URL") and config.get("S3_DEV_URL"):
        base = config["S3_DEV_URL"]
    elif config.get("R2_PUBLIC_DOMAIN"):
        base = config["R2_PUBLIC_DOMAIN"]
    base = base.strip().rstrip("/")
    if not base:
        return None
    if "://" not in base:
        base = f"https://{base}"
    return base


def _iso(value: Any) -> str:
    return value.astimezone(timezone.utc).isoformat()


def _missing(exc: Exception) -> bool:
    error = getattr(exc, "response", {}).get("Error", {})
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code")) in MISSING_CODES or status == 404


class S3ObjectStore(ObjectStore):
    list_page_size = 1000  # keys per ListObjectsV2 call (the S3 maximum)

    def __init__(
        self,
        endpoint_url: str,
        access_key_id: str,
        secret_access_key: str,
        bucket: str,
        region: str = "auto",
        public_base: str | None = None,
        presign: bool = True,
        part_size: int = PART_SIZE,
        timeout: float = 60.0,
    ) -> None:
        if not (endpoint_url and access_key_id and secret_access_key and bucket):
            raise ValueError(
                "STORAGE=s3 needs R2_ENDPOINT_URL, R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY "
                "and R2_BUCKET_NAME"
            )
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.public_base = public_base.rstrip("/") if public_base else None
        self.presign = presign
        self.part_size = max(part_size, 5 * 1024 * 1024)
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=min(10.0, timeout),
            read_timeout=timeout,
            # R2 and other S3-compatible stores may not accept the newer default checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session of our own: boto3's default session is not safe to share across threads.
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
            config=config,
        )

    def ping(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        content_type: str | None = None,
        max_bytes: int | None = None,
    ) -> ObjectInfo:
        check_key(key)
        content_type = content_type or mimetypes.guess_type(key)[0] or "application/octet-stream"
        buffer = bytearray()
        total = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            for chunk in iter_chunks(data):
                total += len(chunk)
                if max_bytes is not None and total > max_bytes:
                    raise ObjectTooLarge(f"larger than {max_bytes} bytes")
                buffer += chunk
                if len(buffer) >= self.part_size:
                    if upload_id is None:
                        upload_id = self.client.create_multipart_upload(
                            Bucket=self.bucket, Key=key, ContentType=content_type
                        )["UploadId"]
                    parts.append(self._upload_part(key, upload_id, len(parts) + 1, buffer))
                    buffer = bytearray()
            if upload_id is None:
                self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=bytes(buffer), ContentType=content_type
                )
            else:
                if buffer:
                    parts.append(self._upload_part(key, upload_id, len(parts) + 1, buffer))
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            if upload_id is not None:
                try:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload_id
                    )
                except Exception:  # noqa: BLE001 - the original error matters more
                    pass
            raise
        info = self.head(key)
        if info is None:
            raise ObjectNotFound(key)
        return info

    def _upload_part(self, key: str, upload_id: str, number: int, body: bytearray) -> dict:
        response = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(body)
        )
        return {"ETag": response["ETag"], "PartNumber": number}

    def open(self, key: str) -> BinaryIO:
        check_key(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                raise ObjectNotFound(key) from None
            raise
        return response["Body"]

    def head(self, key: str) -> ObjectInfo | None:
        check_key(key)
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            etag=response["ETag"].strip('"'),
            last_modified=_iso(response["LastModified"]),
            content_type=response.get("ContentType"),
        )

    def delete(self, key: str) -> None:
        check_key(key)
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.list_page_size}
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield ObjectInfo(
                    key=item["Key"],
                    size=item["Size"],
                    etag=item["ETag"].strip('"'),
                    last_modified=_iso(item["LastModified"]),
                )

    def url(self, key: str, ttl_seconds: int) -> str | None:
        check_key(key)
        if self.public_base:
            return f"{self.public_base}/{quote(key)}"
        if not self.presign:
            return None
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=max(1, min(int(ttl_seconds), MAX_PRESIGN_SECONDS)),
        )
