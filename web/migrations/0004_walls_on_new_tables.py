"""The two walls (the tenant policy of 0001 and the system role's of 0003) on the tables added since: routing
and presence fields need none, but notifications, labels (on conversations and contacts) and canned responses
are tenant tables. Both steps are idempotent, so this simply re-applies them to every tenant table."""

from importlib import import_module

from django.db import migrations


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    import_module("web.migrations.0001_row_level_security").forwards(apps, schema_editor)
    import_module("web.migrations.0003_system_role").forwards(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("web", "0003_system_role"),
        ("accounts", "0003_team_tools"),
        ("inbox", "0008_team_tools"),
        ("channels_app", "0003_endpoint_address_unique"),
        ("ai_agent", "0004_drop_last_assigned"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
