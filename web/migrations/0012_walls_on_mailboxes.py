"""The walls on IMAP mailbox cursors (see 0004)."""

from importlib import import_module

from django.db import migrations


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    import_module("web.migrations.0001_row_level_security").forwards(apps, schema_editor)
    import_module("web.migrations.0003_system_role").forwards(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("web", "0011_walls_on_templates"), ("channels_app", "0006_mailbox_cursor")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
