"""What an operator types or points the CLI at: every mistake or hostile value is one line and
exit code 2 (never a traceback), and what the CLI writes to disk is the owner's only."""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from connectors.rest_config import MAX_CONFIG_BYTES, load_config
from starter.processes import Processes
from store import vault
from store.db import engine
from tests.support.cli import REFRESH, SECRET, add, cli
from tests.support.processes import ROOT

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
NO_SECRETS: dict[str, str | None] = {"TRIBUTARY_CLIENT_SECRET": None,
                                     "TRIBUTARY_REFRESH_TOKEN": None}
SECRETS = {"TRIBUTARY_CLIENT_SECRET": SECRET, "TRIBUTARY_REFRESH_TOKEN": REFRESH}
EXAMPLES = ROOT / "connectors" / "examples"


def refused(result: Any, message: str) -> str:
    """Exit code 2 with one line that says `message`; an exception escaping the command (a
    traceback on a terminal) fails."""
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert message in lines[0], lines[0]
    return str(lines[0])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def stored(name: str) -> tuple[dict[str, Any], vault.Secrets]:
    from store import connections

    with engine().connect() as conn:
        return connections.get(conn, name).config, vault.load(conn, name).secrets


# -- URLs ----------------------------------------------------------------------------------

@SQLITE
@pytest.mark.parametrize(("flag", "url", "reason"), [
    ("--base-url", "file:///etc/passwd", "only http(s) URLs"),
    ("--base-url", "not a url", "not a URL"),
    ("--base-url", "http://169.254.169.254", "cloud metadata address"),
    ("--base-url", "http://crm.example", "use https"),
    ("--base-url", "https://[fe80::1]/", "link-local"),
    ("--base-url", "http://[/x]", "not a URL"),  # also: quoted, not read as terminal markup
    ("--token-url", "http://169.254.169.254/latest/meta-data/", "cloud metadata address"),
    ("--token-url", "file:///etc/shadow", "only http(s) URLs"),
])
def test_add_refuses_a_url_credentials_must_not_go_to(
    database_url: str, flag: str, url: str, reason: str
) -> None:
    line = refused(add("hostile", flag, url), reason)
    assert (flag.strip("-").replace("-", "_")) in line  # names the setting
    assert "hostile" not in cli("connection", "list").output


@SQLITE
def test_update_and_config_files_keep_the_url_rule(database_url: str, tmp_path: Path) -> None:
    assert add("acme", "--base-url", "http://127.0.0.1:8787").exit_code == 0  # loopback: http
    refused(cli("connection", "update", "acme", "--base-url", "http://169.254.169.254"),
            "cloud metadata address")
    assert stored("acme")[0]["base_url"] == "http://127.0.0.1:8787"

    salesforce = tmp_path / "sf.json"
    salesforce.write_text(json.dumps({"base_url": "https://acme.my.salesforce.com",
                                      "client_id": "c", "token_url": "http://login.example"}))
    refused(cli("connection", "add", "sf", "--provider", "salesforce", "--tenant", "acme",
                "--config", str(salesforce)), "token_url: Value error, 'http://login.example'")
    rest = load_config(EXAMPLES / "people_api.toml") | {"auth": {
        "type": "oauth2_client_credentials", "client_id": "c",
        "token_url": "http://metadata.google.internal/computeMetadata/v1/token"}}
    (tmp_path / "rest.json").write_text(json.dumps(rest))
    refused(cli("connection", "add", "rest", "--provider", "rest", "--tenant", "acme",
                "--config", str(tmp_path / "rest.json")),
            "auth.oauth2_client_credentials.token_url")
    rest["auth"]["token_url"] = "/oauth/token"  # a path under the base URL is fine
    (tmp_path / "rest.json").write_text(json.dumps(rest))
    done = cli("connection", "add", "rest", "--provider", "rest", "--tenant", "acme",
               "--config", str(tmp_path / "rest.json"), env={"TRIBUTARY_CLIENT_SECRET": "k"})
    assert done.exit_code == 0, done.output


# -- config files --------------------------------------------------------------------------

MAPPING = {"entity": "contacts", "updated_at": "properties.lastmodifieddate",
           "fields": {"email": {"source": "properties.email", "transform": "email",
                                "required": True}}}


@SQLITE
@pytest.mark.parametrize(("name", "content", "reason"), [
    ("list.json", "[1, 2]", "must hold a mapping of settings at the top level, not list"),
    ("null.json", "null", "at the top level, not nothing"),
    ("list.yaml", "- 1\n- 2\n", "at the top level, not list"),
    ("text.yml", "just words\n", "at the top level, not str"),
    ("anchor.yaml", "list_page_size: &n 50\nsearch_page_size: *n\n", "anchors and aliases"),
    ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("deep.yaml", "a: " + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("deep.toml", "a = " + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("binary.json", b'{"client_id": "\xff\xfe"}', "is not UTF-8 text"),
    ("broken.toml", "lookback_s = ", "is not valid TOML"),
    ("broken.yaml", "a: [1\n", "is not valid YAML: expected ',' or ']'"),
    ("settings.ini", "a=1", "expected a .toml, .json or .yaml file"),
    ("big.json", json.dumps({"client_id": "x" * MAX_CONFIG_BYTES}), "larger than 1 MiB"),
    ("infinite.json", '{"timeout_s": Infinity}', "timeout_s: Input should be a finite number"),
    ("nan.toml", "timeout_s = nan", "timeout_s: Input should be a finite number"),
    ("default.json", json.dumps({"mappings": {"contacts": {**MAPPING, "fields": {
        "email": {"source": "properties.email", "default": ["a", "b"]}}}}}),
     "mappings.contacts.fields.email.default: Value error, `default` is one value"),
    ("table.toml", '[mappings.contacts]\nentity = "contacts"\nupdated_at = "u"\n'
     '[mappings.contacts.fields.email]\nsource = "e"\ndefault = { a = 1 }\n',
     "`default` is one value (text, a number or a boolean), not a dict"),
])
def test_a_config_file_that_is_not_settings_is_one_line(
    database_url: str, tmp_path: Path, name: str, content: str | bytes, reason: str
) -> None:
    config = tmp_path / name
    config.write_bytes(content if isinstance(content, bytes) else content.encode())
    refused(add("acme", "--config", str(config)), reason)


def test_yaml_aliases_are_refused_before_they_expand(tmp_path: Path) -> None:
    """The billion laughs: ten lines, nine aliases of nine aliases, 9**9 strings."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    assert bomb.stat().st_size < 1000
    with pytest.raises(ValueError, match=r"anchors and aliases \(& and \*\) are not allowed"):
        load_config(bomb)


def test_a_config_file_is_read_no_further_than_the_limit(tmp_path: Path) -> None:
    """An endless file (here /dev/zero) costs 1 MiB, in a process capped at 1 GiB of memory."""
    endless = tmp_path / "endless.json"
    endless.symlink_to("/dev/zero")
    script = ("import sys; from pathlib import Path; from connectors.rest_config import "
              "load_config\ntry:\n    load_config(Path(sys.argv[1]))\nexcept ValueError as e:\n"
              "    print(e)\n")

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    done = subprocess.run([sys.executable, "-c", script, str(endless)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, preexec_fn=cap)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "larger than 1 MiB" in done.stdout


# -- secrets files -------------------------------------------------------------------------

@SQLITE
@pytest.mark.parametrize(("content", "reason"), [
    ({"client_secret": 987654321, "refresh_token": REFRESH},
     "client_secret must be a string, not a number"),
    ({"client_secret": SECRET, "refresh_token": None}, "refresh_token must be a string, not null"),
    ({"client_secret": [SECRET]}, "client_secret must be a string, not a list"),
    ({"client_secret": SECRET, "refresh_token": {"value": REFRESH}},
     "refresh_token must be a string, not an object"),
    ({"client_secret": "", "refresh_token": REFRESH}, "client_secret is empty"),
    ({"client_secret": SECRET, "refresh_token": REFRESH, "password": "x"},
     "unknown keys ['password']"),
    (["client_secret"], "must hold a JSON object"),
    (b'{"client_secret": "\xff"}', "is not a JSON object of strings"),
    ("[" * 30_000 + "]" * 30_000, "is not a JSON object of strings"),
    ("{" + " " * 70_000 + "}", "is larger than 64 KiB"),
])
def test_a_secrets_file_names_the_wrong_key(
    database_url: str, tmp_path: Path, content: Any, reason: str
) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_bytes(content if isinstance(content, bytes) else
                        (content if isinstance(content, str) else json.dumps(content)).encode())
    result = cli("connection", "add", "acme", "--provider", "hubspot", "--tenant", "acme",
                 "--client-id", "cid", "--secrets-file", str(secrets), env=NO_SECRETS)
    line = refused(result, reason)
    assert "987654321" not in line and SECRET not in line and REFRESH not in line


# -- names ---------------------------------------------------------------------------------

@SQLITE
@pytest.mark.parametrize("tenant", [
    "acme corp", "x' OR TributaryTenant != 'y", "-acme", "", "acme\n", "a" * 201, "[/bold]",
])
def test_a_tenant_is_named_like_a_connection(database_url: str, tenant: str) -> None:
    result = cli("connection", "add", "acme", "--provider", "hubspot", "--tenant", tenant,
                 "--client-id", "cid", env=SECRETS)
    refused(result, "invalid tenant")
    assert "acme" not in cli("connection", "list").output


@SQLITE
def test_an_unknown_connection_names_no_other(database_url: str) -> None:
    for name, tenant in (("initech-erp", "initech"), ("globex-crm", "globex")):
        added = cli("connection", "add", name, "--provider", "hubspot", "--tenant", tenant,
                    "--client-id", "cid", env=SECRETS)
        assert added.exit_code == 0, added.output
    for args in (("connection", "remove", "ghost", "--yes"),
                 ("connection", "update", "ghost", "--reauthorize"),
                 ("rejected", "list", "--connection", "ghost")):
        line = refused(cli(*args), "unknown connection 'ghost'")
        assert "initech" not in line and "globex" not in line


# -- connection update ---------------------------------------------------------------------

@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_update_changes_settings_without_asking_for_secrets(
    database_url: str, tmp_path: Path
) -> None:
    assert add("acme").exit_code == 0
    config = tmp_path / "pages.json"
    config.write_text(json.dumps({"list_page_size": 50}))
    # No secrets in the environment and nothing on stdin: a prompt would abort.
    result = cli("connection", "update", "acme", "--config", str(config), env=NO_SECRETS)
    assert result.exit_code == 0, result.output
    assert "settings ['list_page_size'] changed" in result.output
    assert "credentials" not in result.output
    settings, secrets = stored("acme")
    assert settings["list_page_size"] == 50
    assert (secrets.client_secret, secrets.refresh_token) == (SECRET, REFRESH)

    refused(cli("connection", "update", "acme", env=NO_SECRETS),
            "nothing to update: give settings (--config, --base-url, --token-url, --client-id) "
            "or new credentials (--reauthorize, --secrets-file, or TRIBUTARY_CLIENT_SECRET")
    # Bad settings fail before any prompt: exit 2, not an aborted prompt.
    refused(cli("connection", "update", "acme", "--reauthorize", "--base-url", "ftp://x",
                env=NO_SECRETS), "only http(s) URLs")


@SQLITE
def test_update_replaces_credentials_when_asked(database_url: str, tmp_path: Path) -> None:
    assert add("acme").exit_code == 0
    prompted = cli("connection", "update", "acme", "--reauthorize", env=NO_SECRETS,
                   stdin="typed-secret\ntyped-refresh\n")
    assert prompted.exit_code == 0, prompted.output
    assert "credentials replaced" in prompted.output and "typed-secret" not in prompted.output
    assert stored("acme")[1].refresh_token == "typed-refresh"

    from_env = cli("connection", "update", "acme", env={"TRIBUTARY_CLIENT_SECRET": "env-secret",
                                                       "TRIBUTARY_REFRESH_TOKEN": "env-refresh"})
    assert from_env.exit_code == 0, from_env.output
    assert stored("acme")[1].refresh_token == "env-refresh"

    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"client_secret": "file-secret", "refresh_token": "file-rt"}))
    from_file = cli("connection", "update", "acme", "--secrets-file", str(secrets),
                    "--base-url", "https://api.example", env=NO_SECRETS)
    assert from_file.exit_code == 0, from_file.output
    assert "settings ['base_url'] changed, credentials replaced" in from_file.output
    settings, stored_secrets = stored("acme")
    assert settings["base_url"] == "https://api.example"
    assert (stored_secrets.client_secret, stored_secrets.refresh_token) == ("file-secret",
                                                                            "file-rt")


# -- files on disk -------------------------------------------------------------------------

def _home_env(home: Path) -> dict[str, str | None]:
    """The CLI as an operator runs it: the embedded SQLite database and the key file in home."""
    return {"TRIBUTARY_HOME": str(home), "DATABASE_URL": None, "TRIBUTARY_VAULT_KEY": None}


def test_home_database_and_key_file_are_the_owners_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    old_umask = os.umask(0o022)  # the usual umask: files 0644, directories 0755
    try:
        result = add("acme", env=_home_env(home))
    finally:
        os.umask(old_umask)
    assert result.exit_code == 0, result.output
    assert mode(home) == 0o700
    files = {p.name: mode(p) for p in home.iterdir()}
    assert {"tributary.db", "vault.key"} <= set(files)
    assert files == dict.fromkeys(files, 0o600)  # the database's -wal and -shm files too


def test_an_open_home_and_database_are_tightened(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    (home / "tributary.db").touch()
    (home / "tributary.db").chmod(0o644)
    result = cli("connection", "list", env=_home_env(home))
    assert result.exit_code == 0, result.output
    assert (mode(home), mode(home / "tributary.db")) == (0o700, 0o600)


def test_a_key_file_others_can_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    key = home / "vault.key"
    key.write_text(Fernet.generate_key().decode())
    key.chmod(0o644)
    refused(add("acme", env=_home_env(home)),
            f"vault: the key file {key} is open to other users (mode 0644): run `chmod 600 {key}`")
    key.chmod(0o600)
    assert add("acme", env=_home_env(home)).exit_code == 0


def test_the_demos_log_files_are_the_owners_only(tmp_path: Path) -> None:
    earlier = tmp_path / "worker.log"
    earlier.write_text("an earlier run\n")
    earlier.chmod(0o644)
    processes = Processes(tmp_path)
    try:
        for name in ("worker", "sandbox"):
            processes.start(name, [sys.executable, "-c", "print('started')"], dict(os.environ))
    finally:
        processes.stop_all()
    assert mode(tmp_path / "worker.log") == mode(tmp_path / "sandbox.log") == 0o600
    assert "an earlier run" not in earlier.read_text()
