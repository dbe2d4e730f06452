"""Chooses how a resource is printed as a Table: kubectl's built-in columns, or a
CRD's additionalPrinterColumns (specs/k8s-api.md §5). The columns themselves live in
`tables`."""

from __future__ import annotations

from typing import Any

from kubeedge.api import meta
from kubeedge.api.registry import ResourceType
from kubeedge.apiserver.crds import CRDController
from kubeedge.apiserver.tables import crd_table, table_for


class TableRenderer:
    def __init__(self, crds: CRDController) -> None:
        self.crds = crds

    def render(self, rt: ResourceType, objs: list[dict[str, Any]], include_object: str,
               with_headers: bool = True) -> dict[str, Any]:
        if include_object not in ("None", "Metadata", "Object"):
            include_object = "Metadata"
        now = meta.now()
        crd = self.crds.crd_for(rt) if rt.crd else None
        if crd is not None:
            return crd_table(crd, rt.version, objs, now, include_object=include_object,
                             with_headers=with_headers)
        return table_for(rt.plural, rt.group, objs, now, include_object=include_object,
                         with_headers=with_headers)
