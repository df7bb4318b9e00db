"""The hub's ``[limits]`` table, and refusals recorded once per certificate and reason per
window with a count of the ones between."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from accord.core import ConfigError
from accord.net import DEFAULT_LIMITS, Limits
from accord.services import read_hub_config
from accord.services._refusals import RefusalLog

HUB_TOML = (
    '[hub]\nlisten = "127.0.0.1:8443"\nrun = "run"\nstudy = "hcc-resection-survival"\n'
    "[tls]\ninsecure = true\n"
)


def _hub_toml(tmp_path: Path, limits: str = "") -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(HUB_TOML + (f"[limits]\n{limits}\n" if limits else ""))
    return path


def test_without_a_limits_table_the_hub_keeps_the_defaults(tmp_path: Path) -> None:
    assert read_hub_config(_hub_toml(tmp_path)).limits == DEFAULT_LIMITS


def test_the_limits_table_sets_each_limit(tmp_path: Path) -> None:
    text = (
        "max_request_bytes = 33554432\nrequests_per_minute = 60\nrequest_burst = 20\n"
        "refusal_window_s = 60\nstaging_site_bytes = 1000\nstaging_total_bytes = 4000\n"
        "staging_expiry_s = 1.5\n"
    )
    assert read_hub_config(_hub_toml(tmp_path, text)).limits == Limits(
        max_request_bytes=33554432,
        requests_per_minute=60,
        request_burst=20,
        refusal_window_s=60,
        staging_site_bytes=1000,
        staging_total_bytes=4000,
        staging_expiry_s=1.5,
    )


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("request_per_minute = 60", "request_per_minute", "unknown"),
        ("requests_per_minute = 0", "requests_per_minute", "a whole number > 0"),
        ("requests_per_minute = 1.5", "requests_per_minute", "a whole number > 0"),
        ("request_burst = true", "request_burst", "a whole number > 0"),
        ('staging_site_bytes = "2 GiB"', "staging_site_bytes", "a whole number > 0"),
        ("refusal_window_s = 0.5", "refusal_window_s", "a whole number > 0"),
        ("staging_expiry_s = -1", "staging_expiry_s", "seconds > 0"),
        ("max_request_bytes = 1024", "max_request_bytes", "at least 16777216"),
        ("staging_site_bytes = 9000000000000", "staging_site_bytes", "at most"),
    ],
)
def test_a_bad_limit_names_the_file_and_field(
    tmp_path: Path, text: str, field: str, message: str
) -> None:
    path = _hub_toml(tmp_path, text)
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(path))}: field 'limits.{field}': .*{message}"
    ):
        read_hub_config(path)


def test_a_limits_value_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text("limits = 3\n" + HUB_TOML)
    with pytest.raises(ConfigError, match="field 'limits': expected a table"):
        read_hub_config(path)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


REVOKED = "certificate serial 17 of hospital_1 was revoked"


def test_300_identical_refusals_make_one_entry_and_a_count() -> None:
    recorded: list[dict[str, object]] = []
    clock = Clock()
    refusals = RefusalLog(recorded.append, window_s=600, clock=clock)
    outcomes = [refusals.refuse("fp1", REVOKED) for _ in range(300)]
    assert outcomes[0] and not any(outcomes[1:])
    assert recorded == [{"reason": REVOKED, "window_s": 600, "unrecorded": 0}]
    clock.now += 599.0
    assert not refusals.refuse("fp1", REVOKED)  # still inside the window
    clock.now += 1.0
    assert refusals.refuse("fp1", REVOKED)  # the window rolled over: recorded with the count
    assert recorded[1] == {"reason": REVOKED, "window_s": 600, "unrecorded": 300}


def test_another_certificate_or_reason_is_recorded_on_its_own() -> None:
    recorded: list[dict[str, object]] = []
    refusals = RefusalLog(recorded.append, window_s=600, clock=Clock())
    assert refusals.refuse("fp1", REVOKED)
    assert refusals.refuse("fp2", REVOKED)
    assert refusals.refuse("fp1", "organisation lab_x is not a member of this consortium")
    assert not refusals.refuse("fp2", REVOKED)
    assert len(recorded) == 3


def test_flush_records_the_counts_still_pending_once() -> None:
    recorded: list[dict[str, object]] = []
    refusals = RefusalLog(recorded.append, window_s=600, clock=Clock())
    for _ in range(5):
        refusals.refuse("fp1", REVOKED)
    refusals.refuse("fp2", "other reason")  # nothing pending for it
    refusals.flush()
    refusals.flush()
    assert recorded[2:] == [{"reason": REVOKED, "window_s": 600, "unrecorded": 4}]
