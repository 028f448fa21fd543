"""Every registered ModelAdmin x every surface x every role, objects in two
organizations: what each role may see, and that foreign rows answer 404 and
appear nowhere in a response."""

import pytest

from tests.admin_theme.access_matrix import ROLES, build_world, registered, run_cell

MATRIX = [
    (model, model_admin, role) for model, model_admin in registered() for role in ROLES
]


@pytest.fixture
def world(db):
    return build_world()


@pytest.mark.parametrize(
    "model,model_admin,role",
    MATRIX,
    ids=[f"{model._meta.label}-{role}" for model, _, role in MATRIX],
)
def test_matrix_cell(client, world, model, model_admin, role):
    problems, requests = run_cell(client, world, model, model_admin, role)
    assert problems == []
    assert requests > 0


def test_the_matrix_catches_a_scoping_helper_that_does_not_scope(
    client, world, monkeypatch
):
    """Mutation test: swap the one scoping helper for one that lets everything
    through; the matrix must report leaks for the support agent."""
    from tenants import selectors

    monkeypatch.setattr(selectors, "scope_to_user", lambda queryset, user: queryset)
    caught = {}
    for model, model_admin in registered():
        problems, _ = run_cell(client, world, model, model_admin, "support_agent")
        if problems:
            caught[model._meta.label] = problems
    assert {"tenants.Organization", "work.Task", "tenants.Membership"} <= set(caught)
    assert any("leaked" in p for problems in caught.values() for p in problems)
