"""Generated site.toml files take the documented policy defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from accord.core import ConfigError, load_study
from accord.data import load_cohort
from accord.fl.governance import SitePolicy, load_site_policy
from accord.ledger import load_anchor
from accord.services import HubConfig, read_hub_config, read_service_config, write_site_config
from accord.studies import RunLedger
from tests.conftest import synthetic_cohort, write_study


def test_a_generated_site_config_never_releases_more_than_the_documented_default(
    tmp_path: Path,
) -> None:
    synthetic_cohort().to_csv(tmp_path / "cohort.csv", index=False)
    study = load_study(write_study(tmp_path, strategy="fedavg", rounds=1, baselines="[]"))
    cohort = load_cohort(study.cohort, tmp_path, 0)
    audit = RunLedger.create(tmp_path / "out", study, cohort)
    try:
        assert audit.policies["hospital_0"].allow_tile_export  # the simulated owner's choice
        path = write_site_config(
            tmp_path / "out", audit, "hospital_0", tmp_path, "https://127.0.0.1:1", 0
        )
    finally:
        audit.close()
    policy = load_site_policy(path)
    assert policy == SitePolicy()
    assert not policy.allow_tile_export
    assert "allow-tile-export = false" in path.read_text()
    pinned = read_service_config(path).anchor  # the site pins its own copy of the anchor
    assert pinned == (path.parent / "anchor.json").resolve()
    assert load_anchor(pinned) == load_anchor(tmp_path / "out" / "anchor.json")


SITE_TOML = """[site]
org = "hospital_0"
dataset = "hospital_0.cohort"
hub = "{hub}"
study = "hcc-resection-survival"
{tls}"""
TLS = '[tls]\ncert = "c.pem"\nkey = "k.pem"\nca = "ca.pem"\n'
INSECURE = "[tls]\ninsecure = true\n"


@pytest.mark.parametrize(
    ("hub", "tls", "message"),
    [
        ("http://hub.example.org:8443", TLS, "needs an https:// hub URL"),
        ("ftp://hub.example.org:21", TLS, "expected https://HOST:PORT"),
        ("https://:8443", TLS, "expected https://HOST:PORT"),
        ("https://hub.example.org:99999", TLS, "not a URL with a valid port"),
        ("http://hub.example.org:8443", INSECURE, "loopback host only"),
        ("https://127.0.0.1:8443", INSECURE, "loopback host only"),
    ],
)
def test_a_site_config_refuses_a_hub_url_its_tls_cannot_protect(
    tmp_path: Path, hub: str, tls: str, message: str
) -> None:
    path = tmp_path / "site.toml"
    path.write_text(SITE_TOML.format(hub=hub, tls=tls))
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(path))}: field 'site.hub': .*{message}"
    ):
        read_service_config(path)


@pytest.mark.parametrize(
    ("hub", "tls"),
    [("https://hub.example.org:8443", TLS), ("http://127.0.0.1:8443", INSECURE)],
)
def test_a_site_config_accepts_https_and_loopback_http(tmp_path: Path, hub: str, tls: str) -> None:
    path = tmp_path / "site.toml"
    path.write_text(SITE_TOML.format(hub=hub, tls=tls))
    assert read_service_config(path).hub == hub


HUB_TOML = '[hub]\nlisten = "{listen}"\nrun = "run"\nstudy = "hcc-resection-survival"\n{tls}'


@pytest.mark.parametrize(
    ("listen", "tls", "message"),
    [
        ("127.0.0.1:99999", TLS, "port in 1..65535"),
        ("127.0.0.1:0", TLS, "port in 1..65535"),
        ("8443", TLS, "expected HOST:PORT"),
        ("0.0.0.0:8443", INSECURE, "loopback host only"),
    ],
)
def test_a_hub_config_refuses_a_bad_listen_address(
    tmp_path: Path, listen: str, tls: str, message: str
) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(HUB_TOML.format(listen=listen, tls=tls))
    with pytest.raises(ConfigError, match=rf"field 'hub.listen': .*{message}"):
        read_hub_config(path)
    assert read_hub_config_ok(tmp_path, tls).port == 8443


def read_hub_config_ok(folder: Path, tls: str) -> HubConfig:
    path = folder / "ok.toml"
    path.write_text(HUB_TOML.format(listen="127.0.0.1:8443", tls=tls))
    return read_hub_config(path)


HUB_OK = HUB_TOML.format(listen="127.0.0.1:8443", tls=TLS)


@pytest.mark.parametrize(
    ("text", "field", "hint"),
    [
        (HUB_OK.replace("[tls]", "timout = 5\n[tls]"), "hub.timout", "did you mean 'timeout'?"),
        (HUB_OK + '[stores]\nurl = "postgresql://db/a"\n', "stores", "did you mean 'store'?"),
        (
            HUB_OK + "[ledger]\nanchor = 'a.json'\n",
            "ledger",
            "one of hub, limits, retention, store, tls",
        ),
        (HUB_OK + "[limit]\nrequests_per_minute = 10\n", "limit", "did you mean 'limits'?"),
        (
            HUB_OK + "[limits]\nrequest_per_minute = 10\n",
            "limits.request_per_minute",
            "did you mean 'requests_per_minute'?",
        ),
    ],
)
def test_a_hub_config_refuses_an_unknown_key_with_a_suggestion(
    tmp_path: Path, text: str, field: str, hint: str
) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    with pytest.raises(
        ConfigError,
        match=rf"^{re.escape(str(path))}: field '{field}': unknown key .*{re.escape(hint)}",
    ):
        read_hub_config(path)


@pytest.mark.parametrize(
    ("text", "field", "hint"),
    [
        (SITE_TOML.replace("hub =", "hubb ="), "site.hubb", "did you mean 'hub'?"),
        (SITE_TOML + "insecur = true\n", "tls.insecur", "did you mean 'insecure'?"),
        (SITE_TOML + '\n[ledger]\nanchr = "a.json"\n', "ledger.anchr", "did you mean 'anchor'?"),
        (SITE_TOML + "\n[polcy]\n", "polcy", "did you mean 'policy'?"),
        (
            SITE_TOML + "\n[policy]\nmin-cohort-sise = 30\n",
            "policy.min-cohort-sise",
            "did you mean 'min-cohort-size'?",
        ),
    ],
)
def test_a_site_config_refuses_an_unknown_key_with_a_suggestion(
    tmp_path: Path, text: str, field: str, hint: str
) -> None:
    path = tmp_path / "site.toml"
    path.write_text(text.format(hub="https://hub.example.org:8443", tls=TLS))
    with pytest.raises(
        ConfigError,
        match=rf"^{re.escape(str(path))}: field '{field}': unknown key .*{re.escape(hint)}",
    ):
        read_service_config(path)


def test_tls_insecure_must_be_a_boolean(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(SITE_TOML.format(hub="http://127.0.0.1:8443", tls='[tls]\ninsecure = "yes"\n'))
    with pytest.raises(ConfigError, match=r"field 'tls.insecure': expected true or false"):
        read_service_config(path)
