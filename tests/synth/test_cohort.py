from __future__ import annotations

from pathlib import Path

from accord.synth import write_cohort_slides


def test_cohort_slides_carry_patterns_at_the_given_rates(tmp_path: Path) -> None:
    slides = write_cohort_slides(
        tmp_path / "site",
        4,
        seed=3,
        profile="hospital_c",
        pattern_rates={"macrotrabecular": 1.0, "immune": 0.0},
        width=384,
        height=320,
    )
    assert [s.path.name for s in slides] == [f"slide_{i:04d}.ome.tif" for i in range(4)]
    assert all(s.path.exists() for s in slides)
    for slide in slides:
        fractions = slide.pattern_fractions()
        assert 0.14 <= fractions["macrotrabecular"] <= 0.46
        assert fractions["immune"] == 0.0
    again = write_cohort_slides(
        tmp_path / "again",
        4,
        seed=3,
        profile="hospital_c",
        pattern_rates={"macrotrabecular": 1.0, "immune": 0.0},
        width=384,
        height=320,
    )
    assert [s.pattern_fractions() for s in again] == [s.pattern_fractions() for s in slides]
    assert slides[0].pattern_fractions() != slides[1].pattern_fractions()


def test_cohort_rescales_fractions_that_would_exceed_the_tissue(tmp_path: Path) -> None:
    rates = {"macrotrabecular": 1.0, "vetc": 1.0, "immune": 1.0}
    slides = write_cohort_slides(tmp_path, 3, 9, "hospital_a", rates, width=256, height=256)
    for slide in slides:
        assert sum(slide.pattern_fractions().values()) <= 0.9 + 0.02
