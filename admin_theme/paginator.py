"""Changelist pagination without an unbounded COUNT(*).

Up to `CAP` rows the count is exact (a bounded count over the filtered query);
past it, the count is PostgreSQL's planner estimate for that query, and the page
says "about N (estimated)".
"""

import json

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

CAP = 10_000


class EstimatedCountPaginator(Paginator):
    template_name = "admin_theme/pagination.html"

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        # COUNT over a LIMITed subquery: reads at most CAP + 1 index entries.
        exact = queryset.order_by()[: CAP + 1].count()
        if exact <= CAP:
            self.is_estimated = False
            return exact
        self.is_estimated = True
        return max(CAP + 1, self._planner_estimate(queryset))

    is_estimated = False

    @staticmethod
    def _planner_estimate(queryset) -> int:
        sql, params = queryset.order_by().query.sql_with_params()
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])
