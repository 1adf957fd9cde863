"""Pages for two-factor sign-in: turn it on (scan, then prove it with a code), give the code after the password,
and turn it off (with a current code)."""

from __future__ import annotations

import base64

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp import match_token

from accounts.two_factor import SESSION_REQUIRED, confirmed_device, pending_device


@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    user = request.user
    device = confirmed_device(user)  # type: ignore[arg-type]
    if device is not None:
        return render(request, "registration/two_factor.html", {"enabled": True})
    pending = pending_device(user)  # type: ignore[arg-type]
    error = ""
    if request.method == "POST":
        code = request.POST.get("code", "").replace(" ", "")
        if pending.verify_token(code):
            pending.confirmed = True
            pending.save(update_fields=["confirmed"])
            otp_login(request, pending)
            request.session[SESSION_REQUIRED] = True
            messages.success(request, "Two-factor sign-in is on: you will be asked for a code when you sign in.")
            return redirect("two-factor")
        error = "That code does not match. Type the six digits your app shows now."
    secret = base64.b32encode(pending.bin_key).decode().rstrip("=")
    qr = segno.make(pending.config_url, error="m").svg_data_uri(scale=4)
    return render(
        request, "registration/two_factor.html", {"enabled": False, "qr": qr, "secret": secret, "error": error}
    )


@login_required
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect("two-factor")
    device = confirmed_device(request.user)  # type: ignore[arg-type]
    if device is not None and device.verify_token(request.POST.get("code", "").replace(" ", "")):
        device.delete()
        request.session[SESSION_REQUIRED] = False
        messages.success(request, "Two-factor sign-in is off.")
    else:
        messages.error(request, "That code does not match; two-factor sign-in is still on.")
    return redirect("two-factor")


@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    error = ""
    if request.method == "POST":
        device = match_token(request.user, request.POST.get("code", "").replace(" ", ""))
        if device is not None:
            otp_login(request, device)
            return redirect(next_url or "web:home")
        error = "That code does not match. Type the six digits your app shows now."
    return render(request, "registration/two_factor_verify.html", {"next": next_url, "error": error})
