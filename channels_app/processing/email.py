"""Email's events and replies: an inbound email (any provider's parse webhook or raw MIME) into its thread, and
sending replies through the inbox's SMTP server. Parsing is in adapters/email.py."""

from __future__ import annotations

import logging
import re
import smtplib

from accounts import outbound
from accounts.errors import ServiceError
from accounts.models import Membership
from contacts.models import ContactIdentity
from contacts.services import contact_for_mail
from inbox.attachments import IncomingFile, attachment_check
from inbox.models import Conversation, DeliveryStatus, Message, SenderType
from inbox.services import message_set_delivery, receive_message

from ..adapters import email
from ..mailboxes import keep_sent
from ..models import ChannelEndpoint, InboundEvent, Provider

logger = logging.getLogger(__name__)


PROVIDER_ID_MAX = Message._meta.get_field("provider_id").max_length or 128


def inbound_email(event: InboundEvent) -> None:
    endpoint = event.endpoint
    mail = email.parse(event.payload)
    try:
        contact, sender_note = contact_for_mail(
            account=event.account, raw_address=mail.sender, name=mail.sender_name or None
        )
    except ServiceError as exc:
        raise email.MalformedEmail(f"From {mail.sender!r} is not an address we can use: {exc.message}") from None
    files, refused = [], list(mail.refused)
    for filename, content_type, data in mail.attachments:
        incoming = IncomingFile.from_bytes(filename, data, content_type)
        try:
            attachment_check(incoming)
        except ServiceError as exc:  # kept out, and the agent is told which file and why
            refused.append(exc.message)
            continue
        files.append(incoming)
    read = email.reading(mail)
    body = read.own or read.rest  # a forward with no note of its own is the forwarded email
    provider_id = (mail.message_id or f"event:{event.pk}")[:PROVIDER_ID_MAX]
    same_id = Message.objects.filter(
        account=event.account, provider_endpoint=str(endpoint.public_id), provider_id=provider_id
    )
    if same_id.exists():  # another email reusing a Message-ID (a retry of the same email is the same event)
        provider_id = f"{provider_id[: PROVIDER_ID_MAX - 24]}#event:{event.pk}"
    receive_message(
        account=event.account,
        inbox=endpoint.inbox,
        contact=contact,
        channel="email",
        body=body,
        provider_endpoint=str(endpoint.public_id),
        provider_id=provider_id,
        attachments=files,
        metadata={
            "subject": mail.subject[:300],
            "to": mail.recipients[:20],
            "references": [*mail.references, mail.in_reply_to][-20:] if mail.in_reply_to else mail.references[-20:],
            "html": email.safe_html(mail.html),
            "headers": email.shown_headers(mail),
            "quoted_text_removed": bool(read.own and read.rest),
            **({"quoted": read.rest[: email.QUOTED_MAX], "forward": read.forwarded} if read.own and read.rest else {}),
            **({"forwarded_emails": mail.forwarded} if mail.forwarded else {}),
            **({"signed": mail.signed} if mail.signed else {}),
            **({"repaired": f"Read leniently: {mail.repaired}."} if mail.repaired else {}),
            **({"sender_note": sender_note} if sender_note else {}),
            "attachments_refused": refused,
            **({"automated": automated} if (automated := email.automated_reason(mail)) else {}),
        },
        thread=_email_thread(event, mail),
    )


def _email_thread(event: InboundEvent, mail: email.InboundEmail) -> Conversation | None:
    """The conversation an email answers: by its In-Reply-To/References against the Message-IDs of this
    endpoint's emails (ours and the customer's), else by a reply+<token>@ address it was sent to."""
    endpoint = event.endpoint
    if mail.thread_ids:
        answered = (
            Message.objects.filter(
                account=event.account,
                provider_endpoint=str(endpoint.public_id),
                provider_id__in=[i[:PROVIDER_ID_MAX] for i in mail.thread_ids[:20]],
            )
            .select_related("conversation")
            .order_by("-created_at")
            .first()
        )
        if answered is not None:
            return answered.conversation
    conversation_id = email.conversation_from_token(event.account_id, mail.recipients)
    if conversation_id is not None:
        return Conversation.objects.filter(account=event.account, inbox=endpoint.inbox, pk=conversation_id).first()
    return None


def signature(message: Message) -> str:
    """What goes under an email: the writer's own signature, then the inbox's (with its placeholders filled), after
    the usual "-- " line; "" when neither is set."""
    inbox, writer = message.conversation.inbox, message.sender_user
    own = ""
    if writer is not None:
        own = (
            Membership.objects.filter(account_id=message.account_id, user=writer)
            .values_list("email_signature", flat=True)
            .first()
            or ""
        )
    name = writer.display_name if writer is not None else ""
    values = {
        "agent_name": name,
        "agent_first_name": name.split()[0] if name.split() else "",
        "inbox_name": inbox.name,
        "business_name": message.account.name,
    }
    shared = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), inbox.email_signature or "")
    parts = [part.strip() for part in (own, shared) if part and part.strip()]
    return "\n\n-- \n" + "\n\n".join(parts) if parts else ""


SMTP_PERMANENT = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)


def deliver(task, message: Message, fail) -> str:  # type: ignore[no-untyped-def]
    account, conversation = message.account, message.conversation
    endpoint = ChannelEndpoint.objects.filter(
        account=account, inbox_id=message.inbox_id, kind="email", enabled=True
    ).first()
    if endpoint is None:
        return str(fail("no_endpoint", "No email address is connected to this inbox."))
    identity = ContactIdentity.objects.filter(account=account, contact=message.contact, kind="email").first()
    if identity is None:
        return str(fail("no_address", "The customer has no email address."))
    last_in = (
        Message.objects.filter(conversation=conversation, direction="in", channel="email")
        .order_by("-created_at", "-id")
        .first()
    )
    subject = str(last_in.metadata.get("subject", "")) if last_in else ""
    if message.metadata.get("subject"):  # the team wrote first, with a subject of its own
        subject = str(message.metadata["subject"])
    elif not subject:
        subject = f"{conversation.inbox.name} — conversation #{conversation.number}"
    elif not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    # The Message-ID is chosen once and kept: a retry after a crash sends the same email, not a new thread.
    message_id = str(message.metadata.get("email_message_id") or email.new_message_id(endpoint))
    if "email_message_id" not in message.metadata:
        message.metadata["email_message_id"] = message_id
        Message.objects.filter(pk=message.pk).update(metadata=message.metadata)
    attachments = [(a.filename, a.file.read(), a.content_type) for a in message.attachments.all()]
    try:
        sent = email.send(
            endpoint,
            to=identity.value,
            subject=subject,
            body=message.body + signature(message),
            message_id=message_id,
            in_reply_to=last_in.provider_id if last_in and last_in.provider_id.startswith("<") else "",
            references=list(last_in.metadata.get("references", [])) if last_in else [],
            reply_to=email.reply_address(endpoint, conversation.pk),
            from_name=f"{account.name} {conversation.inbox.name}",
            attachments=attachments,
            automatic=message.sender_type != SenderType.USER,
            cc=list(message.metadata.get("cc") or []),
            bcc=list(message.metadata.get("bcc") or []),
        )
    except SMTP_PERMANENT as exc:
        return str(fail("smtp_refused", f"The mail server refused the email: {exc}"[:500]))
    except outbound.OutboundRefused as exc:
        return str(fail("smtp_not_allowed", f"The inbox's mail server is not allowed: {exc.reason}"[:500]))
    except (smtplib.SMTPException, OSError) as exc:
        if task.request.retries < task.max_retries:
            raise task.retry(exc=exc, countdown=5 * 2**task.request.retries) from exc
        return str(fail("smtp_unreachable", f"Could not hand the email to the mail server ({type(exc).__name__})."))
    Message.objects.filter(pk=message.pk).update(provider_endpoint=str(endpoint.public_id), provider_id=message_id)
    message_set_delivery(account=account, message=message, status=DeliveryStatus.SENT)
    if endpoint.provider == Provider.IMAP:  # the team's own mailbox keeps a copy, as their mail client would
        problem = keep_sent(endpoint, sent)
        if problem:
            message.metadata["sent_folder_error"] = problem[:300]
            Message.objects.filter(pk=message.pk).update(metadata=message.metadata)
    return "sent"
