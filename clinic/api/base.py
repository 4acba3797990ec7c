"""The base of every staff API view: the actor, validated input, paginated output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework import serializers, viewsets
from rest_framework.response import Response

from clinic.access import Actor
from clinic.permissions import actor_of


class ActorMixin:
    @property
    def actor(self) -> Actor:
        return actor_of(self.request)

    def get_serializer_context(self) -> dict[str, Any]:
        parent = getattr(super(), "get_serializer_context", None)
        context = parent() if parent else {"request": self.request, "view": self}
        context["actor"] = self.actor if self.request.user else None
        return context

    def validated(
        self, serializer_class: type[serializers.Serializer], *, data: Any = None, partial: bool = False
    ) -> dict[str, Any]:
        serializer = serializer_class(
            data=self.request.data if data is None else data, partial=partial, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def output(self, serializer_class: type[serializers.Serializer], instance: Any, status: int = 200) -> Response:
        return Response(serializer_class(instance, context=self.get_serializer_context()).data, status=status)

    def paginated(
        self,
        queryset,
        serializer_class: type[serializers.Serializer],
        *,
        on_page: Callable[[list], None] | None = None,
    ) -> Response:
        page = self.paginate_queryset(self.filter_queryset(queryset))
        if on_page is not None:
            on_page(page)
        data = serializer_class(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)


class ApiViewSet(ActorMixin, viewsets.GenericViewSet):
    """A viewset whose ``required_permissions`` maps each action to a ``clinic.access.Perm``."""

    # Ids are integers: "/patients/abc/" is a 404 from the URL resolver, not a ValueError in a query.
    lookup_value_regex = r"[0-9]+"

    required_permissions: dict = {}
