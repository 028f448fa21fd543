"""Estimated counts, deep pages, and pages read organization by organization."""

import datetime as dt

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from admin_theme import paginator as paginator_module
from admin_theme.paginator import EstimatedCountPaginator, LookaheadPaginator
from tenants import roles, selectors
from tenants.models import User
from tenants.services import support_grant
from tests.conftest import staff_with_role
from tests.factories import MembershipFactory, ProjectFactory, TaskFactory
from work.models import Project, Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks():
    project = ProjectFactory()
    return [TaskFactory(project=project) for _ in range(30)]


def test_exact_count_below_the_cap(tasks):
    pages = EstimatedCountPaginator(Task.objects.order_by("-id"), 10)
    assert (pages.count, pages.is_estimated, pages.num_pages) == (30, False, 3)
    assert [t.pk for t in pages.page(2)] == sorted((t.pk for t in tasks), reverse=True)[
        10:20
    ]


def test_beyond_the_cap_the_count_is_estimated_and_deep_pages_are_served(
    tasks, monkeypatch
):
    monkeypatch.setattr(paginator_module, "CAP", 20)
    pages = EstimatedCountPaginator(
        Task.objects.select_related("project").order_by("-id"), 10
    )
    assert pages.is_estimated is False  # not computed yet
    assert pages.count >= 21 and pages.is_estimated
    assert list(pages.page(99)) == []  # past the estimate: empty, not an error
    third = list(pages.page(3))
    assert [t.pk for t in third] == sorted((t.pk for t in tasks), reverse=True)[20:30]
    assert third[0].project.key  # related rows still come with the page


def test_changelist_says_when_the_count_is_estimated(admin_client, tasks, monkeypatch):
    monkeypatch.setattr(paginator_module, "CAP", 20)
    page = admin_client.get("/admin/work/task/").content.decode()
    assert "(estimated)" in page


def test_autocomplete_pages_without_counting(admin_client):
    project = ProjectFactory(name="Website relaunch")
    for n in range(25):
        ProjectFactory(organization=project.organization, name=f"Website {n:02d}")
    url = (
        "/admin/autocomplete/?app_label=work&model_name=task&field_name=project"
        "&term=website"
    )
    admin_client.get(url)  # warm the session and content types
    with CaptureQueriesContext(connection) as queries:
        first = admin_client.get(url).json()
    assert len(first["results"]) == 20 and first["pagination"]["more"] is True
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"]]
    last = admin_client.get(url + "&page=2").json()
    assert len(last["results"]) == 6 and last["pagination"]["more"] is False
    seen = {r["id"] for r in first["results"]} | {r["id"] for r in last["results"]}
    assert len(seen) == 26


def test_autocomplete_answers_newest_first(admin_client):
    older = ProjectFactory(name="Website A", key="AAA")
    newer = ProjectFactory(organization=older.organization, name="Website B", key="BBB")
    answer = admin_client.get(
        "/admin/autocomplete/?app_label=work&model_name=task&field_name=project"
        "&term=website"
    ).json()
    # By the admin's ordering (organization, key) the older one came first.
    assert [r["id"] for r in answer["results"]] == [str(newer.pk), str(older.pk)]


def test_a_page_rows_are_read_by_id_within_the_scope_alone(client, monkeypatch):
    """The list's filters chose the page's ids; the rows are then read by id inside
    the user's scope, without the filters again (a filter beside the scope on the
    same column misled PostgreSQL's plan)."""
    monkeypatch.setattr(admin.site._registry[Task], "list_per_page", 2)
    agent = staff_with_role(roles.SUPPORT_AGENT)
    project = ProjectFactory()
    support_grant(actor=agent, organization=project.organization, agent=agent)
    mine = [TaskFactory(project=project, status=Task.Status.TODO) for _ in range(3)]
    TaskFactory(status=Task.Status.TODO)  # another organization's
    client.force_login(agent)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/work/task/", {"status__exact": "TODO"})
    newest = sorted((t.pk for t in mine), reverse=True)[:2]
    assert [t.pk for t in page.context["cl"].result_list] == newest
    (rows,) = [q["sql"] for q in queries if '"work_task"."id" IN (' in q["sql"]]
    assert "organizationuserobjectpermission" in rows  # the scope
    assert '"work_task"."status"' not in rows.split("WHERE", 1)[1]


@pytest.fixture
def agent_of_two():
    """A support agent of two organizations (a third is foreign), with tasks whose
    creation times interleave across the organizations out of id order."""
    agent = staff_with_role(roles.SUPPORT_AGENT)
    projects = [ProjectFactory(name=f"Website {n}") for n in range(3)]
    for project in projects[:2]:
        support_grant(actor=agent, organization=project.organization, agent=agent)
    now = timezone.now()
    for n in range(15):
        task = TaskFactory(project=projects[n % 3])
        minutes = (n * 7) % 15
        Task.objects.filter(pk=task.pk).update(
            created_at=now - dt.timedelta(minutes=minutes)
        )
    return agent, projects


def test_an_agents_estimated_count_reads_their_organizations_ids(
    client, agent_of_two, monkeypatch
):
    """Past the cap an agent's list is estimated with their organizations' ids
    written out, which PostgreSQL estimates from the column's statistics: their
    10 tasks of the 15, where the subquery's rows were a guess."""
    agent, _ = agent_of_two
    monkeypatch.setattr(paginator_module, "CAP", 5)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE work_task")
    client.force_login(agent)
    client.get("/admin/work/task/")  # warm the session
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/work/task/")
    assert page.context["cl"].paginator.is_estimated
    assert page.context["cl"].result_count == 10
    (explain,) = [q["sql"] for q in queries if q["sql"].startswith("EXPLAIN")]
    assert '"organization_id" IN (' in explain and "ARRAY(" not in explain
    # The list itself still reads the scope's subquery.
    assert [q for q in queries if 'organization_id" = ANY((ARRAY(SELECT' in q["sql"]]


@pytest.mark.parametrize("streams", [0, 1, 2])
def test_an_agents_pages_are_their_organizations_rows_merged_in_order(
    client, agent_of_two, monkeypatch, streams
):
    """Read as each organization's first rows merged, the pages hold exactly the
    agent's rows, in the list's order, none twice: sorted after a LATERAL join
    (shallow pages), or the first organizations' rows read as streams of their
    own and merged (deep pages; here from the first row on, with one stream and
    the other organization joined, or both organizations as streams)."""
    agent, projects = agent_of_two
    monkeypatch.setattr(admin.site._registry[Task], "list_per_page", 4)
    if streams:
        monkeypatch.setattr(paginator_module, "STREAMS_FROM_ROW", 0)
        monkeypatch.setattr(paginator_module, "STREAMS", streams)
    mine = [project.organization for project in projects[:2]]
    expected = list(
        Task.objects.filter(organization__in=mine)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
    )
    client.force_login(agent)
    seen = []
    for number in (1, 2, 3):
        with CaptureQueriesContext(connection) as queries:
            page = client.get("/admin/work/task/", {"p": number})
        seen += [task.pk for task in page.context["cl"].result_list]
        (merged,) = [q["sql"] for q in queries if "CROSS JOIN LATERAL" in q["sql"]]
        assert merged.count("UNION ALL") == streams
    assert len(expected) == 10 and seen == expected
    # Filtered to one of them, the other organization adds nothing.
    page = client.get("/admin/work/task/", {"organization__id__exact": mine[1].pk})
    assert [task.pk for task in page.context["cl"].result_list] == list(
        Task.objects.filter(organization=mine[1])
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)[:4]
    )


@pytest.mark.parametrize("direction", ["", "-"])
def test_an_agents_list_by_due_date_is_merged_in_that_order(
    client, agent_of_two, monkeypatch, direction
):
    """Sorted by due date (ties by id, undated last going up), the agent's list is
    read organization by organization from their due-date index too."""
    agent, projects = agent_of_two
    monkeypatch.setattr(admin.site._registry[Task], "list_per_page", 4)
    mine = [project.organization for project in projects[:2]]
    for n, task in enumerate(Task.objects.order_by("pk")):
        due = None if n % 4 == 0 else dt.date(2026, 1, 1) + dt.timedelta(days=n % 3)
        Task.objects.filter(pk=task.pk).update(due_date=due)
    expected = list(
        Task.objects.filter(organization__in=mine)
        .order_by(f"{direction}due_date", f"{direction}pk")
        .values_list("pk", flat=True)
    )
    client.force_login(agent)
    # The column's position, the action checkbox being column 0.
    column = admin.site._registry[Task].list_display.index("due_date") + 1
    seen = []
    for number in (1, 2, 3):
        with CaptureQueriesContext(connection) as queries:
            page = client.get(
                "/admin/work/task/", {"o": f"{direction}{column}", "p": number}
            )
        seen += [task.pk for task in page.context["cl"].result_list]
        assert [q for q in queries if "CROSS JOIN LATERAL" in q["sql"]]
    assert len(expected) == 10 and seen == expected


def test_a_search_reads_the_whole_list_not_each_organization(client, agent_of_two):
    """A title search is answered from its trigram index once; merged, PostgreSQL
    read that index again for every organization."""
    agent, projects = agent_of_two
    task = Task.objects.filter(project=projects[1]).first()
    Task.objects.filter(pk=task.pk).update(title="Renew the invoice")
    client.force_login(agent)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/work/task/", {"q": "invoice"})
    assert [t.pk for t in page.context["cl"].result_list] == [task.pk]
    assert not [q for q in queries if "LATERAL" in q["sql"]]


@pytest.fixture
def invoice_tasks(tasks, monkeypatch):
    """25 of the 30 tasks match "invoice"; lists show 10 a page."""
    monkeypatch.setattr(admin.site._registry[Task], "list_per_page", 10)
    found = [task.pk for task in tasks[:25]]
    Task.objects.filter(pk__in=found).update(title="Pay the invoice")
    return list(
        Task.objects.filter(pk__in=found)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
    )


def test_a_scoped_search_is_counted_and_paged_from_one_ordered_read(
    client, tasks, invoice_tasks, monkeypatch
):
    """A support agent's search read in order up to the page asked for gives
    both its exact count and that page; past 1,001 rows a page is read on its
    own."""
    agent = staff_with_role(roles.SUPPORT_AGENT)
    support_grant(actor=agent, organization=tasks[0].organization, agent=agent)
    client.force_login(agent)
    client.get("/admin/work/task/")  # warm the session
    with connection.cursor() as cursor:
        cursor.execute("SHOW work_mem")
        work_mem = cursor.fetchone()
        cursor.execute("SHOW max_parallel_workers_per_gather")
        workers = cursor.fetchone()
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/work/task/", {"q": "invoice", "p": 2})
    assert page.context["cl"].result_count == 25
    assert [task.pk for task in page.context["cl"].result_list] == invoice_tasks[10:20]
    reads = [q["sql"] for q in queries if 'FROM "work_task"' in q["sql"]]
    # The ordered ids and their count in one statement, then the page's rows.
    assert len(reads) == 2 and "COUNT(*) OVER ()" in reads[0]
    assert reads[0].endswith("LIMIT 20")  # to the end of page 2, not 1,001
    assert not [sql for sql in reads if sql.startswith("SELECT COUNT(")]
    # The ordered read has 16 MB of work_mem (its bitmaps stay exact) and no
    # parallel workers, then not.
    sql = [q["sql"] for q in queries]
    ids = sql.index(reads[0])
    assert sql[ids - 1] == (
        "SET LOCAL work_mem = '16MB'; SET LOCAL max_parallel_workers_per_gather = 0"
    )
    assert sql[ids + 1] == (
        "SET LOCAL work_mem TO DEFAULT; "
        "SET LOCAL max_parallel_workers_per_gather TO DEFAULT"
    )
    with connection.cursor() as cursor:
        cursor.execute("SHOW work_mem")
        assert cursor.fetchone() == work_mem != ("16MB",)
        cursor.execute("SHOW max_parallel_workers_per_gather")
        assert cursor.fetchone() == workers
    # Beyond the cap the count is still exact (the ordered read counted every
    # match), and a page past the ids read first is read on its own.
    monkeypatch.setattr(paginator_module, "CAP", 20)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/work/task/", {"q": "invoice", "p": 3})
    assert page.context["cl"].result_count == 25
    assert not page.context["cl"].paginator.is_estimated
    assert b"estimated" not in page.content
    assert [task.pk for task in page.context["cl"].result_list] == invoice_tasks[20:]
    assert not [q for q in queries if q["sql"].startswith("EXPLAIN")]


def test_a_scoped_search_on_one_page_is_searched_once(client, tasks):
    """Django reads a list that fits on one page again, whole; an agent's search
    has its ids in hand and reads only those rows."""
    found = [task.pk for task in tasks[:5]]
    Task.objects.filter(pk__in=found).update(title="Pay the invoice")
    agent = staff_with_role(roles.SUPPORT_AGENT)
    support_grant(actor=agent, organization=tasks[0].organization, agent=agent)
    client.force_login(agent)
    client.get("/admin/work/task/")  # warm the session
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/work/task/", {"q": "invoice"})
    assert sorted(task.pk for task in page.context["cl"].result_list) == found
    assert page.context["cl"].result_count == 5
    assert len([q for q in queries if "'%invoice%'" in q["sql"]]) == 1


@pytest.mark.parametrize(
    ("title", "scope"),
    [
        # The scope as an array overlap (the title's own trigram index).
        ("Payer la facture réglée", '"organization_id"] && (ARRAY('),
        # The scope as a filter (the title's keys by organization).
        ("Pay the invoice", '"organization_id" + 0) = ANY((ARRAY('),
    ],
)
def test_an_agents_search_finds_their_organizations_matches_only(
    client, tasks, title, scope
):
    """The scope written either way is the same scope: a foreign task matching
    the search, by title or by its number, is not found."""
    mine, other = tasks[0], TaskFactory(title=title)
    Task.objects.filter(pk=mine.pk).update(title=title)
    word = title.split()[-1]
    agent = staff_with_role(roles.SUPPORT_AGENT)
    support_grant(actor=agent, organization=mine.organization, agent=agent)
    client.force_login(agent)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/work/task/", {"q": word})
    assert [task.pk for task in page.context["cl"].result_list] == [mine.pk]
    assert page.context["cl"].result_count == 1
    assert [q for q in queries if scope in q["sql"]]
    # By number: the foreign task is not found, nor is it through the keys of
    # the number's digits (three at least: "007" asks for the trigram "007").
    for number in (str(other.pk), str(other.pk).zfill(3)):
        page = client.get("/admin/work/task/", {"q": number})
        assert [task.pk for task in page.context["cl"].result_list] == []
    page = client.get("/admin/work/task/", {"q": f"#{str(mine.pk).zfill(3)}"})
    assert [task.pk for task in page.context["cl"].result_list] == [mine.pk]


def test_a_scoped_search_that_may_repeat_rows_counts_each_row_once(client, monkeypatch):
    """A search across a many-to-many relation lists each row once (DISTINCT);
    the count of the ordered read's rows counts it once too, not per match."""
    membership = MembershipFactory()
    member = membership.user
    member.groups.add(
        Group.objects.create(name="Alpha team"), Group.objects.create(name="Alpha ops")
    )
    agent = staff_with_role(roles.SUPPORT_AGENT)
    support_grant(actor=agent, organization=membership.organization, agent=agent)
    monkeypatch.setattr(admin.site._registry[User], "search_fields", ("groups__name",))
    client.force_login(agent)
    page = client.get("/admin/tenants/user/", {"q": "alpha"})
    assert [user.pk for user in page.context["cl"].result_list] == [member.pk]
    assert page.context["cl"].result_count == 1


def test_a_search_of_the_whole_table_is_counted_through_bitmap_scans(
    admin_client, invoice_tasks
):
    """The platform admin's search: its count is planned with bitmap index scans
    only, settings that end with the count (the request's other statements, and
    the test's own transaction, keep PostgreSQL's defaults)."""
    admin_client.get("/admin/work/task/")  # warm the session
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get("/admin/work/task/", {"q": "invoice", "p": 2})
    assert page.context["cl"].result_count == 25
    assert [task.pk for task in page.context["cl"].result_list] == invoice_tasks[10:20]
    sql = [q["sql"] for q in queries]
    count = next(i for i, q in enumerate(sql) if q.startswith("SELECT COUNT("))
    assert sql[count - 1].startswith("SET LOCAL enable_seqscan = off")
    assert sql[count + 1].startswith("SET LOCAL enable_seqscan TO DEFAULT")
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone() == ("on",)


@pytest.mark.parametrize("streams", [0, 1])
def test_an_agents_autocomplete_answers_newest_first_within_their_organizations(
    client, agent_of_two, monkeypatch, streams
):
    """Shallow pages sort the LATERAL join's rows; deep ones (here from the first
    row on) read the first organization as a stream of its own."""
    if streams:
        monkeypatch.setattr(paginator_module, "STREAMS_FROM_ROW", 0)
        monkeypatch.setattr(paginator_module, "STREAMS", streams)
    agent, projects = agent_of_two
    newest = ProjectFactory(organization=projects[0].organization, name="Website 4")
    ProjectFactory(organization=projects[2].organization, name="Website 5")
    client.force_login(agent)
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(
            "/admin/autocomplete/?app_label=work&model_name=task&field_name=project"
            "&term=website"
        ).json()
    expected = [newest.pk, projects[1].pk, projects[0].pk]
    assert [int(r["id"]) for r in answer["results"]] == expected
    assert answer["pagination"]["more"] is False
    # The rows come from the merged statement itself (not a read by id around
    # it), without relations the list does not select.
    reads = [q["sql"] for q in queries if '"work_project"' in q["sql"]]
    assert len(reads) == 1 and "CROSS JOIN LATERAL" in reads[0]
    assert 'SELECT "merged".* FROM' in reads[0] and " IN (" not in reads[0]
    assert reads[0].count("UNION ALL") == streams
    assert '"tenants_organization"' not in reads[0]


def test_an_agents_autocomplete_reads_related_rows_and_annotations_whole(
    agent_of_two, django_assert_num_queries
):
    """The merged statement reads rows of the model's own columns; a list that
    selects related rows, annotates or defers reads its page as one query."""
    agent, projects = agent_of_two
    scoped = selectors.scope_to_user(Project.objects.order_by("-pk"), agent)
    lists = {
        "plain": scoped,
        "related": scoped.select_related("organization"),
        "annotated": scoped.annotate(task_count=Count("tasks")),
        "deferred": scoped.only("name"),
    }
    for name, queryset in lists.items():
        paginator = LookaheadPaginator(queryset, 1)
        paginator.organizations = selectors.organizations_in_scope(agent)
        with CaptureQueriesContext(connection) as queries:
            page = paginator.page(1)
            (project,) = page.object_list
            assert project.pk == projects[1].pk and page.has_next()
            assert project.organization.name and project.name
            if name == "annotated":
                assert project.task_count == 5
        merged = ["CROSS JOIN LATERAL" in q["sql"] for q in queries]
        # Then the organization is read, unless it came with the row (and a
        # deferred row reads its organization's id first).
        assert (
            merged
            == {
                "plain": [True, False],
                "related": [False],
                "annotated": [False, False],
                "deferred": [False, False, False],
            }[name]
        )
