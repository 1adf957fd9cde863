"""Keep the conversation's inbox on each message (filled from the conversation for existing rows)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0002_message_conversation_assignee_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="inbox",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="inbox.inbox"
            ),
        ),
        migrations.RunSQL(
            "UPDATE inbox_message m SET inbox_id = c.inbox_id FROM inbox_conversation c WHERE c.id = m.conversation_id",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="message",
            name="inbox",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="inbox.inbox"),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["account", "contact", "inbox", "-created_at", "-id"], name="msg_contact_inbox"),
        ),
    ]
