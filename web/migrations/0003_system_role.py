"""The role the running application logs in as is not the owner of the tables and not a superuser.

`continuum_system` (granted to the application's login role, see `manage.py db_app_role`) reads and writes every
tenant's rows for system work that serves no single account yet (an arriving webhook before its endpoint is
known, beat's sweeps); work of one account switches to `continuum_app`, which sees that account only. The owner
role (migrations) keeps the schema; the application's role cannot change it, and holds no superuser powers."""

from django.db import migrations


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    from importlib import import_module

    tenant_tables = import_module("web.migrations.0001_row_level_security").tenant_tables
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "DO $$ BEGIN CREATE ROLE continuum_system NOLOGIN NOSUPERUSER NOBYPASSRLS; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
        # A member of the system role may narrow itself to one account (SET ROLE continuum_app).
        cursor.execute(
            "DO $$ BEGIN GRANT continuum_app TO continuum_system; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
        cursor.execute("GRANT USAGE ON SCHEMA public TO continuum_system")
        cursor.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO continuum_system")
        cursor.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO continuum_system")
        cursor.execute(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO continuum_system"
        )
        cursor.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO continuum_system")
        for table, _column in tenant_tables(cursor):
            cursor.execute(f"DROP POLICY IF EXISTS system_work ON {table}")
            cursor.execute(f"CREATE POLICY system_work ON {table} TO continuum_system USING (true) WITH CHECK (true)")


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    from importlib import import_module

    tenant_tables = import_module("web.migrations.0001_row_level_security").tenant_tables
    with schema_editor.connection.cursor() as cursor:
        for table, _column in tenant_tables(cursor):
            cursor.execute(f"DROP POLICY IF EXISTS system_work ON {table}")


class Migration(migrations.Migration):
    dependencies = [("web", "0002_own_memberships_visible")]

    operations = [migrations.RunPython(forwards, backwards)]
