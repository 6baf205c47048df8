"""The demo's embedded corpus: Python's own documentation, read without importing (so without running) anything."""

from hfpretrain.demo import DOCS_QUALITY, module_docstrings, python_corpus


def test_docstrings_are_read_without_running_the_module():
    source = '''"""Module summary."""
raise SystemExit("importing this would stop the interpreter")


class Public:
    """A public class."""

    def method(self):
        """Does a thing."""

    def _private(self):
        """Hidden."""


def _helper():
    """Hidden too."""
'''
    text = module_docstrings(source)
    assert text == "Module summary.\n\nPublic\nA public class.\n\nPublic.method\nDoes a thing."


def test_corpus_has_topics_and_module_docs_with_unique_ids():
    docs = list(python_corpus())
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids))
    assert any(i == "pydoc-topic/with" for i in ids)
    assert any(i.startswith("stdlib-docstrings/json/") for i in ids)
    assert not any("/test/" in i or i.startswith("stdlib-docstrings/test") for i in ids)
    assert sum(len(d["text"]) for d in docs) > 1_000_000  # enough text for the demo's model
    assert all(d["text"].strip() for d in docs)


def test_quality_overrides_name_only_known_filters(tmp_path):
    from hfpretrain.data.pipeline import DataConfig, quality_steps

    steps = quality_steps(DataConfig(language="en", quality_options=DOCS_QUALITY, write_removed=False), tmp_path)
    assert len(steps) == 5  # language id + the four English filters, loosened
