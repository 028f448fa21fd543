"""A search lookup PostgreSQL can answer from a trigram (GIN) index.

Django's `icontains` compiles to `UPPER(col) LIKE UPPER('%term%')`, which no index
serves; `trgm_icontains` compiles to `col ILIKE '%term%'`, which a `gin_trgm_ops`
index on the column does. Admins use it in `search_fields`.

A search scoped to some organizations (a support agent's) over a column with an
`OrganizationTrigrams` index also asks that index for the term's trigrams in
those organizations (`for_search_indexes`).
"""

import re

from django.db.models import CharField, QuerySet, TextField
from django.db.models.expressions import Col
from django.db.models.lookups import IContains
from django.db.models.sql.where import WhereNode

from tenants import selectors
from tenants.models import OrganizationTrigrams
from tenants.selectors import SQL


class TrigramContains(IContains):
    lookup_name = "trgm_icontains"

    def as_sql(self, compiler, connection):
        lhs_sql, params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs_sql} ILIKE {rhs_sql}", [*params, *rhs_params]


CharField.register_lookup(TrigramContains)
TextField.register_lookup(TrigramContains)


# Runs of ASCII letters and digits, but for a capital I: in a Turkish or Azeri
# locale PostgreSQL lowercases it to a dotless i (U+0131), so a title's "INVOICE"
# is keyed without "inv" while the term's would ask for it.
_KEYED_RUN = re.compile(r"[0-9a-zA-HJ-Z]+")


# How many of a term's trigrams a search asks the keys for: the index reads the
# postings of each, and three are as selective as all of them for words (the
# mixed agent's "invoice" at 1M tasks: 3,692 candidates with 3 or 5; the index
# scan 1.2 ms against 1.5, planning 0.31 against 0.46).
TRIGRAMS_ASKED = 3


def trigram_codes(term: str) -> list[int]:
    """The three bytes of trigrams inside `term`'s runs of ASCII letters and
    digits, lowercase: a row whose column contains `term`, whatever the case,
    has each of them among its keys (`organization_trigram_keys`), as the run
    lies inside one of its words. At most TRIGRAMS_ASKED, spread over the term
    (its first, its last, then evenly); none when the term has no such trigram."""
    trigrams = []
    for run in _KEYED_RUN.findall(term):
        run = run.lower().encode()
        trigrams += [run[i : i + 3] for i in range(len(run) - 2)]
    trigrams = list(dict.fromkeys(trigrams))
    if len(trigrams) > TRIGRAMS_ASKED:
        last = len(trigrams) - 1
        trigrams = [
            trigrams[round(i * last / (TRIGRAMS_ASKED - 1))]
            for i in range(TRIGRAMS_ASKED)
        ]
    return [int.from_bytes(trigram) for trigram in trigrams]


class OrganizationTrigramContains(TrigramContains):
    """`column ILIKE '%term%'` for rows of some organizations, with each of the
    term's trigrams asked of the (organization, trigram) keys in any of them:
    `keys && ARRAY(SELECT organization << 24 | trigram FROM <organizations>)`,
    one condition a trigram, all read in one scan of the GIN index, whose
    answer is exact (no row is read again to check it).

    The match itself is written `lower(column) LIKE lower('%term%')`, which is
    what ILIKE computes, but which the column's own trigram index cannot serve:
    its bitmap is lossy, and ANDed with the keys' it made PostgreSQL check each
    candidate row's keys again, computing them (14 us a row and condition)."""

    def __init__(
        self,
        lookup: TrigramContains,
        organization: str,
        organizations: SQL,
        codes: list[int],
    ):
        super().__init__(lookup.lhs, lookup.rhs)
        self.organization = organization
        self.organizations = organizations
        self.codes = codes

    def as_sql(self, compiler, connection):
        column = self.lhs
        organization = column.target.model._meta.get_field(self.organization)
        keys, keys_params = compiler.compile(
            OrganizationTrigrams(column, organization.get_col(column.alias))
        )
        scope, scope_params = self.organizations
        wanted = (
            f'{keys} && ARRAY(SELECT ("scope"."id" << 24) | %s '
            f'FROM ({scope}) "scope" ("id"))'
        )
        column_sql, column_params = self.process_lhs(compiler, connection)
        pattern_sql, pattern_params = self.process_rhs(compiler, connection)
        search = f"lower({column_sql}) LIKE lower({pattern_sql})"
        search_params = (*column_params, *pattern_params)
        sql = " AND ".join([wanted] * len(self.codes) + [search])
        params = []
        for code in self.codes:
            params += [*keys_params, code, *scope_params]
        return f"({sql})", (*params, *search_params)


def for_search_indexes(queryset: QuerySet, organizations: SQL | None) -> QuerySet:
    """A search `queryset` written for the indexes that serve it: each trigram
    search of a column its model keys by organization (an `OrganizationTrigrams`
    index) asks those keys for `organizations` (the SQL of their ids), and the
    scope is then a filter (`selectors.scope_as_filter`); without such a search
    (a term without keyed trigrams, a column without keys) the scope is written
    for the column's own trigram index (`selectors.overlapping`). Unchanged for
    a user who sees every organization."""
    if organizations is None:
        return queryset
    keyed_by = {
        expression.field_name: expression.organization_name
        for index in queryset.model._meta.indexes
        for expression in index.expressions
        if isinstance(expression, OrganizationTrigrams)
    }
    keyed = queryset.all()
    alias = keyed.query.get_initial_alias()
    rewritten = False

    def rewrite(node):
        nonlocal rewritten
        for i, child in enumerate(node.children):
            if isinstance(child, WhereNode):
                # A negated search gains nothing from an index: left as it is.
                if not child.negated:
                    rewrite(child)
            elif (
                type(child) is TrigramContains
                and isinstance(child.lhs, Col)
                and child.lhs.alias == alias
                and child.lhs.target.name in keyed_by
                and isinstance(child.rhs, str)
                and (codes := trigram_codes(child.rhs))
            ):
                node.children[i] = OrganizationTrigramContains(
                    child, keyed_by[child.lhs.target.name], organizations, codes
                )
                rewritten = True

    if keyed_by and not keyed.query.where.negated:
        rewrite(keyed.query.where)
    if rewritten:
        return selectors.scope_as_filter(keyed)
    return selectors.overlapping(queryset)
