"""Console pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.selectors import user_membership_list


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Where a signed-in person lands: the accounts they work in, with their role."""
    memberships = user_membership_list(user=request.user)  # type: ignore[arg-type]
    return render(request, "web/home.html", {"memberships": memberships})
