"""DRF permission classes built on ``clinic.access``: deny by default, one vocabulary.

A view says which permission each action needs with ``required_permissions`` (keyed by viewset
action or by HTTP method). A view that names none is closed to everyone. Object scoping is the
selectors' job (DRF never runs object checks on list or create), so this class only answers
"may this actor do this kind of thing anywhere?".
"""

from rest_framework.permissions import BasePermission

from .access import Actor, Perm


def actor_of(request) -> Actor:
    return Actor.for_user(request.user)


def required_permission(request, view) -> Perm | None:
    mapping = getattr(view, "required_permissions", None) or {}
    action = getattr(view, "action", None)
    if action and action in mapping:
        return mapping[action]
    return mapping.get(request.method)


def _method_has_no_handler(request, view) -> bool:
    if hasattr(view, "action_map"):  # a viewset: methods are mapped to actions per route
        return request.method.lower() not in view.action_map
    return not hasattr(view, request.method.lower())


class HasClinicPermission(BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        if _method_has_no_handler(request, view):
            return True  # let DRF answer 405 Method Not Allowed rather than a misleading 403
        perm = required_permission(request, view)
        if perm is None:
            return False
        return actor_of(request).has(perm)


class IsClinicStaff(BasePermission):
    """Any active member of any clinic (used for the API docs)."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        return user.is_superuser or bool(actor_of(request).memberships)
