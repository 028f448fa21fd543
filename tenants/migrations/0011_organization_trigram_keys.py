from django.db import migrations

# The keys of models.OrganizationTrigrams: for each trigram pg_trgm finds inside a
# word of `value` (show_trgm) made of lowercase ASCII letters and digits only,
# `organization_id << 24` with its three bytes. Trigrams with a word's padding
# (spaces) or other characters (hashed by pg_trgm) are left out: a search term's
# own trigrams of that kind are what any title containing it has too
# (admin_theme.search.trigram_codes). The body is SQL-standard, so show_trgm is
# bound here, whatever the search_path of a later index build or query.
CREATE = """
CREATE FUNCTION organization_trigram_keys(organization_id bigint, value text)
RETURNS bigint[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 1000
RETURN ARRAY(
    SELECT (organization_id << 24)
        | (ascii(substr(trigram, 1, 1)) << 16)
        | (ascii(substr(trigram, 2, 1)) << 8)
        | ascii(substr(trigram, 3, 1))
    FROM unnest(show_trgm(value)) AS trigram
    WHERE trigram ~ '^[a-z0-9]{3}$'
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0010_history_user_without_constraint"),
    ]

    operations = [
        migrations.RunSQL(
            CREATE,
            "DROP FUNCTION organization_trigram_keys(bigint, text)",
        ),
    ]
