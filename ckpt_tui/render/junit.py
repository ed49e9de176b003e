"""JUnit XML for CI, shared by `check` and `audit`: suites of test cases that pass, fail or could not run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from xml.etree import ElementTree

from ckpt_tui.render import printable


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    failure: str | None = None  # the message of a failed case
    error: str | None = None  # the message of a case that could not run
    skipped: str | None = None  # why a case did not run (neither passed nor failed)
    output: str | None = None  # what a passing case found (system-out)


@dataclass(frozen=True, slots=True)
class Suite:
    name: str
    cases: tuple[Case, ...]


def junit_document(title: str, suites: Iterable[Suite]) -> bytes:
    root = ElementTree.Element("testsuites", name=title)
    for suite in suites:
        failures = sum(c.failure is not None for c in suite.cases)
        errors = sum(c.error is not None for c in suite.cases)
        skipped = sum(c.skipped is not None for c in suite.cases)
        node = ElementTree.SubElement(
            root,
            "testsuite",
            name=_clean(suite.name),
            tests=str(len(suite.cases)),
            failures=str(failures),
            errors=str(errors),
            skipped=str(skipped),
        )
        for case in suite.cases:
            element = ElementTree.SubElement(node, "testcase", classname=_clean(suite.name), name=case.name)
            for tag, message in (("failure", case.failure), ("error", case.error)):
                if message is not None:
                    ElementTree.SubElement(element, tag, message=_clean(message)).text = _clean(message)
            if case.skipped is not None:
                ElementTree.SubElement(element, "skipped", message=_clean(case.skipped))
            if case.output is not None:
                ElementTree.SubElement(element, "system-out").text = _clean(case.output)
    return bytes(ElementTree.tostring(root, encoding="utf-8", xml_declaration=True))


def _clean(text: str) -> str:
    """XML 1.0 cannot hold control characters; keys from a file may."""
    return printable(text)
