"""The dashboard's files: served at / beside /graphql, self-contained, shipped in the wheel."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path


STATIC = Path(__file__).resolve().parent.parent / "graphapi" / "dashboard" / "static"
STATIC_IMPORT = re.compile(r"""^(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']""", re.M)
DYNAMIC_IMPORT = re.compile(r"""\bimport\(\s*["']([^"']+)["']\s*\)""")


def _module_imports(path: Path) -> list[str]:
    text = path.read_text()
    return STATIC_IMPORT.findall(text) + DYNAMIC_IMPORT.findall(text)


def test_every_module_import_is_a_file_of_the_package():
    """No bundler and no CDN: each import is a relative path to a shipped file."""
    modules = list(STATIC.rglob("js/**/*.js"))
    assert len(modules) > 5
    for module in modules:
        for target in _module_imports(module):
            assert target.startswith("."), f"{module.name} imports {target!r} from outside the package"
            assert (module.parent / target).resolve().is_file(), f"{module.name} imports missing {target}"
    html = (STATIC / "index.html").read_text()
    for target in re.findall(r'(?:src|href)="([^"#]+)"', html):
        assert target.startswith("data:") or (STATIC / target).is_file(), target
    assert (STATIC / "vendor" / "uplot" / "LICENSE").is_file()
    # GraphiQL's packages, each in a folder named name@version (a scope, @graphiql, is not one).
    packages = [path for path in (STATIC / "vendor" / "graphiql").rglob("?*@*") if path.is_dir()]
    assert len(packages) == 5 and all((package / "LICENSE").is_file() for package in packages), packages


async def test_the_page_is_served_at_the_root_with_its_security_policy(client):
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    script = await client.get("/js/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert (await client.get("/js/nothing.js")).status_code == 404
    # The API keeps its own answers.
    assert (await client.post("/graphql", json={"query": "{ __typename }"})).status_code == 401
    assert (await client.get("/healthz")).status_code == 200


def test_a_non_editable_install_ships_the_page(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(STATIC.parents[2])],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("graphapi-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"graphapi/dashboard/static/{p.relative_to(STATIC).as_posix()}" for p in STATIC.rglob("*") if p.is_file()}
    assert expected <= names, sorted(expected - names)
