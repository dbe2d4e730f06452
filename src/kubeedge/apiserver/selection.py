"""Which objects a list, watch or deletecollection request selects.

Label and field selectors come from the query string (specs/k8s-api.md §3 Selectors);
a field selector pinning `metadata.namespace` narrows the storage range as well.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from multidict import MultiMapping

from kubeedge.api import meta
from kubeedge.api.registry import ResourceType
from kubeedge.api.selectors import FIELD_SELECTORS, FieldSelector, LabelSelector, field_values

COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True)
class Selection:
    labels: LabelSelector | None
    fields: FieldSelector | None
    resource: str

    @classmethod
    def from_query(cls, query: MultiMapping[str], rt: ResourceType) -> Selection:
        label_text = query.get("labelSelector", "")
        field_text = query.get("fieldSelector", "")
        labels = LabelSelector.parse(label_text) if label_text.strip() else None
        fields = None
        if field_text.strip():
            allowed = set(COMMON_FIELDS) | set(FIELD_SELECTORS.get(rt.plural, set()))
            if rt.crd:
                allowed = set(COMMON_FIELDS)
            fields = FieldSelector.parse(field_text, allowed)
        return cls(labels, fields, rt.plural)

    @property
    def namespace(self) -> str:
        if self.fields is None:
            return ""
        return self.fields.exact_value("metadata.namespace") or ""

    def matcher(self, rt: ResourceType) -> Callable[[dict[str, Any]], bool] | None:
        labels, fields = self.labels, self.fields
        if labels is None and fields is None:
            return None
        resource = "" if rt.crd else rt.plural

        def match(obj: dict[str, Any]) -> bool:
            if labels is not None and not labels.matches(meta.labels_of(obj)):
                return False
            if fields is not None:
                values = field_values(resource, obj)
                values.setdefault("metadata.name", meta.name_of(obj))
                values.setdefault("metadata.namespace", meta.namespace_of(obj))
                if not fields.matches(values):
                    return False
            return True

        return match
