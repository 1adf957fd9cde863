"""Fill an account with a realistic volume of contacts, conversations and messages, for benchmarks.

    python manage.py seed_volume --conversations 100000 --messages-per-conversation 10

Rows are generated inside PostgreSQL (INSERT ... SELECT generate_series) in batches, so a million messages take
minutes, not hours; a progress bar shows each stage. Creates the account "Volume (benchmark)" unless --account
names one. Never run it against a production database.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from tqdm import tqdm

from accounts.models import Account, Membership, Role, User
from accounts.services import account_create
from inbox.models import ConversationCounter, Inbox, InboxMember

PHRASES = [
    "Hi, is the blue sofa still in stock?",
    "My order has not arrived yet, can you check the tracking number?",
    "I was charged twice on my last invoice",
    "Can I book a repair visit for Thursday morning?",
    "Thanks, that fixed it!",
    "What are your opening hours on Saturday?",
    "The technician never showed up, this is really frustrating",
    "Please cancel my subscription",
    "Do you offer a discount for annual plans?",
    "Can someone call me back about my quote?",
    "We have shipped your replacement part today.",
    "I have refunded the duplicate charge; it shows in 3-5 days.",
    "Your appointment is confirmed for Thursday at 9:00.",
    "Could you send a photo of the damage?",
    "Policy number is on the first page of your contract.",
    "Is there parking near the store?",
]
CHANNELS = ["sms", "whatsapp", "email", "webchat", "voice"]
STATUSES = ["live", "waiting", "escalated", "resolved", "resolved", "resolved"]


class Command(BaseCommand):
    help = "Seed an account with many contacts, conversations and messages (for benchmarks)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", type=int, help="an existing account id (default: a new volume account)")
        parser.add_argument("--conversations", type=int, default=100_000)
        parser.add_argument("--messages-per-conversation", type=int, default=10)
        parser.add_argument("--contacts", type=int, help="default: half the number of conversations")
        parser.add_argument("--batch", type=int, default=5_000, help="conversations per batch")

    def handle(self, *args: Any, **options: Any) -> None:
        if getattr(settings, "PRODUCTION", False):
            raise CommandError("seed_volume refuses to run in production (CONTINUUM_ENV=production).")
        account = self._account(options["account"])
        inboxes = self._inboxes(account)
        n_conv = options["conversations"]
        n_contacts = options["contacts"] or max(1, n_conv // 2)
        per = options["messages_per_conversation"]
        batch = options["batch"]

        contacts = self._contacts(account, n_contacts, batch)
        agents = list(Membership.objects.filter(account=account).values_list("user_id", flat=True))
        done = 0
        with tqdm(total=n_conv, desc="conversations + messages", unit="conv", unit_scale=True) as bar:
            while done < n_conv:
                size = min(batch, n_conv - done)
                self._conversation_batch(account, inboxes, agents, contacts, size, per, offset=done)
                done += size
                bar.update(size)
        with connection.cursor() as cursor:
            for table in ("contacts_contact", "contacts_contactidentity", "inbox_conversation", "inbox_message"):
                cursor.execute(f"ANALYZE {table}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Account {account.pk} ({account.name}): +{n_contacts} contacts, +{n_conv} conversations, "
                f"+{n_conv * per} messages in inboxes {', '.join(str(i) for i in inboxes)}"
            )
        )

    def _account(self, account_id: int | None) -> Account:
        if account_id is not None:
            account = Account.objects.filter(pk=account_id).first()
            if account is None:
                raise CommandError(f"No account {account_id}.")
            return account
        owner = User.objects.filter(email__iexact="volume-admin@example.com").first()
        if owner is None:
            owner = User.objects.create_user(email="volume-admin@example.com", password=None, name="Volume Admin")
        account = Account.objects.filter(name="Volume (benchmark)").first()
        if account is None:
            account = account_create(name="Volume (benchmark)", owner=owner)
            for n in range(5):
                agent = User.objects.create_user(email=f"volume-agent-{account.pk}-{n}@example.com", password=None)
                Membership.objects.create(account=account, user=agent, role=Role.AGENT)
        return account

    def _inboxes(self, account: Account) -> list[int]:
        ids = []
        for name in ("Sales", "Support", "Billing"):
            inbox, _ = Inbox.objects.get_or_create(account=account, name=name)
            for user_id in Membership.objects.filter(account=account).values_list("user_id", flat=True):
                InboxMember.objects.get_or_create(account=account, inbox=inbox, user_id=user_id)
            ids.append(inbox.pk)
        return ids

    def _contacts(self, account: Account, count: int, batch: int) -> list[int]:
        made_ids: list[int] = []
        with tqdm(total=count, desc="contacts", unit="contact", unit_scale=True) as bar:
            made = 0
            while made < count:
                size = min(batch * 2, count - made)
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(
                        """
                        INSERT INTO contacts_contact (account_id, name, attributes, created_at, last_activity_at)
                        SELECT %s, 'Customer ' || g, '{}', now() - random() * interval '365 days', now()
                        FROM generate_series(1, %s) g
                        RETURNING id
                        """,
                        [account.pk, size],
                    )
                    ids = [row[0] for row in cursor.fetchall()]
                    cursor.execute(
                        """
                        INSERT INTO contacts_contactidentity (account_id, contact_id, kind, value, created_at)
                        SELECT %s, id, 'phone', '+1555' || lpad(id::text, 7, '0'), now()
                        FROM contacts_contact WHERE id = ANY(%s)
                        """,
                        [account.pk, ids],
                    )
                made_ids += ids
                made += size
                bar.update(size)
        return made_ids

    def _conversation_batch(
        self,
        account: Account,
        inboxes: list[int],
        agents: list[int],
        contacts: list[int],
        size: int,
        per: int,
        *,
        offset: int,
    ) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            counter, _ = ConversationCounter.objects.select_for_update().get_or_create(account=account)
            first = counter.last_number + 1
            counter.last_number += size
            counter.save(update_fields=["last_number"])
            cursor.execute(
                """
                INSERT INTO inbox_conversation (
                    account_id, inbox_id, contact_id, number, status, handled_by, assignee_id, priority,
                    active_channel, last_activity_at, last_inbound_at, last_message_preview, snoozed_until,
                    resolved_at, created_at)
                SELECT %(account)s,
                       (%(inboxes)s::bigint[])[1 + (g %% cardinality(%(inboxes)s::bigint[]))],
                       (%(contacts)s::bigint[])[
                           1 + (((g + %(offset)s)::bigint * 7919) %% cardinality(%(contacts)s::bigint[]))
                       ],
                       %(first)s + g,
                       (%(statuses)s::text[])[1 + (g %% cardinality(%(statuses)s::text[]))],
                       CASE WHEN g %% 3 = 0 THEN 'ai' ELSE 'human' END,
                       CASE WHEN g %% 4 = 0 THEN NULL
                            ELSE (%(agents)s::bigint[])[1 + (g %% cardinality(%(agents)s::bigint[]))] END,
                       g %% 5,
                       (%(channels)s::text[])[1 + (g %% cardinality(%(channels)s::text[]))],
                       t.started + %(per)s * interval '7 minutes', t.started + (%(per)s - 1) * interval '7 minutes',
                       '', NULL, NULL, t.started
                FROM generate_series(0, %(size)s - 1) g,
                     LATERAL (SELECT now() - random() * interval '365 days' AS started) t
                RETURNING id
                """,
                {
                    "account": account.pk,
                    "inboxes": inboxes,
                    "contacts": contacts,
                    "offset": offset,
                    "first": first,
                    "statuses": STATUSES,
                    "agents": agents or [None],
                    "channels": CHANNELS,
                    "per": per,
                    "size": size,
                },
            )
            ids = [row[0] for row in cursor.fetchall()]
            cursor.execute(
                """
                INSERT INTO inbox_message (
                    account_id, conversation_id, contact_id, inbox_id, direction, kind, channel, sender_type,
                    sender_user_id,
                    body, provider_endpoint, provider_id, delivery_status, error_code, error_message, metadata,
                    conversation_status, conversation_handled_by, conversation_assignee_id, created_at, updated_at)
                SELECT c.account_id, c.id, c.contact_id, c.inbox_id,
                       CASE WHEN m %% 2 = 1 THEN 'in' ELSE 'out' END, 'message', c.active_channel,
                       CASE WHEN m %% 2 = 1 THEN 'contact' ELSE 'user' END,
                       CASE WHEN m %% 2 = 1 THEN NULL ELSE c.assignee_id END,
                       (%(phrases)s::text[])[1 + ((c.id * 31 + m) %% cardinality(%(phrases)s::text[]))],
                       '', '', CASE WHEN m %% 2 = 1 THEN '' ELSE 'delivered' END, '', '', '{}',
                       c.status, c.handled_by, c.assignee_id,
                       c.created_at + m * interval '7 minutes', c.created_at + m * interval '7 minutes'
                FROM inbox_conversation c CROSS JOIN generate_series(1, %(per)s) m
                WHERE c.id = ANY(%(ids)s)
                """,
                {"phrases": PHRASES, "per": per, "ids": ids},
            )
            cursor.execute(
                """
                UPDATE inbox_conversation c SET last_message_preview = left(m.body, 200)
                FROM (SELECT DISTINCT ON (conversation_id) conversation_id, body FROM inbox_message
                      WHERE conversation_id = ANY(%s) ORDER BY conversation_id, created_at DESC) m
                WHERE c.id = m.conversation_id
                """,
                [ids],
            )
