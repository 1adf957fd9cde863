"""A person's own memberships, and the accounts they belong to, stay readable under the tenant role (the console's
account switcher lists them while a page of one account is served). Only reads: writes still need the account
the work is scoped to. `continuum.user_id` is set with the account by `accounts.tenant_db`."""

from django.db import migrations

USER = "nullif(current_setting('continuum.user_id', true), '')::bigint"

FORWARDS = [
    "DROP POLICY IF EXISTS own_memberships ON accounts_membership",
    f"CREATE POLICY own_memberships ON accounts_membership FOR SELECT TO continuum_app USING (user_id = {USER})",
    "DROP POLICY IF EXISTS own_accounts ON accounts_account",
    "CREATE POLICY own_accounts ON accounts_account FOR SELECT TO continuum_app USING "  # noqa: S608 (constants only)
    f"(id IN (SELECT account_id FROM accounts_membership WHERE user_id = {USER}))",
]
BACKWARDS = [
    "DROP POLICY IF EXISTS own_memberships ON accounts_membership",
    "DROP POLICY IF EXISTS own_accounts ON accounts_account",
]


class Migration(migrations.Migration):
    dependencies = [("web", "0001_row_level_security")]

    operations = [migrations.RunSQL(FORWARDS, BACKWARDS)]
