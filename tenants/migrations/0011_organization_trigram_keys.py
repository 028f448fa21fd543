from django.db import migrations

# The keys of models.OrganizationTrigrams: for each trigram pg_trgm finds inside a
# word of `value` (show_trgm) made of lowercase ASCII letters and digits,
# `organization_id << 24` with its three bytes. pg_trgm shows such a trigram as
# itself, three bytes; a word's padding is a space, and other trigrams are hashed
# and shown as 0x... (the few hashes that print as three letters or digits key a
# row for a trigram it lacks, which the search's LIKE then drops). A search term's
# own trigrams of that kind are what any title containing it has too
# (admin_theme.search.trigram_codes). Tested by length and space rather than by a
# regular expression: 13.6 us a title against 18.8. The body is SQL-standard, so
# show_trgm is bound here, whatever the search_path of a later index build or
# query.
CREATE = """
CREATE FUNCTION organization_trigram_keys(organization_id bigint, value text)
RETURNS bigint[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 1000
RETURN ARRAY(
    SELECT (organization_id << 24)
        | (ascii(trigram) << 16)
        | (ascii(substr(trigram, 2)) << 8)
        | ascii(substr(trigram, 3))
    FROM unnest(show_trgm(value)) AS trigram
    WHERE octet_length(trigram) = 3 AND strpos(trigram, ' ') = 0
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
