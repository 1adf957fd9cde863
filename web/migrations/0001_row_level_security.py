"""Row-level security as a second wall under the application's tenant wall.

Every table of ours with an `account_id` column (and `accounts_account` itself, by `id`) gets a policy for the
role `continuum_app`: a row is visible, and may be written, only when its account is the one the request named
(`continuum.account_id`, set per request by `accounts.tenant_db`). Requests that serve one account switch to that
role; with no account set, the role sees nothing. The owner role (migrations, tasks, system work) is not bound.
A later migration that adds a tenant table must add its policy too: `tests/test_row_level_security.py` fails
until it does."""

from django.db import migrations

OUR_APPS = (
    "accounts_",
    "contacts_",
    "inbox_",
    "memory_",
    "channels_app_",
    "ai_agent_",
    "reports_",
    "integrations_",
    "web_",
)
POLICY = (
    "CREATE POLICY tenant_wall ON {table} TO continuum_app "
    "USING ({column} = nullif(current_setting('continuum.account_id', true), '')::bigint) "
    "WITH CHECK ({column} = nullif(current_setting('continuum.account_id', true), '')::bigint)"
)


def tenant_tables(cursor):  # type: ignore[no-untyped-def]
    cursor.execute(
        "SELECT table_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND column_name = 'account_id' ORDER BY table_name"
    )
    tables = [(name, "account_id") for (name,) in cursor.fetchall() if name.startswith(OUR_APPS)]
    return [("accounts_account", "id"), *tables]


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    with schema_editor.connection.cursor() as cursor:
        # The role is cluster-wide: several databases may be migrated at once (the test workers' databases on one
        # server), so "create unless it exists" must also survive losing the race to another migration.
        cursor.execute(
            "DO $$ BEGIN CREATE ROLE continuum_app NOLOGIN NOSUPERUSER NOBYPASSRLS; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
        cursor.execute("GRANT USAGE ON SCHEMA public TO continuum_app")
        cursor.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO continuum_app")
        cursor.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO continuum_app")
        cursor.execute(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO continuum_app"
        )
        cursor.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO continuum_app")
        for table, column in tenant_tables(cursor):
            cursor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            cursor.execute(f"DROP POLICY IF EXISTS tenant_wall ON {table}")
            cursor.execute(POLICY.format(table=table, column=column))


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    with schema_editor.connection.cursor() as cursor:
        for table, _column in tenant_tables(cursor):
            cursor.execute(f"DROP POLICY IF EXISTS tenant_wall ON {table}")
            cursor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("contacts", "0001_initial"),
        ("inbox", "0006_conversation_merged_into"),
        ("memory", "0003_fact_origin"),
        ("channels_app", "0002_endpoint_options_providers"),
        ("ai_agent", "0003_playbook_playbookrun_playbook_playbook_due_and_more"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
