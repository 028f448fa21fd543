"""A search lookup PostgreSQL can answer from a trigram (GIN) index.

Django's `icontains` compiles to `UPPER(col) LIKE UPPER('%term%')`, which no index
serves; `trgm_icontains` compiles to `col ILIKE '%term%'`, which a `gin_trgm_ops`
index on the column does. Admins use it in `search_fields`.
"""

from django.db.models import CharField, TextField
from django.db.models.lookups import IContains


class TrigramContains(IContains):
    lookup_name = "trgm_icontains"

    def as_sql(self, compiler, connection):
        lhs_sql, params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs_sql} ILIKE {rhs_sql}", [*params, *rhs_params]


CharField.register_lookup(TrigramContains)
TextField.register_lookup(TrigramContains)
