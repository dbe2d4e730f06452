"""What every namespace gets: a `default` ServiceAccount and the `kube-root-ca.crt`
ConfigMap holding the cluster CA (kube-controller-manager's serviceaccount and
root-ca-cert-publisher controllers)."""

from __future__ import annotations

from typing import Any

from kubeedge.api import meta
from kubeedge.client.errors import APIError
from kubeedge.client.events import EventRecorder
from kubeedge.client.informer import SharedInformerFactory
from kubeedge.client.resources import ResourceRef
from kubeedge.client.rest import APIClient
from kubeedge.config.controllermanager import ControllerManagerConfig
from kubeedge.controllers.runtime import Controller

NAMESPACES = ResourceRef("", "v1", "namespaces", False, "Namespace")
SERVICE_ACCOUNTS = ResourceRef("", "v1", "serviceaccounts", True, "ServiceAccount")
CONFIG_MAPS = ResourceRef("", "v1", "configmaps", True, "ConfigMap")
DEFAULT_SERVICE_ACCOUNT = "default"
ROOT_CA_CONFIG_MAP = "kube-root-ca.crt"
ROOT_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using "
    "internal endpoints such as the internal service IP or kubernetes.default.svc. No "
    "other usage is guaranteed across distributions of Kubernetes clusters."
)


class NamespaceDefaults(Controller):
    name = "namespace-defaults"

    def __init__(self, client: APIClient, informers: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 config: ControllerManagerConfig | None = None, *, ca_pem: str = "") -> None:
        super().__init__(client, informers, recorder, config)
        # The CA this client trusts is the cluster CA the ConfigMap publishes.
        self.ca_pem = ca_pem or (client.access.ca_data or b"").decode()

    def setup(self) -> None:
        self.namespaces = self.informer(NAMESPACES)
        self.namespaces.add_event_handler(**self.enqueue_by(meta.name_of))
        self.accounts = self.informer(SERVICE_ACCOUNTS,
                                      field_selector=f"metadata.name={DEFAULT_SERVICE_ACCOUNT}")
        self.accounts.add_event_handler(**self.enqueue_by(meta.namespace_of))
        self.config_maps = self.informer(CONFIG_MAPS,
                                         field_selector=f"metadata.name={ROOT_CA_CONFIG_MAP}")
        self.config_maps.add_event_handler(**self.enqueue_by(meta.namespace_of))

    async def reconcile(self, namespace: str) -> None:
        ns = self.namespaces.store.get("", namespace)
        if ns is None or meta.is_terminating(ns):
            return  # nothing new goes into a namespace that is going away
        if self.accounts.store.get(namespace, DEFAULT_SERVICE_ACCOUNT) is None:
            await self._create(SERVICE_ACCOUNTS, namespace,
                               {"metadata": {"name": DEFAULT_SERVICE_ACCOUNT}})
        wanted = {"ca.crt": self.ca_pem}
        current = self.config_maps.store.get(namespace, ROOT_CA_CONFIG_MAP)
        if current is None:
            await self._create(CONFIG_MAPS, namespace, {
                "metadata": {"name": ROOT_CA_CONFIG_MAP,
                             "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION}},
                "data": wanted,
            })
        elif current.get("data") != wanted:
            await self.client.patch(CONFIG_MAPS, ROOT_CA_CONFIG_MAP, {"data": wanted},
                                    namespace, patch_type="merge")

    async def _create(self, ref: ResourceRef, namespace: str, body: dict[str, Any]) -> None:
        try:
            await self.client.create(ref, body, namespace)
        except APIError as exc:
            # Someone made it first (or the namespace just started terminating): the
            # informers bring the new state and the key comes back if needed.
            if not (exc.is_already_exists or exc.is_forbidden or exc.is_not_found):
                raise
