"""Changelist pagination without an unbounded COUNT(*) or a deep OFFSET join.

Up to `CAP` rows the count is exact (a bounded count over the filtered query);
past it, the count is PostgreSQL's planner estimate for that query, the page says
"about N (estimated)", and pages past the estimate are served (empty at the end)
rather than refused. A page is read in two steps: the ids of the page, by the
query's own ordering (an index scan that skips OFFSET rows cheaply), then those
rows with their related objects, so deep pages do not join every skipped row.

A list scoped to some organizations (a support agent's, a pinned one) reads the
ids of a page organization by organization, each from the index that holds its
rows in the list's order, and merges them (`merged_page_sql`). A scoped search is
counted, exactly, and paged from one ordered read of its ids up to the page
asked for (the first CAP + 1 at most); a search of the whole table is counted
through bitmap index scans (`_count_by_bitmaps`).
"""

import json

from django.core.exceptions import EmptyResultSet, FieldDoesNotExist
from django.core.paginator import EmptyPage, Paginator
from django.db import connections, transaction
from django.db.models import Count, F, IntegerField, Window
from django.db.models.expressions import RawSQL
from django.db.models.lookups import Exact
from django.db.models.sql.where import AND
from django.utils.functional import cached_property

from tenants import selectors
from tenants.selectors import is_organization_scope, own_column

# Exact counts up to here. A capped count still reads every matching row up to the
# cap: 10,000 matches of a title search cost 20 ms at 1M tasks, 1,000 cost 2 ms.
CAP = 1_000


class EstimatedCountPaginator(Paginator):
    template_name = "admin_theme/pagination.html"
    is_estimated = False
    # Where a page's rows are read from, by id: the user's whole (scoped) list.
    # The list's filters chose the ids already; read again with the rows, a filter
    # on the column the scope also names (`organization_id = 1` beside `= ANY(the
    # user's organizations)`) made PostgreSQL expect one row and walk the
    # organization's index for the 50 ids (7 ms against 0.7 by the primary key).
    rows_source = None
    # The SQL of the ids of the organizations the list is scoped to, or None.
    organizations = None
    # Count while reading the list's first ids in order, which then serve the
    # page asked for (within the first CAP + 1): set for a scoped search (a
    # support agent's), where PostgreSQL answers both from the same bitmaps
    # (count 15 ms + page 19 ms, together 20 ms), and the count is exact past
    # the cap too.
    count_from_ids = False
    # Count through bitmap index scans: set for a search of the whole table (a
    # platform admin's). PostgreSQL's own plan for `COUNT` over the first 1,001
    # matches tested the title of row after row (of the table, or down the
    # ordering's index for the 1,001 ordered ids): 40k rows for a word in 2.5% of
    # 1M titles, 55 ms, where the trigram index's bitmap answers in 19; a page of
    # 50 ordered ids then takes 3. A scoped search already reads bitmaps.
    count_by_bitmaps = False
    # The page the request asks for (CountSafeMixin sets it).
    page_number = 1

    @property
    def cap(self) -> int:
        return CAP

    @property
    def _reach(self) -> int:
        """How many of the list's first ids `_leading` reads: up to the end of
        the page asked for (the rest of the first CAP + 1 were read and dropped:
        at 1M tasks, 1,001 rows for the mixed agent's 50, 0.9 ms of the read's
        17.8); all CAP + 1 of a DISTINCT list, which counts them."""
        if self.object_list.query.distinct:
            return CAP + 1
        return min(CAP + 1, max(1, self.page_number) * self.per_page)

    @cached_property
    def _leading(self) -> tuple[list, int]:
        """The list's first ids in order (`_reach` of them), and how many rows it
        holds: the ordered read has every match in hand already (its sort keeps
        the first ones), so `COUNT(*) OVER ()` counts them all at no extra cost,
        exactly, where an estimate past the cap took a second statement."""
        # The scope's bitmap and the search's, ANDed, outgrew the default 4 MB of
        # work_mem at 10M tasks and went lossy (5.5M rows rechecked): 2.4 s for
        # the mixed agent's search, 0.46 s with 16 MB. No parallel workers: for
        # a term of one trigram PostgreSQL expects 1% of the table and starts
        # two, which cost more than they share (the mixed agent's "web" at 1M
        # tasks: 8.0 ms, 4.7 without).
        rows = _planned_with(
            self.object_list.db,
            {"work_mem": "'16MB'", "max_parallel_workers_per_gather": "0"},
            lambda: list(
                self.object_list.annotate(_total=Window(Count("*"))).values_list(
                    "pk", "_total"
                )[: self._reach]
            ),
        )
        return [pk for pk, _ in rows], rows[0][1] if rows else 0

    @property
    def leading_ids(self) -> list:
        return self._leading[0]

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if self.count_from_ids:
            if not queryset.query.distinct:
                return self._leading[1]
            # The window counted rows before DISTINCT merged them: count the ids.
            exact = len(self.leading_ids)
        elif self.count_by_bitmaps:
            exact = _count_by_bitmaps(queryset.order_by()[: CAP + 1])
        else:
            # COUNT over a LIMITed subquery: reads at most CAP + 1 index entries.
            exact = queryset.order_by()[: CAP + 1].count()
        if exact <= CAP:
            return exact
        self.is_estimated = True
        return max(CAP + 1, self._planner_estimate(queryset))

    @staticmethod
    def _planner_estimate(queryset) -> int:
        queryset = selectors.scope_as_ids(queryset.order_by())
        try:
            sql, params = queryset.query.sql_with_params()
        except EmptyResultSet:  # the scope's last grant went since the count
            return 0
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])

    def validate_number(self, number):
        """Past an estimated count the real end is unknown: serve the page."""
        try:
            return super().validate_number(number)
        except EmptyPage:
            if self.is_estimated:
                return int(number)
            raise

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        queryset = self.object_list
        top = bottom + self.per_page
        if self.count_from_ids and top <= self._reach:
            ids = self.leading_ids[bottom:top]
        else:
            ids = self._ids(bottom, top)
        rows = {}
        if ids:
            source = queryset if self.rows_source is None else self.rows_source
            source = source.order_by().filter(pk__in=ids)
            source.query.select_related = queryset.query.select_related
            rows = {row.pk: row for row in source}
        return self._get_page([rows[pk] for pk in ids if pk in rows], number, self)

    def _ids(self, bottom: int, top: int) -> list:
        queryset = self.object_list
        ids = merged_page_ids(queryset, self.organizations, bottom, top)
        if ids is None:
            ids = list(queryset.values_list("pk", flat=True)[bottom:top])
        return ids


class LookaheadPaginator(Paginator):
    """Autocomplete results: one page and whether another follows, read as
    `per_page + 1` rows; the widget needs no count, so none is made. A scoped
    list's rows come from its merged statement itself (`merged_page_sql` with
    `rows`), not from its ids read again by id."""

    organizations = None  # as EstimatedCountPaginator's

    def page(self, number):
        try:
            number = max(1, int(number))
        except (TypeError, ValueError):
            number = 1
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page + 1
        queryset = self.object_list
        merged = merged_page_sql(queryset, self.organizations, bottom, top, rows=True)
        if merged is None:
            rows = list(queryset[bottom:top])
        else:
            rows = list(queryset.raw(*merged))
        self.count = bottom + len(rows)  # what `has_next()` reads
        return self._get_page(rows[: self.per_page], number, self)


# Organizations whose rows a merged page reads as streams of their own (below),
# for pages starting past STREAMS_FROM_ROW: planning the streams costs ~0.5 ms,
# which the sort they save repays from there (page 20 at 50 rows a page: 1.0 ms
# against 1.5 for the mixed agent; page 1: 0.9 against 0.7).
STREAMS = 4
STREAMS_FROM_ROW = 500
_ORGANIZATION = '"scope_org"."id"'


def merged_page_ids(queryset, organizations, bottom: int, top: int) -> list | None:
    """`merged_page_sql`'s ids, read."""
    merged = merged_page_sql(queryset, organizations, bottom, top)
    if merged is None:
        return None
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(*merged)
        return [row[0] for row in cursor.fetchall()]


def merged_page_sql(
    queryset, organizations, bottom: int, top: int, *, rows: bool = False
) -> tuple[str, tuple] | None:
    """The SQL of the ids of rows `bottom` to `top` of a list scoped to some
    organizations (`organizations`: the SQL of their ids), in its order, read as
    each organization's first `top` rows, merged in one statement; None when no
    index of (organization, the list's ordering) holds each organization's rows
    in that order, or the list is not scoped. With `rows`, the rows themselves
    (the model's columns; None for a list that selects related rows, annotates
    or defers).

    PostgreSQL cannot know how many rows `organization_id = ANY(<subquery>)`
    matches, nor merge several organizations' index ranges in order: for an agent
    holding the largest organization (1M tasks) it read the three organizations'
    148k tasks and sorted them for page 1,000. Each organization's rows are read
    through a LATERAL join over the scope and sorted; on a deep page the first
    STREAMS organizations of the scope (by id) are instead each read from the
    index as a stream of its own, the organization a scalar subquery, the streams
    merged as they come (a Merge Append that stops at `top`), and only the rest
    sorted (the scope then a CTE, read by each). Page 1,000 of the mixed agent's
    tasks: 21 ms as one sorted LATERAL join of 64.6k rows, 7.5 ms as streams; the
    projects' autocomplete 9 ms -> 0.3 (by organization, not the whole table
    sorted).
    """
    ordering = None if organizations is None else _organization_index_order(queryset)
    if ordering is None or (rows and not _model_rows_only(queryset)):
        return None
    # Each organization's rows, its id standing in as `_ORGANIZATION`. The scope's
    # own `organization_id = ANY(...)` goes: the organization applies it, and
    # beside it PostgreSQL expected one row per organization and sorted the
    # largest one's 13k projects instead of reading them in order.
    inner = queryset.all()
    query = inner.query
    if query.where.connector == AND and not query.where.negated:
        query.where.children = [
            c for c in query.where.children if not is_organization_scope(c)
        ]
    organization = RawSQL(_ORGANIZATION, (), output_field=IntegerField())
    query.where.add(Exact(own_column(query, "organization"), organization), AND)
    if rows:
        names = [column for column, _ in ordering]
        selected = '"merged".*'
        inner = inner[:top]
    else:
        # The sort keys as columns o0, o1...; the id is row_pk (a narrower row
        # to sort).
        pk_column = queryset.model._meta.pk.column
        names = [
            "row_pk" if column == pk_column else f"o{i}"
            for i, (column, _) in enumerate(ordering)
        ]
        columns = {
            name: F(column)
            for name, (column, _) in zip(names, ordering, strict=True)
            if name != "row_pk"
        }
        selected = '"merged"."row_pk"'
        inner = inner.values(row_pk=F("pk"), **columns)[:top]
    inner_sql, inner_params = inner.query.sql_with_params()
    scope_sql, scope_params = organizations
    order = ", ".join(
        f'"merged"."{name}" {"DESC" if descending else "ASC"}'
        for name, (_, descending) in zip(names, ordering, strict=True)
    )
    if bottom < STREAMS_FROM_ROW:
        sql = (
            f'SELECT {selected} FROM ({scope_sql}) "scope_org" ("id") '
            f'CROSS JOIN LATERAL ({inner_sql}) "merged" '
            f"ORDER BY {order} LIMIT %s OFFSET %s"
        )
        return sql, (*scope_params, *inner_params, top - bottom, bottom)
    streams = [
        "("
        + inner_sql.replace(
            _ORGANIZATION,
            f'(SELECT "id" FROM "scope" ORDER BY "id" OFFSET {n} LIMIT 1)',
        )
        + ")"
        for n in range(STREAMS)
    ]
    rest = (
        f'(SELECT "merged".* FROM (SELECT "id" FROM "scope" ORDER BY "id" '
        f'OFFSET {STREAMS}) "scope_org" CROSS JOIN LATERAL ({inner_sql}) "merged" '
        f"ORDER BY {order} LIMIT %s)"
    )
    sql = (
        f'WITH "scope" ("id") AS MATERIALIZED ({scope_sql}) '
        f"SELECT {selected} FROM ({' UNION ALL '.join([*streams, rest])}) "
        f'"merged" ORDER BY {order} LIMIT %s OFFSET %s'
    )
    params = (*scope_params, *inner_params * (STREAMS + 1), top, top - bottom, bottom)
    return sql, params


def _count_by_bitmaps(queryset) -> int:
    """`queryset.count()` planned without sequential or plain index scans."""
    return _planned_with(
        queryset.db,
        {"enable_seqscan": "off", "enable_indexscan": "off"},
        queryset.count,
    )


def _planned_with(using: str, settings: dict[str, str], read):
    """`read()` under PostgreSQL settings of its own: SET LOCAL in a savepoint (or
    transaction), set back to the defaults before it ends."""
    connection = connections[using]
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute(
                "; ".join(
                    f"SET LOCAL {name} = {value}" for name, value in settings.items()
                )
            )
        try:
            return read()
        finally:
            with connection.cursor() as cursor:
                cursor.execute(
                    "; ".join(f"SET LOCAL {name} TO DEFAULT" for name in settings)
                )


def _model_rows_only(queryset) -> bool:
    """Whether the list selects its model's columns, each once, and nothing else."""
    query = queryset.query
    return not (
        query.select_related
        or query.annotations
        or query.extra
        or query.deferred_loading != (frozenset(), True)
    )


def _organization_index_order(queryset) -> list[tuple[str, bool]] | None:
    """The list's ordering as (column, descending) pairs when an index of its
    model leads with the organization and then holds that ordering (read forwards
    or backwards); None otherwise (other orderings sort each organization's rows,
    so they are read as one list)."""
    opts = queryset.model._meta
    wanted = []
    for item in queryset.query.order_by:
        if not isinstance(item, str):
            return None
        name = item.lstrip("-")
        try:
            field = opts.pk if name == "pk" else opts.get_field(name)
        except FieldDoesNotExist:
            return None
        if not field.concrete or field.is_relation:
            return None
        if all(field != seen for seen, _ in wanted):  # the changelist repeats it
            wanted.append((field, item.startswith("-")))
    for index in opts.indexes:
        if index.fields[:1] != ["organization"] or len(index.fields) <= len(wanted):
            continue
        held = [(name.lstrip("-"), name.startswith("-")) for name in index.fields[1:]]
        forwards = [(field.name, descending) for field, descending in wanted]
        backwards = [(field.name, not descending) for field, descending in wanted]
        if wanted and held[: len(wanted)] in (forwards, backwards):
            return [(field.column, descending) for field, descending in wanted]
    return None
