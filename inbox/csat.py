"""Customer satisfaction: after a person resolves a conversation (in an inbox that asks), one question goes to the
customer on the conversation's channel — a reply digit on SMS and WhatsApp, a link elsewhere — and the answer is
kept with its comment for the reports. A digit answering a survey is a rating, not a new conversation."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.errors import Conflict, ServiceError
from accounts.models import Account, User

from . import events
from .models import Channel, Conversation, CsatSurvey

ANSWER_WINDOW = timedelta(days=7)  # a digit later than this is just a message
DIGIT_CHANNELS = {Channel.SMS, Channel.WHATSAPP}
LINK_CHANNELS = {Channel.EMAIL, Channel.WEBCHAT}
_DIGIT_ANSWER = re.compile(r"^\s*([1-5])(?:\s*(?:/\s*5|stars?|of 5))?\s*[.!,:-]?\s*(.*)$", re.IGNORECASE | re.DOTALL)


def survey_url(survey: CsatSurvey) -> str:
    return f"{settings.PUBLIC_BASE_URL}/csat/{survey.token}/"


def survey_after_resolve(account: Account, conversation: Conversation, actor: User | None) -> CsatSurvey | None:
    """Ask for a rating when a person resolved a conversation of an inbox that asks, on a channel that can carry
    it, at most once per conversation per day."""
    from .services import send_message

    channel = conversation.active_channel
    if actor is None or not conversation.inbox.csat_enabled or channel not in DIGIT_CHANNELS | LINK_CHANNELS:
        return None
    if CsatSurvey.objects.filter(conversation=conversation, sent_at__gte=timezone.now() - timedelta(days=1)).exists():
        return None
    survey = CsatSurvey.objects.create(
        account=account,
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        contact_id=conversation.contact_id,
        assignee_id=conversation.assignee_id,
        channel=channel,
        token=secrets.token_urlsafe(24),
    )
    name = conversation.inbox.name
    if channel in DIGIT_CHANNELS:
        body = f"How did we do with your request to {name}? Reply 1 to 5 (5 = great); add a comment if you like."
    else:
        body = f"How did we do with your request to {name}? Rate us in one click: {survey_url(survey)}"
    send_message(
        account=account,
        conversation=conversation,
        body=body,
        channel=channel,
        sender_type="system",
        metadata={"csat": survey.pk},
    )
    return survey


def digit_answer(contact_id: int, inbox_id: int, body: str, at: datetime) -> CsatSurvey | None:
    """The open survey of this customer in this inbox that `body` answers ("5", "4 thanks!", "3/5 slow"), recorded;
    None when the message is not an answer (then it is an ordinary message)."""
    match = _DIGIT_ANSWER.match(body or "")
    if match is None:
        return None
    survey = (
        CsatSurvey.objects.select_for_update()
        .filter(
            contact_id=contact_id,
            inbox_id=inbox_id,
            channel__in=list(DIGIT_CHANNELS),
            rating__isnull=True,
            sent_at__gte=at - ANSWER_WINDOW,
        )
        .order_by("-sent_at")
        .first()
    )
    if survey is None:
        return None
    survey.rating = int(match.group(1))
    survey.comment = match.group(2).strip()[:2000]
    survey.rated_at = at
    survey.save(update_fields=["rating", "comment", "rated_at"])
    _announce(survey)
    return survey


@transaction.atomic
def survey_answer(*, token: str, rating: int, comment: str = "") -> CsatSurvey:
    """A rating from the survey link (once; a second answer is refused)."""
    survey = CsatSurvey.objects.select_for_update().filter(token=token).first()
    if survey is None:
        raise ServiceError("This survey link is not valid.", field="token")
    if survey.rating is not None:
        raise Conflict("Thanks, this survey was already answered.", field="rating")
    if rating not in range(1, 6):
        raise ServiceError("Choose a rating from 1 to 5.", field="rating")
    survey.rating = rating
    survey.comment = comment.strip()[:2000]
    survey.rated_at = timezone.now()
    survey.save(update_fields=["rating", "comment", "rated_at"])
    _announce(survey)
    return survey


def _announce(survey: CsatSurvey) -> None:
    events.announce(survey.account_id, survey.inbox_id, "csat.created", {
        "csat": {
            "id": survey.pk,
            "conversation_id": survey.conversation_id,
            "contact_id": survey.contact_id,
            "channel": survey.channel,
            "rating": survey.rating,
            "comment": survey.comment,
            "rated_at": survey.rated_at.isoformat() if survey.rated_at else None,
        }
    })  # fmt: skip
