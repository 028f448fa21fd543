"""Model constraints checked per chunk of rows instead of one query per row.

Check constraints are compiled to Python predicates (a constraint the evaluator
cannot read falls back to the database, one query per row); unique field sets are
listed so the engine can check them with one query per chunk.
"""

import operator
from collections.abc import Callable
from dataclasses import dataclass

from django.db import models
from django.db.models import F, Q

_COMPARISONS = {
    "exact": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "in": lambda value, choices: value in choices,
}


class _Unsupported(Exception):
    pass


def _compile_condition(node, opts) -> Callable[[models.Model], bool | None]:
    """A Python predicate for a check constraint's Q, with SQL's three-valued logic
    (None is unknown, and an unknown check passes, as in the database)."""
    if isinstance(node, Q):
        parts = [_compile_condition(child, opts) for child in node.children]
        combine = all if node.connector == Q.AND else any
        stop = node.connector != Q.AND

        def evaluate(instance, parts=parts, negated=node.negated):
            values = [part(instance) for part in parts]
            if stop in values:
                result = stop
            elif None in values:
                result = None
            else:
                result = combine(values)
            return result if result is None or not negated else not result

        return evaluate
    lookup, expected = node
    names = lookup.split("__")
    comparison = "exact"
    if names[-1] in _COMPARISONS or names[-1] == "isnull":
        comparison = names.pop()
    if len(names) > 2 or (len(names) == 2 and names[1] != "length"):
        raise _Unsupported(lookup)
    attname = opts.get_field(names[0]).attname
    measure = len(names) == 2
    if isinstance(expected, F):
        other = opts.get_field(expected.name).attname
        resolve = operator.attrgetter(other)
    elif hasattr(expected, "resolve_expression"):
        raise _Unsupported(lookup)
    else:

        def resolve(instance, expected=expected):
            return expected

    def evaluate(instance):
        value = getattr(instance, attname)
        if measure and value is not None:
            value = len(value)
        if comparison == "isnull":
            return (value is None) == expected
        target = resolve(instance)
        if value is None or target is None:
            return None
        return _COMPARISONS[comparison](value, target)

    return evaluate


def _condition_fields(node) -> list[str]:
    if isinstance(node, Q):
        return [name for child in node.children for name in _condition_fields(child)]
    return [node[0].split("__")[0]]


@dataclass
class Check:
    constraint: models.CheckConstraint
    fields: list[str]
    predicate: Callable | None  # None: validated by the database


def compile_checks(model) -> list[Check]:
    checks = []
    for constraint in model._meta.constraints:
        if not isinstance(constraint, models.CheckConstraint):
            continue
        try:
            predicate = _compile_condition(constraint.condition, model._meta)
        except (_Unsupported, LookupError):
            predicate = None
        checks.append(
            Check(constraint, _condition_fields(constraint.condition), predicate)
        )
    return checks


def unique_sets(model) -> list[tuple[str, ...]]:
    opts = model._meta
    sets = [(f.name,) for f in opts.concrete_fields if f.unique and not f.primary_key]
    sets += [tuple(names) for names in opts.unique_together]
    sets += [tuple(c.fields) for c in opts.total_unique_constraints]
    return list(dict.fromkeys(sets))
