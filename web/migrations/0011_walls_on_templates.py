"""The walls on WhatsApp message templates (see 0004)."""

from importlib import import_module

from django.db import migrations


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    import_module("web.migrations.0001_row_level_security").forwards(apps, schema_editor)
    import_module("web.migrations.0003_system_role").forwards(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("web", "0010_walls_on_imports"), ("channels_app", "0005_message_template")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
