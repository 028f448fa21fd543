"""A support agent's search of task titles, read from keys by organization."""

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from admin_theme.search import for_search_indexes, trigram_codes
from tenants import roles
from tenants.selectors import organizations_in_scope, scope_to_user
from tenants.services import support_grant
from tests.conftest import staff_with_role
from tests.factories import ProjectFactory, TaskFactory
from work.models import Task

pytestmark = pytest.mark.django_db

KEYS = 'organization_trigram_keys("work_task"."organization_id", "work_task"."title")'


def _codes(*trigrams: str) -> list[int]:
    return [int.from_bytes(trigram.encode()) for trigram in trigrams]


@pytest.mark.parametrize(
    ("term", "trigrams"),
    [
        ("invoice", ["inv", "voi", "ice"]),  # 3 of its 5, first, middle, last
        ("Pay", ["pay"]),
        ("e-mail", ["mai", "ail"]),  # runs of letters and digits only
        ("2024", ["202", "024"]),
        # A capital I ends a run: a Turkish locale lowercases it to U+0131.
        ("INVOICE", ["nvo"]),
        ("ab", []),
        ("réglée", []),
        ("50%_off", ["off"]),
    ],
)
def test_a_terms_keyed_trigrams(term, trigrams):
    assert trigram_codes(term) == _codes(*trigrams)


@pytest.mark.parametrize(
    ("title", "term"),
    [
        ("Send the invoice", "invoice"),
        ("SEND THE INVOICE NOW", "invoice"),
        ("Re-invoiced twice", "INVOICE"),
        ("E-mail the client", "e-mail"),
        ("Kündigung der Rechnung 2024", "rechnung 20"),
        ("Rechnung für Café Müller", "für café mü"),
        ("Quarterly report (Q3/2024)", "q3/2024"),
        ("checkout_flow_v2", "flow_v2"),
    ],
)
def test_a_title_containing_the_term_holds_its_keyed_trigrams(title, term):
    """What PostgreSQL keys for a title containing the term, whatever the case,
    includes each trigram the term is searched by: no match can be missed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s ILIKE '%%' || %s || '%%', "
            "ARRAY(SELECT key & 16777215 "
            "FROM unnest(organization_trigram_keys(7, %s)) key), "
            "ARRAY(SELECT key >> 24 FROM unnest(organization_trigram_keys(7, %s)) key)",
            [title, term, title, title],
        )
        contains, trigrams, organizations = cursor.fetchone()
    assert contains
    assert trigram_codes(term) and set(trigram_codes(term)) <= set(trigrams)
    assert set(organizations) == {7}


@pytest.fixture
def agent_with_invoices(db):
    """A support agent of one organization, with tasks matching "invoice" there
    and in a foreign organization, and one holding each trigram of "invoice"
    but not the word."""
    agent = staff_with_role(roles.SUPPORT_AGENT)
    project, foreign = ProjectFactory(), ProjectFactory()
    support_grant(actor=agent, organization=project.organization, agent=agent)
    titles = ["Send the INVOICE", "Re-invoiced twice", "Invoke the voice of ice"]
    tasks = [TaskFactory(project=project, title=title) for title in titles]
    TaskFactory(project=foreign, title="Send the invoice")
    return agent, tasks


def test_an_agents_search_reads_their_organizations_keys(client, agent_with_invoices):
    """The agent's matches, by the keys and the title itself; the foreign
    organization's same title and the title holding the trigrams but not the
    word are not found; the scope stays, as a filter."""
    agent, tasks = agent_with_invoices
    client.force_login(agent)
    client.get("/admin/work/task/")  # warm the session
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/work/task/", {"q": "invoice"})
    assert sorted(t.pk for t in page.context["cl"].result_list) == [
        tasks[0].pk,
        tasks[1].pk,
    ]
    (read,) = [q["sql"] for q in queries if "COUNT(*) OVER ()" in q["sql"]]
    assert read.count(f"{KEYS} && ARRAY(SELECT") == 3
    assert """lower("work_task"."title") LIKE lower('%invoice%')""" in read
    assert '("work_task"."organization_id" + 0) = ANY(' in read
    assert "ILIKE" not in read and '"organization_id"] &&' not in read


def test_the_keys_follow_a_renamed_title(client, agent_with_invoices):
    agent, tasks = agent_with_invoices
    Task.objects.filter(pk=tasks[0].pk).update(title="Send the receipt")
    client.force_login(agent)
    found = client.get("/admin/work/task/", {"q": "receipt"}).context["cl"]
    assert [t.pk for t in found.result_list] == [tasks[0].pk]
    found = client.get("/admin/work/task/", {"q": "send the"}).context["cl"]
    assert [t.pk for t in found.result_list] == [tasks[0].pk]


def test_the_trash_is_searched_by_its_keys_too(client, agent_with_invoices):
    agent, tasks = agent_with_invoices
    Task.all_objects.filter(pk=tasks[1].pk).update(deleted_at=timezone.now())
    client.force_login(agent)
    with CaptureQueriesContext(connection) as queries:
        found = client.get("/admin/work/task/", {"q": "invoice", "trash": "1"})
    assert [t.pk for t in found.context["cl"].result_list] == [tasks[1].pk]
    assert [q for q in queries if f"{KEYS} && ARRAY(SELECT" in q["sql"]]


@pytest.mark.parametrize(
    ("term", "found"),
    [
        # Words with and without keyed trigrams, each a condition of its own.
        ("ab invoice", ["Invoice ABC-7"]),
        # The pattern's % and _ are the characters themselves.
        ("50%_off", ["Invoice 50%_off"]),
        ("0%_off", ["Invoice 50%_off"]),
    ],
)
def test_an_agents_search_by_keys_matches_as_ilike_does(client, term, found):
    agent = staff_with_role(roles.SUPPORT_AGENT)
    project = ProjectFactory()
    support_grant(actor=agent, organization=project.organization, agent=agent)
    for title in ("Invoice ABC-7", "Invoice 50%_off", "Invoice 50x off"):
        TaskFactory(project=project, title=title)
    client.force_login(agent)
    page = client.get("/admin/work/task/", {"q": term})
    assert [t.title for t in page.context["cl"].result_list] == found


def test_a_pinned_platform_admins_search_reads_the_pinned_organizations_keys(
    admin_client,
):
    """The tenant switcher scopes a platform admin to one organization: their
    search is read from its keys, and finds its rows only."""
    mine, other = TaskFactory(title="Send the invoice"), TaskFactory(title="Invoice")
    session = admin_client.session
    session["pinned_organization_id"] = mine.organization_id
    session.save()
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get("/admin/work/task/", {"q": "invoice"})
    assert [t.pk for t in page.context["cl"].result_list] == [mine.pk]
    assert other.organization_id != mine.organization_id
    assert [q for q in queries if f"{KEYS} && ARRAY(SELECT" in q["sql"]]


def test_random_titles_hold_the_keyed_trigrams_of_their_substrings():
    """Titles of mixed case, punctuation, digits and letters that lowercase
    oddly (the Kelvin sign, a dotted capital I, sharp s): any piece of one is
    searched by trigrams its keys hold."""
    rng = random.Random(2026)
    alphabet = "abcdefXYZ019" * 4 + " -_.%/éÉüßİıK中\u212a"
    pairs = []
    for _ in range(400):
        title = "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 40)))
        start = rng.randrange(len(title))
        pairs.append((title, title[start : start + rng.randint(1, 12)]))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT title, term, title ILIKE '%%' || replace(replace(replace("
            "term, '\\', '\\\\'), '%%', '\\%%'), '_', '\\_') || '%%', "
            "ARRAY(SELECT key & 16777215 "
            "FROM unnest(organization_trigram_keys(1, title)) key) "
            "FROM unnest(%s::text[], %s::text[]) AS pair (title, term)",
            [[t for t, _ in pairs], [t for _, t in pairs]],
        )
        rows = cursor.fetchall()
    assert all(contains for _, _, contains, _ in rows)
    missed = [
        (title, term)
        for title, term, _, keys in rows
        if not set(trigram_codes(term)) <= set(keys)
    ]
    assert not missed
    assert sum(bool(trigram_codes(term)) for _, term in pairs) > 100


def test_the_keys_searched_are_the_keys_index(agent_with_invoices):
    """The search's keys are the index's expression (PostgreSQL matches them),
    and nothing else in the search is indexed: read through bitmaps, its only
    index scan is of the keys."""
    agent, _ = agent_with_invoices
    searched = for_search_indexes(
        scope_to_user(
            Task.all_objects.filter(title__trgm_icontains="send the invoice"), agent
        ),
        organizations_in_scope(agent),
    )
    sql, params = searched.query.sql_with_params()
    with connection.cursor() as cursor:
        # Bitmap scans only: a tiny table is otherwise read in its order's index.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = [row[0] for row in cursor.fetchall()]
    indexes = [
        line.split(" on ")[1].split()[0] for line in plan if "Index Scan on" in line
    ]
    tasks_indexes = [name for name in indexes if name.startswith(("task_", "work_"))]
    assert tasks_indexes == ["task_title_org_keys"], "\n".join(plan)
    assert [t.title for t in searched] == ["Send the INVOICE"]


@pytest.mark.parametrize("term", ["réglée", "ab"])
def test_a_term_without_keyed_trigrams_is_read_from_the_titles_own_index(client, term):
    agent = staff_with_role(roles.SUPPORT_AGENT)
    project = ProjectFactory()
    support_grant(actor=agent, organization=project.organization, agent=agent)
    task = TaskFactory(project=project, title="Facture réglée abc")
    TaskFactory(title="Facture réglée abc")  # foreign
    client.force_login(agent)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/work/task/", {"q": term})
    assert [t.pk for t in page.context["cl"].result_list] == [task.pk]
    (read,) = [q["sql"] for q in queries if "COUNT(*) OVER ()" in q["sql"]]
    assert "organization_trigram_keys" not in read
    assert 'ARRAY["work_task"."organization_id"] && (ARRAY(SELECT' in read


def test_an_agents_autocomplete_keeps_the_titles_own_index(client, agent_with_invoices):
    """An autocomplete reads its 20 newest matches, walking the newest rows for
    a common term: the keys are for lists, which read every match."""
    agent, tasks = agent_with_invoices
    client.force_login(agent)
    url = "/admin/autocomplete/"
    params = {
        "app_label": "work",
        "model_name": "comment",
        "field_name": "task",
        "term": "invoice",
    }
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(url, params).json()
    assert sorted(int(r["id"]) for r in answer["results"]) == [
        tasks[0].pk,
        tasks[1].pk,
    ]
    assert not [q for q in queries if "organization_trigram_keys" in q["sql"]]


def test_a_platform_admins_search_reads_the_titles_own_index(admin_client):
    task = TaskFactory(title="Send the invoice")
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get("/admin/work/task/", {"q": "invoice"})
    assert [t.pk for t in page.context["cl"].result_list] == [task.pk]
    assert not [q for q in queries if "organization_trigram_keys" in q["sql"]]


def test_a_term_of_non_ascii_digits_is_searched_as_text(admin_client):
    """ "²" is a digit to str.isdigit, not a number to int(): it is no id."""
    task = TaskFactory(title="Area in m²")
    page = admin_client.get("/admin/work/task/", {"q": "²"})
    assert page.status_code == 200
    assert [t.pk for t in page.context["cl"].result_list] == [task.pk]
