"""Shared fixtures: one real Pails server per test session (per xdist worker)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config

from tests.pails_server import Server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("pails") / "data").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def alt_user(server: Server) -> dict[str, str]:
    return server.add_user("alt", "alt@example.com")


def client(server: Server, access_key: str | None = None, secret_key: str | None = None, **config: object):
    """A boto3 client with its default configuration (flexible checksums on)."""
    return boto3.client(
        "s3", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id=access_key or server.access_key, aws_secret_access_key=secret_key or server.secret_key,
        config=Config(**config) if config else None)


@pytest.fixture(scope="session")
def s3(server: Server):
    return client(server)


@pytest.fixture(scope="session")
def alt_s3(server: Server, alt_user: dict[str, str]):
    return client(server, alt_user["access_key"], alt_user["secret_key"])


@pytest.fixture
def bucket(s3) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    s3.delete_bucket(Bucket=name)
