"""Regions of sequences: GLIMS IDs in names → positions → single-linkage regions, or a CSV."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from glacier_edge.cli import main
from glacier_edge.errors import BadInputError
from glacier_edge.ingest.regions import (
    Position,
    distance_km,
    glims_position,
    link_regions,
    prior_from_elsewhere,
    read_regions_csv,
    sequence_regions,
)
from glacier_edge.ingest.samples import glacier_timelapse, write_timelapse

# The 35 sequence folders of the shared Landsat corpus (names only; ../shared/data/glacierview_landsat).
CORPUS = """g007281e45526n g007297e45961n g007394e45986n g007419e45967n g007510e46381n g007549e46005n
g007581e46002n g007603e46067n g007625e45991n g007639e46058n g007682e46077n g007702e46120n g007730e45943n
g007761e45922n g007800e45965n g007807e46481n g007833e46493n g007846e45906n g007860e46128n g007880e45990n
g007892e46055n g007896e46027n g007908e45948n g007922e46000n g007930e46472n g007964e46423n g008016e46459n
g009837e46351n g009860e46370n g009889e46366n g009969e46369n g010535e46167n g010577e46153n g044467e42706n
g044477e42719n""".split()


def test_glims_ids_give_positions() -> None:
    assert glims_position("gv_g007281e45526n") == Position(7.281, 45.526)
    assert glims_position("G044467E42706N_final.gif") == Position(44.467, 42.706)
    assert glims_position("g286800e50500s") == Position(-73.2, -50.5)  # west of Greenwich, south
    assert glims_position("glacier_1990.gif") is None
    assert glims_position("xg007281e45526n") is None  # not a separate token


def test_distance_is_great_circle() -> None:
    assert distance_km(Position(0, 0), Position(1, 0)) == pytest.approx(111.19, abs=0.01)
    assert distance_km(Position(7, 46), Position(8, 46)) == pytest.approx(77.24, abs=0.05)  # cos(46°) shrinks it


def test_single_linkage_chains_neighbours_and_splits_at_the_gap() -> None:
    chain = [Position(7.0 + 0.5 * i, 46.0) for i in range(4)]  # 38.6 km steps: one region, 116 km end to end
    far = [Position(9.5, 46.0)]  # 77 km from the chain's end
    regions = link_regions(chain + far, link_km=50)
    assert len(set(regions[:4])) == 1 and regions[4] != regions[0]
    assert regions[0] == "7.0–8.5E 46.0N" and regions[4] == "9.5E 46.0N"


def test_the_corpus_falls_into_its_three_regions() -> None:
    regions = sequence_regions([Path(f"gv_{name}") for name in CORPUS])
    assert regions is not None
    sizes = {name: regions.count(name) for name in set(regions)}
    assert sizes == {"7.3–8.0E 45.5–46.5N": 27, "9.8–10.6E 46.2–46.4N": 6, "44.5E 42.7N": 2}


def test_regions_csv_wins_and_must_cover_every_sequence(tmp_path: Path) -> None:
    table = tmp_path / "regions.csv"
    table.write_text("sequence,region,note\nseq0.gif,north,x\nseq1.gif,south,y\n")
    assert read_regions_csv(table) == {"seq0.gif": "north", "seq1.gif": "south"}
    assert sequence_regions([Path("a/seq1.gif"), Path("seq0.gif")], table) == ["south", "north"]
    with pytest.raises(BadInputError, match=r"regions.csv: no region for seq2.gif$"):
        sequence_regions([Path("seq0.gif"), Path("seq2.gif")], table)
    assert sequence_regions([Path("seq0.gif"), Path("gv_g007281e45526n")]) is None  # a name without ID: unknown


def test_a_bad_regions_csv_is_one_line(tmp_path: Path) -> None:
    table = tmp_path / "r.csv"
    table.write_text("name,place\na,b\n")
    with pytest.raises(BadInputError, match="needs a header with the columns 'sequence' and 'region'"):
        read_regions_csv(table)
    table.write_text("sequence,region\na.gif,\n")
    with pytest.raises(BadInputError, match=r"line 2: empty sequence or region"):
        read_regions_csv(table)


def test_a_glacier_far_from_every_training_glacier_gets_a_prior_from_elsewhere() -> None:
    alps = ["corpus/gv_g007281e45526n", "corpus/gv_g007297e45961n"]
    note = prior_from_elsewhere(["new/gv_g044467e42706n.gif"], alps)
    assert note is not None and note.startswith("this glacier (44.467°, 42.706°) is 2,951 km")
    assert "nearest of the bundle's 2 training glaciers (regions 7.3E 45.5–46.0N)" in note
    assert prior_from_elsewhere(["gv_g007300e45600n.gif"], alps) is None  # 8 km from a training glacier
    assert prior_from_elsewhere(["my_glacier.gif"], alps) is None  # position unknown: nothing is claimed
    assert prior_from_elsewhere(["gv_g044467e42706n.gif"], ["generated"]) is None


def bundle_trained_on(tmp_path: Path, **first_sequence: str) -> Path:
    """A copy of the tiny bundle whose first training sequence carries ``first_sequence``'s fields
    (source, region): manifest.json itself is not hashed, so the copy still verifies."""
    bundle = Path(shutil.copytree(Path(__file__).parent / "fixtures" / "tiny_bundle", tmp_path / "bundle"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["training"]["train_sequences"][0].update(first_sequence)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


def run_on(tmp_path: Path, name: str, bundle: Path, *extra: str) -> str:
    gif = write_timelapse(glacier_timelapse(4, seed=1), tmp_path / name)
    result = CliRunner().invoke(main, ["run", str(gif), "--model", str(bundle), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_run_says_the_prior_is_from_elsewhere(tmp_path: Path) -> None:
    bundle = bundle_trained_on(tmp_path, source="corpus/gv_g007281e45526n")
    output = run_on(tmp_path, "gv_g044467e42706n.gif", bundle)
    assert "PRIOR FROM ELSEWHERE: this glacier (44.467°, 42.706°) is" in output
    assert "PRIOR FROM ELSEWHERE" not in run_on(tmp_path, "gv_g007300e45600n.gif", bundle)


def test_a_region_label_is_compared_with_the_training_regions() -> None:
    note = prior_from_elsewhere(["x.gif"], ["a", "b"], region="norway", training_regions=["alps", "caucasus", "alps"])
    assert note is not None and note.startswith("region 'norway' is not among the bundle's training regions "
                                                "(alps; caucasus): its calibration is a prior from elsewhere")
    assert prior_from_elsewhere(["x.gif"], ["a"], region="alps", training_regions=["alps"]) is None
    assert prior_from_elsewhere(["x.gif"], ["a"], region="alps", training_regions=[]) is None  # cannot be told


def test_run_region_label_against_the_bundle(tmp_path: Path) -> None:
    bundle = bundle_trained_on(tmp_path, region="alps")
    output = run_on(tmp_path, "g.gif", bundle, "--region", "norway")
    assert "PRIOR FROM ELSEWHERE: region 'norway' is not among the bundle's training regions (alps)" in output
    assert "PRIOR FROM ELSEWHERE" not in run_on(tmp_path, "g.gif", bundle, "--region", "alps")
