"""The documentation site (mkdocs.yml): the API reference generated from the docstrings builds
with --strict, a broken reference fails the build, and every relative link of the pages leads
to a file of the repository."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _build(config, site):
    # not -q: a quiet build does not count the warnings that --strict turns into a failure
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        cwd=config.parent,
    )


def test_the_site_and_its_api_reference_build_strictly(tmp_path):
    done = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "site" / "reference" / "training" / "index.html").read_text()
    for name in (
        "layers.Linear",
        "layers.Dropout",
        "layers.mode",
        "optim.adam",
        "fit.fit",
        "schedules.one_cycle",
        "init.orthogonal",
    ):
        assert f'id="mpgraph.training.{name}"' in html, name
    html = (tmp_path / "site" / "reference" / "engine" / "index.html").read_text()
    assert 'id="mpgraph.engine.graph.Graph.forward"' in html
    assert "Evaluate <code>outputs</code> and only their ancestors" in html  # the docstring


def _one_page_site(tmp_path, page):
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / "docs" / "index.md").write_text(page)
    text = (ROOT / "mkdocs.yml").read_text()
    text = re.sub(r"\nnav:\n(  .*\n)+", "\n", text)  # one page, no nav
    text = text.replace("paths: [.]", f"paths: [{ROOT}]")
    (tmp_path / "mkdocs.yml").write_text(text)
    return _build(tmp_path / "mkdocs.yml", tmp_path / "site")


def test_a_broken_reference_fails_the_build(tmp_path):
    ref = "::: mpgraph.training.layers.Linear\n    options:\n      members: false\n"
    done = _one_page_site(tmp_path, f"# Fine\n\nSee [it][mpgraph.training.layers.Linear].\n\n{ref}")
    assert done.returncode == 0, done.stderr  # the same site, unbroken, builds
    done = _one_page_site(
        tmp_path, f"# Broken\n\nSee [it][mpgraph.training.layers.Linen].\n\n{ref}"
    )
    assert done.returncode != 0
    assert "Could not find cross-reference target 'mpgraph.training.layers.Linen'" in done.stderr
    done = _one_page_site(tmp_path, "# Broken\n\n::: mpgraph.training.no_such_module\n")
    assert (
        done.returncode != 0 and "mpgraph.training.no_such_module could not be found" in done.stderr
    )


def test_every_relative_link_of_the_pages_leads_to_a_file():
    pages = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:|#", target):  # URLs, anchors on the page
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []
