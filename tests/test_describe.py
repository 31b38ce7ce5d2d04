"""Tasks: markdown read as text, own comments, what the code does, one task per snippet."""

from __future__ import annotations

import pytest

from semcache_magic.cells._describe import (
    Block,
    TaskWriter,
    clean_markdown,
    code_phrase,
    distinct_tasks,
    leading_comment,
    shorten,
)

BADGES = ('<a href="https://colab.research.google.com/x"><img src="https://colab.research.'
          'google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>\n'
          '[![Binder](https://mybinder.org/badge.svg)](https://mybinder.org/v2/gh/x)\n')


def texts(markdown: str) -> list[str]:
    return [block.text for block in clean_markdown(markdown)]


def test_badges_images_and_link_targets_go() -> None:
    assert texts(BADGES) == []
    assert texts("Import the dataset from this [address](https://x.org/a.tsv). "
                 "![plot](attachment:p.png) <img src='a.png'>") == [
        "Import the dataset from this address."]


def test_emphasis_code_and_html_are_plain_text() -> None:
    assert texts("Fit **the** *model* on `X_train` with __care__ and keep snake_case_names "
                 "&amp; <b>bold</b>") == [
        "Fit the model on X_train with care and keep snake_case_names & bold"]


def test_headings_and_paragraphs_are_blocks() -> None:
    blocks = clean_markdown("# Title\nIntro text\nmore intro\n\n## Section ##\n\nBody.")
    assert blocks == [Block(1, "Title"), Block(0, "Intro text more intro"),
                      Block(2, "Section"), Block(0, "Body.")]
    assert clean_markdown("Setext\n======") == [Block(1, "Setext")]


@pytest.mark.parametrize("aside", [
    "Warning: the following cell may take 45 minutes",
    "**Note:** this needs a GPU.",
    "> **Tip**: use a smaller sample",
    "Hint: Be careful to not sum data from the same week of 2015 and other years.",
    '<div class="alert alert-block alert-warning"><b>Careful</b>: slow cell</div>',
    "> [!NOTE]\n> Restart the kernel first",
])
def test_asides_go(aside: str) -> None:
    assert texts(f"Search the best parameters with a grid search.\n\n{aside}") == [
        "Search the best parameters with a grid search."]


def test_an_aside_sentence_inside_a_paragraph_goes() -> None:
    assert texts("Train the model. Note: it is slow. Then save it.") == [
        "Train the model. Then save it."]


def test_step_numbers_go_and_the_exercise_text_stays() -> None:
    assert texts("### Step 3. Assign it to a variable called chipo.") == [
        "Assign it to a variable called chipo."]
    assert texts("#### Step 13.a. Check the item price type") == ["Check the item price type"]
    assert texts("8.3 Plot the revenue") == ["Plot the revenue"]
    assert texts("```python\nx = 1\n```\n| a | b |\n|---|---|\n---") == []


def test_shorten_cuts_at_a_sentence_then_at_a_word() -> None:
    text = "Load the data. " + "Then clean every column carefully. " * 10
    short = shorten(text, 60)
    assert short == "Load the data. Then clean every column carefully."
    long_word_run = shorten("word " * 100, 50)
    assert long_word_run.endswith("…") and len(long_word_run) <= 50
    assert shorten("fits", 50) == "fits"


@pytest.mark.parametrize(("code", "comment"), [
    ("# Solution 1\n\nchipo.shape[0]", ""),
    ("# Solution 2: with groupby and sum\nx = 1", "with groupby and sum"),
    ("# df.head()\nx = 1", ""),
    ("# imports\nimport os", ""),
    ("# 1. sepal_length (in cm)\n# 2. sepal_width (in cm)\niris.columns = []", ""),
    ("# %% [code]\n# fit the model on the training data\nmodel.fit(X)",
     "fit the model on the training data"),
    ("x = 1\n# too late to describe the cell", ""),
])
def test_leading_comment(code: str, comment: str) -> None:
    assert leading_comment(code) == comment


def test_code_phrase_says_what_the_code_does() -> None:
    phrase = code_phrase("db = DBSCAN(eps=0.3).fit(X)\nlabels = db.labels_\n"
                         "plt.scatter(X[:, 0], X[:, 1], c=labels)\nplt.title('x')\nplt.show()")
    assert phrase.startswith("set labels = db.labels_ and plot plt.scatter(")
    assert code_phrase("db = DBSCAN(eps=0.3).fit(X)\nplt.show()") == (
        "fit DBSCAN(eps=0.3) on X as db")
    assert code_phrase("df = pd.read_csv('a.csv')\ndf.head()") == (
        "load df with pd.read_csv('a.csv')")
    assert code_phrase("df.head()") == "show df.head()"
    assert code_phrase("sns.set(style='ticks')") == "configure sns.set(style='ticks')"
    assert code_phrase("def f(x):\n    return x") == "define f()"
    assert code_phrase("not python (") == ""


def feed(writer: TaskWriter, *cells: tuple[str, str]) -> list[str | None]:
    tasks = []
    for kind, text in cells:
        if kind == "md":
            writer.markdown(text)
        elif kind == "skip":
            writer.skip()
        else:
            tasks.append(writer.task(text))
    return tasks


def test_markdown_right_before_then_heading_with_what_the_code_does() -> None:
    tasks = feed(
        TaskWriter(),
        ("md", "# Customers\n\n## Clustering with DBSCAN\n\nWe now group the customers."),
        ("code", "db = DBSCAN(eps=0.3).fit(X)"),
        ("code", "plt.scatter(X[:, 0], X[:, 1], c=db.labels_)"),
        ("md", "### Step 3. Assign it to a variable called chipo."),
        ("code", "chipo = pd.read_csv(url, sep='\\t')"),
    )
    assert tasks == [
        "Clustering with DBSCAN: We now group the customers.",
        "Clustering with DBSCAN: plot plt.scatter(X[:, 0], X[:, 1], c=db.labels_)",
        "Assign it to a variable called chipo.",
    ]


def test_a_warning_is_never_the_task() -> None:
    tasks = feed(TaskWriter(), ("md", "## Tuning\n\nSearch the best C and gamma."),
                 ("md", "Warning: the following cell may take 45 minutes"),
                 ("code", "grid.fit(X, y)"))
    assert tasks == ["Tuning: Search the best C and gamma."]


def test_a_short_heading_gets_what_the_code_does() -> None:
    assert feed(TaskWriter(), ("md", "## DBSCAN"), ("code", "db = DBSCAN(eps=0.3).fit(X)")) == [
        "DBSCAN: fit DBSCAN(eps=0.3) on X as db"]


def test_own_comment_against_markdown() -> None:
    tasks = feed(
        TaskWriter(),
        ("md", "### Present the accuracy of England"),
        ("code", "# .loc is another way to slice\neuro.loc[euro.Team == 'England']"),
        ("md", "### Plot it"),
        ("code", "# draw the accuracy per team as bars\neuro.plot.bar()"),
        ("md", "### Make a histogram"),
        ("code", "# get the names\nx = chipo.item_name\n# count them\nc = Counter(x)"),
        ("code", "# a remark, but nothing else describes this cell\ny = 2"),
    )
    assert tasks == ["Present the accuracy of England", "draw the accuracy per team as bars",
                     "Make a histogram", "a remark, but nothing else describes this cell"]


def test_a_skipped_cell_leaves_its_markdown_to_the_next_cell() -> None:
    writer = TaskWriter()
    assert feed(writer, ("md", "### Compute the ratio"), ("skip", ""), ("code", "r = a / b")) == [
        "Compute the ratio"]
    assert feed(writer, ("md", "### Old step here"), ("skip", ""), ("md", "### New step here"),
                ("code", "n = 1")) == ["New step here"]


def test_no_markdown_and_no_comment_is_no_task() -> None:
    assert feed(TaskWriter(), ("code", "x = 1")) == [None]


def test_long_markdown_is_capped() -> None:
    task = feed(TaskWriter(), ("md", "Explain " + "the data carefully. " * 30),
                ("code", "x = 1"))[0]
    assert task is not None and len(task) <= 200


def test_distinct_tasks() -> None:
    entries = [
        ("DBSCAN", "db = DBSCAN(eps=0.3).fit(X)"),
        ("DBSCAN", "plt.scatter(X[:, 0], X[:, 1], c=db.labels_)"),
        ("dbscan.", "db = DBSCAN(eps=0.3).fit(X)  # same code, other comment"),
        ("Load", "df = pd.read_csv('a.csv')"),
        ("Load", "df = pd.read_csv('a.csv')\nprint(1)"),
        ("Other", "x = 1"),
    ]
    result = distinct_tasks(entries)
    assert result[2] == (result[0][0], 0)  # a duplicate of the first: not stored
    kept = [task for task, earlier in result if earlier is None]
    assert len(kept) == len({task.casefold() for task in kept}) == 5
    assert result[0][0] == "DBSCAN: fit DBSCAN(eps=0.3) on X as db"
    assert result[1][0].startswith("DBSCAN: plot plt.scatter(")
    assert result[4][0] == "Load: load df with pd.read_csv('a.csv') (variant 2)"
    assert result[5] == ("Other", None)
