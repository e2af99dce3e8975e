"""Publishing: the GitHub Pages workflow builds with the README's command and publishes _build/html with the standard
actions; the address in _config.yml and the README agree with it; the launch buttons point at real notebooks and
Binder has what it builds from."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "pages.yml"


def _workflow() -> dict:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def _readme_book_command() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Two commands.*?```bash\n(.*?)```", readme, flags=re.DOTALL).group(1)
    return next(line.split("#")[0].strip() for line in block.splitlines() if line.startswith("make book"))


def _uses(steps: list[dict]) -> list[str]:
    return [step["uses"].split("@")[0] for step in steps if "uses" in step]


def test_the_workflow_builds_with_the_readmes_command_and_publishes_build_html():
    workflow = _workflow()
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    command = _readme_book_command()
    assert command == "make book"
    runs = [step["run"].strip() for step in build["steps"] if "run" in step]
    assert command in runs  # the README's command, as a step of its own
    uses = _uses(build["steps"])
    for action in ("actions/checkout", "actions/setup-python", "actions/configure-pages",
                   "actions/upload-pages-artifact"):
        assert action in uses, action
    assert uses.index("actions/checkout") < uses.index("actions/setup-python") < uses.index("actions/configure-pages")
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    order = [s.get("run", "").strip() or s["uses"].split("@")[0] for s in build["steps"]]
    assert order.index(command) < order.index("actions/upload-pages-artifact")  # build, then publish
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert _uses(deploy["steps"]) == ["actions/deploy-pages"]
    for step in build["steps"] + deploy["steps"]:
        if "uses" in step:
            assert re.fullmatch(r"actions/[\w-]+@v\d+", step["uses"]), step["uses"]  # GitHub's own, pinned major


def test_the_published_address_agrees_in_config_and_readme():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    owner, repo = re.fullmatch(r"https://github\.com/([\w-]+)/([\w-]+)", config["repository"]["url"]).groups()
    pages = f"https://{owner}.github.io/{repo}/"
    assert config["html"]["baseurl"] == pages
    assert config["repository"]["branch"] == "main" == _workflow()["on"]["push"]["branches"][0]
    readme = (ROOT / "README.md").read_text()
    assert f"<{pages}>" in readme and ".github/workflows/pages.yml" in readme


def test_launch_buttons_point_at_notebooks_that_exist():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    notebooks = [f for f in files if (ROOT / f"{f}.ipynb").exists()]
    assert notebooks and all(f.startswith("notebooks/") for f in notebooks)
    owner_repo = config["repository"]["url"].removeprefix("https://github.com/")
    book = config["repository"]["path_to_book"]
    assert book == ""  # the book's root is the repository's root: a page's path is its path in the repository
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    for notebook in notebooks:
        colab = f"https://colab.research.google.com/github/{owner_repo}/blob/main/{notebook}.ipynb"
        assert (ROOT / colab.split("/blob/main/")[1]).is_file()


def test_binder_builds_from_the_binder_folder():
    binder = ROOT / "binder"
    requirements = (binder / "requirements.txt").read_text().splitlines()
    assert "-r ../requirements.txt" in requirements
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert (binder / "runtime.txt").read_text().strip() == "python-3.11"
    post_build = binder / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    text = post_build.read_text()
    assert "pip install --no-deps -e ." in text and "python -m utils.data" in text
