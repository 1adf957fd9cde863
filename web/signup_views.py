"""The sign-up pages: the form, "check your email", and the confirmation that creates the account."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from accounts.auth_views import by_address, by_email
from accounts.errors import ServiceError

from .signup import SignupRequest, signup_start, signup_verify


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if not settings.SIGNUP_ENABLED:
        return render(request, "registration/signup_closed.html", status=404)
    if request.user.is_authenticated:
        return redirect("web:home")
    values = {key: request.POST.get(key, "") for key in ("name", "email", "business")}
    if request.method == "GET":
        return render(request, "registration/signup.html", {"values": values})
    for key, rate in ((by_address, settings.SIGNUP_RATE_PER_ADDRESS), (by_email, settings.SIGNUP_RATE_PER_EMAIL)):
        if is_ratelimited(request, group="signup", key=key, rate=rate, method="POST", increment=True):
            return render(request, "registration/throttled.html", {"what": "sign-up"}, status=429)
    try:
        signup_start(SignupRequest(password=request.POST.get("password", ""), **values))
    except ServiceError as exc:
        context = {"values": values, "error": exc.message, "error_field": exc.field}
        return render(request, "registration/signup.html", context, status=400)
    return render(request, "registration/signup_sent.html", {"email": values["email"].strip()})


@require_http_methods(["GET", "POST"])
def signup_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (mail scanners that open links create nothing); POST creates the account."""
    if request.method == "GET":
        return render(request, "registration/signup_confirm.html", {"token": token})
    try:
        user, account = signup_verify(token)
    except ServiceError as exc:
        return render(request, "registration/signup_confirm.html", {"token": token, "error": exc.message}, status=400)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("web:welcome", account_id=account.pk)
