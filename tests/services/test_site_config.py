"""Generated site.toml files take the documented policy defaults."""

from __future__ import annotations

from pathlib import Path

from accord.core import load_study
from accord.data import load_cohort
from accord.fl.governance import SitePolicy, load_site_policy
from accord.services import write_site_config
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
