"""Data sources through one registry: the built-in ones, an installed plugin and ``@module:attr`` user code."""

from __future__ import annotations

import hashlib
import json
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.inputs.data import Builtin, CelebA, Folder, Preprocess, Source, available, get_source
from bench.inputs.data.registry import broken_plugins, load_plugins
from bench.outputs.rundir import RunDir

# Gradients whose pixels follow from the id alone, so the test knows every image without the source's code.
GRADIENTS = '''
    """A user data source: colour gradients, and ids that break the image contract on purpose."""

    import numpy as np


    def gradient(k, side):
        y, x = np.mgrid[0:side, 0:side].astype(np.float32)
        return np.dstack([x / (side - 1), y / (side - 1), np.full_like(x, k / 10)]).astype(np.float32)


    class Gradients:
        def __init__(self, side, count, bad):
            self.side, self.count, self.bad = side, count, bad

        def ids(self):
            return [f"g{k}" for k in range(self.count)]

        def load(self, image_id):
            k = int(image_id[1:])
            if image_id == self.bad == "g1":
                return np.zeros((self.side, self.side), np.float32)  # grey, H x W: not a contract image
            if image_id == self.bad:
                return {"g2": lambda: (gradient(k, self.side) * 255).astype(np.uint8),
                        "g3": lambda: gradient(k, self.side) * 2,
                        "g4": lambda: 1 / 0}[image_id]()
            return gradient(k, self.side)


    def make(size=160, count=6, bad="g1"):
        """Colour gradients, one per id."""
        return Gradients(size or 48, count, bad)
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Write Python source as a fresh importable module; return its (unique) name and file."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(source: str) -> tuple[str, Path]:
        name = f"usersrc_{uuid.uuid4().hex[:10]}"
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        return name, path

    return make


def gradient(k: int, side: int) -> np.ndarray:
    y, x = np.mgrid[0:side, 0:side].astype(np.float64)
    return np.dstack([x / (side - 1), y / (side - 1), np.full_like(x, k / 10)])


def test_the_registry_lists_the_three_builtin_sources_and_opens_them_as_before(tmp_path):
    listed = {info.name: info for info in available()}
    assert {"builtin", "celeba", "folder"} <= set(listed)
    assert [
        (listed[n].needs_root, listed[n].reads_root, listed[n].origin) for n in ("builtin", "celeba", "folder")
    ] == [
        (False, False, "built-in"),
        (True, True, "built-in"),
        (True, True, "built-in"),
    ]
    # The registry's builtin is the class itself, configured as the if-chain configured it.
    opened = get_source("builtin", split="train", size=48)
    direct = Builtin(split="train", preprocess=Preprocess(size=48))
    assert isinstance(opened, Builtin) and opened.ids() == direct.ids()
    assert np.array_equal(opened.load("hubble-003"), direct.load("hubble-003"))
    (tmp_path / "img_align_celeba").mkdir()
    assert isinstance(get_source("celeba", tmp_path), CelebA)
    folder = get_source("folder", tmp_path, size=0)
    assert isinstance(folder, Folder) and folder.preprocess == Preprocess(size=0)


def test_get_source_errors_are_unchanged():
    known = ", ".join(sorted(info.name for info in available()))
    with pytest.raises(ValueError) as err:
        get_source("imagenet")
    assert str(err.value) == f"unknown dataset 'imagenet' (known: {known})"
    for name in ("celeba", "folder"):
        with pytest.raises(ValueError) as err:
            get_source(name)
        assert str(err.value) == f"dataset {name!r} needs --data-root"
    with pytest.raises(ValueError) as err:
        get_source("builtin", size=20_000)
    assert str(err.value) == (
        "--size 20000: 400,000,000 pixels per image, over the limit of 100,000,000 (raise it with --max-pixels)"
    )


def test_an_object_spec_source_runs_end_to_end_and_skips_the_image_that_breaks_the_contract(user_module, tmp_path):
    mod, path = user_module(GRADIENTS)
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        ["run", "--dataset", f"@{mod}:make", "--n", "3", "--size", "32", "--methods", "telea"]
        + ["--metrics", "mse", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    run = RunDir(out)
    rows = run.read_records()
    assert sorted(r["image_id"] for r in rows) == ["g0", "g2", "g3"] and {r["method"] for r in rows} == {"telea"}
    (skipped,) = run.read_json(run.skipped)
    assert skipped["id"] == "g1"
    assert f"image 'g1' of dataset @{mod}:make" in skipped["reason"] and "HxWx3" in skipped["reason"]
    # The saved image is the gradient the id names, in 8 bits.
    for k in (0, 2, 3):
        expected = np.round(gradient(k, 32) * 255) / 255
        assert np.abs(run.load_image(f"g{k}") - expected).max() < 1e-6
    described = run.read_json(run.config)["identity"]["dataset"]
    assert described["dataset"] == f"@{mod}:make" and described["size"] == 32 and described["split"] == "test"
    assert described["code_sha256"] == {mod: hashlib.sha256(path.read_bytes()).hexdigest()}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("g1", "expected shape HxWx3, got (24, 24)"),
        ("g2", "expected float32, got uint8"),
        ("g3", "values must lie in [0, 1]"),
        ("g4", "load() raised ZeroDivisionError: division by zero"),
    ],
)
def test_a_broken_load_is_a_skipped_image_whose_reason_names_the_id(user_module, bad, reason):
    mod, _ = user_module(GRADIENTS)
    source = get_source(f"@{mod}:make:bad={bad}", size=24)
    assert isinstance(source, Source) and source.name == f"@{mod}:make:bad={bad}"
    samples, skipped = source.take(5)
    assert [s.id for s in samples] == [f"g{k}" for k in range(6) if f"g{k}" != bad]
    assert len(skipped) == 1 and skipped[0]["id"] == bad
    assert skipped[0]["reason"].startswith(f"image {bad!r} of dataset @{mod}:make:bad={bad}: ")
    assert reason in skipped[0]["reason"]


def test_a_user_image_of_another_size_is_cropped_and_resized_like_every_source(user_module):
    mod, _ = user_module(
        GRADIENTS
        + """
    def fixed(count=3):
        return Gradients(48, count, "none")
    """
    )
    assert get_source(f"@{mod}:fixed", size=0).load("g2").shape == (48, 48, 3)
    # Halving by area interpolation is the mean of each 2 x 2 block.
    halved = gradient(2, 48).reshape(24, 2, 24, 2, 3).mean(axis=(1, 3))
    assert np.abs(get_source(f"@{mod}:fixed", size=24).load("g2") - halved).max() < 1e-6
    # A factory that draws at --size itself is kept as drawn.
    assert np.abs(get_source(f"@{mod}:make", size=24).load("g0") - gradient(0, 24)).max() < 1e-6


def test_describe_identifies_the_source_and_is_json(user_module, tmp_path):
    mod, path = user_module(
        GRADIENTS
        + '''
    from bench.inputs.data import Source


    class Faces(Source):
        """Gradients grouped in pairs, with their own description."""

        def __init__(self, root=None, split="test", size=160, version=1):
            self.inner = Gradients(size or 48, 4, "none")
            self.version = version

        def ids(self):
            return self.inner.ids()

        def load(self, image_id):
            return self.inner.load(image_id)

        def describe(self):
            return {"version": self.version, "dataset": "faces"}

        unit = "gradient pairs"

        def groups(self, ids):
            return {i: str(int(i[1:]) // 2) for i in ids if i != "g3"}


    def not_json(size=160):
        source = Gradients(size, 2, "none")
        source.describe = lambda: {"when": object()}
        return source
    '''
    )
    one, other = get_source(f"@{mod}:make", size=24), get_source(f"@{mod}:make:count=5", size=24)
    assert one.describe() != other.describe()
    assert one.describe() == {
        "dataset": f"@{mod}:make",
        "module": mod,
        "reference": f"{mod}:make",
        "options": {},
        "root": None,
        "split": "test",
        "size": 24,
        "preprocess": {"size": 24, "crop": "center", "interpolation": "area"},
        "code_sha256": {mod: hashlib.sha256(path.read_bytes()).hexdigest()},
    }
    assert other.describe()["options"] == {"count": 5}
    faces = get_source(f"@{mod}:Faces:version=2", tmp_path, size=24)
    described = json.loads(json.dumps(faces.describe()))
    # The user's keys are kept, but the name that identifies the source is the spec's.
    assert described["version"] == 2 and described["dataset"] == f"@{mod}:Faces:version=2"
    assert described["root"] == str(tmp_path.resolve())
    assert faces.unit == "gradient pairs"
    assert faces.groups(faces.ids()) == {"g0": "0", "g1": "0", "g2": "1", "g3": "g3"}
    with pytest.raises(ValueError, match=r"not_json: describe\(\) must return JSON-able values"):
        get_source(f"@{mod}:not_json")


def test_bad_specs_and_bad_factories_are_one_line_errors_naming_them(user_module):
    mod, _ = user_module(
        GRADIENTS
        + """
    def raises(size=160):
        raise RuntimeError("no such shard")


    def no_ids(size=160):
        return object()


    def needs_root(root, size=160):
        return Gradients(size, 2, "none")
    """
    )
    cases = {
        f"@{mod}:nothing": f"module {mod!r} has no attribute 'nothing'",
        "@no_such_module_xyz:make": "cannot import module 'no_such_module_xyz'",
        f"@{mod}:make:colour=red": f"dataset '@{mod}:make' has no option 'colour' (valid: bad, count)",
        f"@{mod}:make:count=many": "count='many' is not a valid int",
        f"@{mod}:make:size=3": "size is set by --size",
        f"@{mod}:raises": "building the source raised RuntimeError: no such shard",
        f"@{mod}:no_ids": "the factory returned object, which has no ids() method",
        f"@{mod}:needs_root": "needs --data-root",
        "@": "expected @package.module:Name",
    }
    for spec, message in cases.items():
        with pytest.raises(ValueError) as err:
            get_source(spec)
        assert message in str(err.value) and "\n" not in str(err.value), (spec, str(err.value))


def test_the_dataset_option_refuses_an_unknown_name_in_one_line(user_module, tmp_path):
    result = CliRunner().invoke(cli, ["run", "--dataset", "imagenet", "--methods", "mean", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = [ln for ln in result.output.splitlines() if ln.startswith("Error")]
    assert "unknown dataset 'imagenet' (known: builtin, celeba, folder" in line
    mod, _ = user_module(GRADIENTS)
    result = CliRunner().invoke(
        cli, ["run", "--dataset", f"@{mod}:make", "--data-root", str(tmp_path), "--methods", "mean"]
    )
    assert result.exit_code == 2 and f"--data-root {tmp_path} is not read by --dataset @{mod}:make" in result.output


DIST_INFO = {
    "METADATA": "Metadata-Version: 2.1\nName: ibench-demo-data\nVersion: 0.4.0\n",
    "entry_points.txt": textwrap.dedent(
        """
        [inpaint_bench.datasets]
        gradients = {mod}:make
        lost-shards = {mod}_missing:Shards
        folder = {mod}:make
        """
    ),
}


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """An installed distribution (its ``.dist-info`` on ``sys.path``) declaring three data sources."""
    site = tmp_path / "site"
    site.mkdir()
    mod = f"dataplug_{uuid.uuid4().hex[:10]}"
    (site / f"{mod}.py").write_text(textwrap.dedent(GRADIENTS))
    info = site / "ibench_demo_data-0.4.0.dist-info"
    info.mkdir()
    for name, text in DIST_INFO.items():
        (info / name).write_text(text.format(mod=mod))
    monkeypatch.syspath_prepend(str(site))
    load_plugins()
    yield mod
    monkeypatch.undo()
    load_plugins()


def test_an_installed_plugin_is_listed_and_opened_and_a_broken_one_is_listed_broken(plugin_dist):
    result = CliRunner().invoke(cli, ["list", "datasets"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    entry = next(k for k, line in enumerate(lines) if line.startswith("gradients "))
    assert lines[entry].split(None, 1)[1] == "Colour gradients, one per id."
    assert lines[entry + 1].split() == ["keys:", "count=6,", "bad=g1;", "--data-root:", "not", "read"]
    assert lines[entry + 2].split() == ["from:", "plugin", "ibench-demo-data", "0.4.0"]
    broken = next(line for line in lines if line.startswith("lost-shards "))
    assert "BROKEN" in broken and f"cannot import module '{plugin_dist}_missing'" in broken
    taken = next(line for line in lines if line.startswith("folder ") and "BROKEN" in line)
    assert "the name is taken by the built-in dataset" in taken
    assert any(line.startswith("Also: @package.module:attr") for line in lines)
    assert set(broken_plugins()) == {"lost-shards", "folder"}

    source = get_source("gradients:count=3", size=16)
    assert source.ids() == ["g0", "g1", "g2"] and source.describe()["dataset"] == "gradients:count=3"
    assert np.abs(source.load("g2") - gradient(2, 16)).max() < 1e-6
    with pytest.raises(ValueError, match=f"dataset 'lost-shards' \\(plugin {plugin_dist}_missing:Shards of "):
        get_source("lost-shards")
    # The built-in folder source is still the built-in one.
    assert next(i for i in available() if i.name == "folder").origin == "built-in"
