"""The URLs a connection may name (connectors/urls.py), and the settings that use the rule."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from connectors.hubspot_api import HubSpotSettings
from connectors.rest_config import OAuth2ClientCredentials
from connectors.salesforce_api import SalesforceSettings
from connectors.urls import PLAIN_HTTP_HOSTS_ENV, check_url, check_url_or_path


@pytest.mark.parametrize("url", [
    "https://api.hubapi.com", "https://acme.my.salesforce.com/", "HTTPS://Acme.Example:8443/v1",
    "https://10.0.0.5/erp", "http://127.0.0.1:8787", "http://127.1/", "http://localhost:3000",
    "http://api.localhost/", "http://[::1]:9/x",
])
def test_https_anywhere_and_http_to_loopback_are_accepted(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(("url", "reason"), [
    ("file:///etc/passwd", "only http(s)"),
    ("ftp://files.example/", "only http(s)"),
    ("not a url", "not a URL"),
    ("", "not a URL"),
    ("https://acme.example/\nHost: evil", "not a URL"),
    ("http://[abc", "not a URL"),
    ("https:///path", "names no host"),
    ("http://crm.example", "use https"),
    ("http://10.0.0.5", "use https"),
    ("https://user:secret@acme.example", "credentials in a URL"),
    ("https://acme.example:99999/", "invalid port"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("https://169.254.169.254", "cloud metadata"),
    ("https://2852039166/", "cloud metadata"),  # 169.254.169.254 as one number
    ("https://0xa9fea9fe/", "cloud metadata"),
    ("https://[::ffff:169.254.169.254]/", "cloud metadata"),
    ("https://[fd00:ec2::254]/", "cloud metadata"),
    ("https://metadata.google.internal/computeMetadata/v1/", "cloud metadata"),
    ("https://METADATA.google.internal./", "cloud metadata"),
    ("https://100.100.100.200/", "cloud metadata"),
    ("https://169.254.10.1/", "link-local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://0.0.0.0:8080/", "unspecified"),
])
def test_other_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        check_url(url)


def test_a_token_url_may_be_a_path_under_the_base_url() -> None:
    assert check_url_or_path("/oauth/token") == "/oauth/token"
    assert check_url_or_path("oauth/token") == "oauth/token"
    assert check_url_or_path("https://auth.example/token") == "https://auth.example/token"
    for bad, reason in [("http://169.254.169.254/token", "cloud metadata"),
                        ("/token?next=http://evil.example", "holds no '://'"),
                        ("/o auth", "neither a URL nor a path")]:
        with pytest.raises(ValueError, match=re.escape(reason)):
            check_url_or_path(bad)


def test_every_url_setting_of_every_provider_keeps_the_rule() -> None:
    bad = "http://169.254.169.254"
    for build in (
        lambda: HubSpotSettings(client_id="c", base_url=bad),
        lambda: HubSpotSettings(client_id="c", token_url=bad),
        lambda: SalesforceSettings(client_id="c", base_url=bad),
        lambda: SalesforceSettings(client_id="c", base_url="https://x.example", token_url=bad),
        lambda: OAuth2ClientCredentials(type="oauth2_client_credentials", client_id="c",
                                        token_url=bad),
    ):
        with pytest.raises(ValidationError, match="cloud metadata"):
            build()


def test_plain_http_reaches_only_the_private_hosts_named_in_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="use https"):
        check_url("http://sandbox:8787")
    monkeypatch.setenv(PLAIN_HTTP_HOSTS_ENV, "Sandbox, crm.internal")
    assert check_url("http://sandbox:8787") == "http://sandbox:8787"
    assert check_url("http://crm.internal/api") == "http://crm.internal/api"
    with pytest.raises(ValueError, match="use https"):
        check_url("http://other.internal")
    monkeypatch.setenv(PLAIN_HTTP_HOSTS_ENV, "169.254.169.254")
    with pytest.raises(ValueError, match="metadata"):  # naming it does not open the metadata door
        check_url("http://169.254.169.254/latest")
