"""OpenID Connect identity providers of an account (kept for STS's
AssumeRoleWithWebIdentity, which a later session adds; docs/iam.md)."""

from __future__ import annotations

import time

from pails.iam import render
from pails.iam.errors import IamError
from pails.iam.model import Call, copy_doc, entities
from pails.storage.records import IamEntity, IamState, IamWrite

_PREFIX = ":oidc-provider/"


def _host(url: str) -> str:
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            url = url[len(scheme):]
            break
    else:
        raise IamError("ValidationError", "Invalid Openid Connect Provider URL: it must begin with https://")
    if not url or len(url) > 255:
        raise IamError("ValidationError", "Invalid Openid Connect Provider URL")
    return url


def _arn(call: Call, host: str) -> str:
    return f"arn:aws:iam::{call.account_id}{_PREFIX}{host}"


def _provider(call: Call, state: IamState) -> IamEntity:
    provider_arn = call.need("OpenIDConnectProviderArn")
    account, _, host = provider_arn.partition(_PREFIX)
    found = state.entities.get(("oidc", host.lower())) if account == f"arn:aws:iam::{call.account_id}" else None
    if found is None:
        raise IamError("NoSuchEntity", f"OpenIdConnect Provider not found for arn {provider_arn}")
    return found


def _thumbprints(values: list[str]) -> list[str]:
    if len(values) > 5 or any(len(v) != 40 for v in values):
        raise IamError("ValidationError", "Thumbprints are 40 characters each, at most 5")
    return values


async def create_provider(call: Call) -> str:
    url = call.need("Url")
    host = _host(url)
    clients = call.members("ClientIDList")
    thumbprints = _thumbprints(call.members("ThumbprintList"))

    def change(state: IamState) -> tuple[None, IamWrite]:
        if ("oidc", host.lower()) in state.entities:
            raise IamError("EntityAlreadyExists", f"Provider with url {url} already exists.")
        provider = IamEntity("oidc", host, "", "/", time.time(),
                             {"url": url, "clients": clients, "thumbprints": thumbprints})
        return None, IamWrite(put=[provider])
    await call.change(change)
    return render.e("OpenIDConnectProviderArn", _arn(call, host))


async def get_provider(call: Call) -> str:
    provider = _provider(call, await call.state())
    doc = provider.doc
    clients = render.members("ClientIDList", [render.xml.escape(c) for c in doc["clients"]])
    return (render.e("Url", doc["url"]) + clients + render.members("ThumbprintList", doc["thumbprints"])
            + render.e("CreateDate", render.date(provider.created)))


async def list_providers(call: Call) -> str:
    state = await call.state()
    items = sorted(_arn(call, p.name) for p in entities(state, "oidc"))
    return render.members("OpenIDConnectProviderList", [render.e("Arn", a) for a in items])


async def delete_provider(call: Call) -> None:
    def change(state: IamState) -> tuple[None, IamWrite]:
        return None, IamWrite(delete=[("oidc", _provider(call, state).name.lower())])
    await call.change(change)


async def add_client_id(call: Call) -> None:
    client_id = call.need("ClientID")

    def change(state: IamState) -> tuple[None, IamWrite]:
        provider = _provider(call, state)
        clients = list(provider.doc["clients"])
        if client_id in clients:
            return None, IamWrite()
        return None, IamWrite(put=[copy_doc(provider, clients=[*clients, client_id])])
    await call.change(change)


async def remove_client_id(call: Call) -> None:
    client_id = call.need("ClientID")

    def change(state: IamState) -> tuple[None, IamWrite]:
        provider = _provider(call, state)
        clients = [c for c in provider.doc["clients"] if c != client_id]
        return None, IamWrite(put=[copy_doc(provider, clients=clients)])
    await call.change(change)


async def update_thumbprints(call: Call) -> None:
    thumbprints = _thumbprints(call.members("ThumbprintList"))

    def change(state: IamState) -> tuple[None, IamWrite]:
        return None, IamWrite(put=[copy_doc(_provider(call, state), thumbprints=thumbprints)])
    await call.change(change)
