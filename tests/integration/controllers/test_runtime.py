"""A controller that stops (a lost lease) hands its informers on: its handlers go, the
informers keep running, and the next term's controller starts from their cache."""

from __future__ import annotations

import uuid

from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.resources import Resource
from kubeedge.client.rest import APIClient
from kubeedge.controllers.namespacedefaults import NamespaceDefaults
from kubeedge.controllers.runtime import ControllerManager
from tests.fixtures.cluster import eventually

NAMESPACES = Resource.of("v1", "namespaces")
ACCOUNTS = Resource.of("v1", "serviceaccounts")


async def test_a_second_term_reuses_the_running_informers(api: APIClient) -> None:
    factory = SharedInformerFactory(api)
    try:
        first = NamespaceDefaults(api, factory)
        term = ControllerManager(api, [first], informers=factory, owns_informers=False)
        await term.start()
        await term.stop()
        namespaces = factory.informer(NAMESPACES)
        watches_before = namespaces.watches
        # Anything the stopped controller's handlers still enqueued would land here.
        leaked: list[str] = []
        first.queue.add = leaked.append  # type: ignore[method-assign]

        name = f"rt-{uuid.uuid4().hex[:6]}"
        await api.create(NAMESPACES, {"metadata": {"name": name}})
        second = NamespaceDefaults(api, factory)
        term = ControllerManager(api, [second], informers=factory, owns_informers=False)
        await term.start()
        try:
            async def has_account() -> bool:
                accounts = (await api.list(ACCOUNTS, name))["items"]
                return any(a["metadata"]["name"] == "default" for a in accounts)

            await eventually(has_account, what="the second term's controller acting")
        finally:
            await term.stop()
        # The same watch served both terms; the stopped controller got nothing new.
        assert namespaces.watches == watches_before
        assert leaked == []
    finally:
        await factory.stop()
