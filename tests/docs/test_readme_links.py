"""README.md's links and pictures point at files of the repository.

The docs build (test_docs.py) checks the links of docs/ with warnings as errors, but
README.md is not part of that build: a renamed page or picture would leave a dead link on
the project's front page. Pure file reading: no process, thread or socket.
"""

from __future__ import annotations

import os
import re
from typing import List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# [text](target) and ![alt](target); a target ends at whitespace or ')'
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def relative_links(path: str) -> List[Tuple[int, str]]:
    """(line number, target without its #anchor) of every link that names a local file."""
    found = []
    with open(path, encoding="utf-8") as f:
        in_code = False
        for number, line in enumerate(f, 1):
            if line.lstrip().startswith("```"):
                in_code = not in_code
                continue
            if in_code:
                continue
            for target in LINK.findall(line):
                if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                    continue  # a URL (https:, mailto:) or an anchor on the same page
                found.append((number, target.split("#", 1)[0]))
    return found


def test_readme_links_name_existing_files():
    readme = os.path.join(ROOT, "README.md")
    links = relative_links(readme)
    # the sections that must keep their links: the pictures, the docs pages, the benchmarks
    targets = {t for _, t in links}
    assert "docs/outgrow-one-machine.md" in targets
    assert "docs/images/sidebar.png" in targets
    assert "benchmarks/README.md" in targets
    dead = [f"README.md line {n}: {t}" for n, t in links
            if not os.path.exists(os.path.join(ROOT, t))]
    assert not dead, "dead links:\n" + "\n".join(dead)
