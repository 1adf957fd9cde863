"""The customer's side of a satisfaction survey: a page reached from the link in an email or webchat message,
one question, five buttons and an optional comment. No sign-in: the link's token is the key (random, one per
survey), and a survey is answered once."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from accounts.errors import ServiceError
from inbox.csat import survey_answer
from inbox.models import CsatSurvey


@require_http_methods(["GET", "POST"])
def csat_page(request: HttpRequest, token: str) -> HttpResponse:
    survey = CsatSurvey.objects.select_related("inbox", "account").filter(token=token).first()
    if survey is None:
        return render(request, "web/csat.html", {"missing": True}, status=404)
    error = ""
    if request.method == "POST" and survey.rating is None:
        raw = request.POST.get("rating", "")
        try:
            survey = survey_answer(
                token=token, rating=int(raw) if raw.isdigit() else 0, comment=request.POST.get("comment", "")
            )
        except ServiceError as exc:
            error = exc.message
    return render(
        request,
        "web/csat.html",
        {"survey": survey, "error": error, "choices": [(5, "Great"), (4, "Good"), (3, "OK"), (2, "Poor"), (1, "Bad")]},
        status=400 if error else 200,
    )
