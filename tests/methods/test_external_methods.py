"""Your own method by name: the ``@module:attr`` grammar, what it may name, the image id, and clear errors."""

from __future__ import annotations

import json
import subprocess
import textwrap
import uuid

import numpy as np
import pytest
from click.testing import CliRunner

import methods
from bench.cli import cli
from bench.experiments.runner import RunConfig, run
from bench.outputs.rundir import RunDir
from methods.external import MethodLoadError, parse_object_spec

PIXEL = ["mse", "psnr", "ssim"]


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Write Python source as a fresh importable module and return its (unique) name."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(source: str) -> str:
        name = f"usermod_{uuid.uuid4().hex[:10]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        return name

    return make


FILL = """
    import numpy as np

    def fill(image, mask, level=0.5):
        out = image.copy()
        out[mask] = level
        return out
"""


def test_the_grammar_and_the_canonical_spec(user_module):
    parsed = parse_object_spec("@a.b_c:Name.make:k=1,j=x:y")
    assert (parsed.module, parsed.attr, parsed.options, parsed.reference) == (
        "a.b_c",
        "Name.make",
        "k=1,j=x:y",
        "a.b_c:Name.make",
    )
    for bad in ("@", "@mod", "@mod:", "@1mod:f", "@mod:f,level=1", "@mod-x:f", "@:f"):
        with pytest.raises(MethodLoadError, match="expected @package.module:Name"):
            methods.create(bad)
    mod = user_module(FILL)
    made = methods.create(f"@{mod}:fill:level=0.25")
    assert made.spec == f"@{mod}:fill:level=0.25"
    # Keys sorted, as for registry specs; no options, no trailing colon.
    assert methods.create(f"@{mod}:fill").spec == f"@{mod}:fill"


def test_registry_names_cannot_be_mistaken_for_object_specs():
    for bad in ("@mine", ":x", "a b", ""):
        with pytest.raises(ValueError, match="method name"):
            methods.register(bad, family="test")


def test_a_plain_function_is_scored_against_a_hand_computation(tmp_path, user_module):
    mod = user_module(FILL)
    res = run(RunConfig(methods=[f"@{mod}:fill:level=0.25"], out=tmp_path / "run", n=3, metrics=PIXEL, progress=False))
    assert res.errors == 0 and res.rows == 3
    rundir = RunDir(tmp_path / "run")
    spec = f"@{mod}:fill:level=0.25"
    level = np.rint(0.25 * 255) / 255  # saved, and scored, as 8 bits
    for row in rundir.read_records():
        truth = rundir.load_image(row["image_id"])
        mask = rundir.load_mask(row["image_id"])
        hole_mse = float(np.mean((level - truth[mask].astype(np.float64)) ** 2))
        assert row["hole_mse"] == pytest.approx(hole_mse, rel=1e-6)
        assert row["mse"] == pytest.approx(hole_mse * mask.mean(), rel=1e-6)
        assert row["raw_known_max_abs"] == 0.0 and row["raw_known_mean_abs"] == 0.0
        np.testing.assert_array_equal(rundir.load_output(spec, row["image_id"])[mask], np.float32(level))


def test_a_class_a_factory_and_a_duck_typed_object_are_methods(tmp_path, user_module):
    mod = user_module("""
        import numpy as np
        from methods import Method

        class Grey(Method):
            '''A Method subclass with an option.'''
            def __init__(self, level=0.5):
                self.level = level
            def inpaint(self, image, mask):
                out = image.copy()
                out[mask] = self.level
                return out

        def make_grey(level=0.5):
            def fill(image, mask):
                out = image.copy()
                out[mask] = level
                return out
            return fill

        class Duck:
            '''No base class: just inpaint(image, mask).'''
            batch_size = 2
            def __init__(self, level=0.5):
                self.level = level
            def inpaint(self, image, mask):
                out = image.copy()
                out[mask] = self.level
                return out
            def inpaint_batch(self, images, masks):
                return [self.inpaint(i, m) for i, m in zip(images, masks)]
    """)
    specs = [f"@{mod}:Grey:level=0.3", f"@{mod}:make_grey:level=0.3", f"@{mod}:Duck:level=0.3"]
    built = [methods.create(s) for s in specs]
    assert isinstance(built[0], methods.Method) and built[0].level == 0.3
    assert built[2].batch_size == 2
    run(RunConfig(methods=specs + ["mean"], out=tmp_path / "run", n=3, metrics=PIXEL, progress=False))
    rows = RunDir(tmp_path / "run").read_records()
    by = {s: sorted((r["image_id"], r["hole_mse"]) for r in rows if r["method"] == s) for s in specs}
    assert by[specs[0]] == by[specs[1]] == by[specs[2]] and len(by[specs[0]]) == 3
    assert all(r["status"] == "ok" for r in rows)


def test_the_image_id_reaches_exactly_the_methods_that_ask(tmp_path, user_module):
    log = tmp_path / "ids.jsonl"
    mod = user_module(f"""
        import json
        from methods import Method

        def by_function(image, mask, image_id):
            with open({str(log)!r}, "a") as fh:
                fh.write(json.dumps(["function", image_id]) + "\\n")
            return image

        class Batched(Method):
            batch_size = 2
            needs_image_id = True
            def inpaint_batch(self, images, masks, image_ids=None):
                with open({str(log)!r}, "a") as fh:
                    fh.write(json.dumps(["batch", image_ids]) + "\\n")
                return images

        class Plain(Method):
            def inpaint(self, image, mask):  # never told an id: the two-argument call
                return image
    """)
    res = run(
        RunConfig(
            methods=[f"@{mod}:by_function", f"@{mod}:Batched", f"@{mod}:Plain"],
            out=tmp_path / "run",
            n=3,
            metrics=PIXEL,
            progress=False,
        )
    )
    assert res.errors == 0
    ids = [json.loads(line) for line in log.read_text().splitlines()]
    order = [s["image_id"] for s in RunDir(tmp_path / "run").read_records()][:3]
    assert ids == [["function", i] for i in order] + [["batch", order[:2]], ["batch", order[2:]]]


def test_user_code_errors_name_the_spec_and_the_cause(user_module):
    mod = user_module("""
        def broken(level=0.5):
            raise RuntimeError("weights not found")

        def not_a_method():
            return 42

        CONSTANT = 3
    """)
    with pytest.raises(MethodLoadError, match=r"cannot import module 'no_such_module_xyz' \(ModuleNotFoundError"):
        methods.create("@no_such_module_xyz:f")
    with pytest.raises(MethodLoadError, match=f"module '{mod}' has no attribute 'nothing'"):
        methods.create(f"@{mod}:nothing")
    with pytest.raises(MethodLoadError, match="building the method raised RuntimeError: weights not found"):
        methods.create(f"@{mod}:broken")
    with pytest.raises(MethodLoadError, match="returned int, not a method"):
        methods.create(f"@{mod}:not_a_method")
    with pytest.raises(MethodLoadError, match="int object is not callable"):
        methods.create(f"@{mod}:CONSTANT")
    with pytest.raises(ValueError, match="has no option 'levle'"):
        methods.create(f"@{mod}:broken:levle=1")
    with pytest.raises(ValueError, match="level='high' is not a valid float"):
        methods.create(f"@{mod}:broken:level=high")


def test_a_module_that_fails_on_import_is_quoted(user_module):
    mod = user_module("raise ImportError('needs torch-xla')\n")
    with pytest.raises(MethodLoadError, match=f"cannot import module '{mod}' \\(ImportError: needs torch-xla\\)"):
        methods.create(f"@{mod}:f")


def test_bad_outputs_are_one_error_row_each_and_the_run_goes_on(tmp_path, user_module):
    mod = user_module("""
        import numpy as np

        ORDER = ["astronaut-000", "coffee-000", "chelsea-000", "rocket-000", "grace_hopper-000"]

        def flaky(image, mask, image_id):
            k = ORDER.index(image_id) if image_id in ORDER else -1
            if k == 0:
                return image[:-1]                       # wrong shape
            if k == 1:
                return image.astype(np.float64)         # wrong dtype
            if k == 2:
                return image * 2 + 0.5                  # outside [0, 1]
            if k == 3:
                out = image.copy(); out[0, 0, 0] = np.nan
                return out
            if k == 4:
                raise RuntimeError("out of memory")
            return image
    """)
    spec = f"@{mod}:flaky"
    res = run(RunConfig(methods=[spec], out=tmp_path / "run", n=7, metrics=PIXEL, progress=False))
    rows = {r["image_id"]: r for r in RunDir(tmp_path / "run").read_records()}
    assert (res.rows, res.errors) == (7, 5)
    assert "shape (159, 160, 3) != input (160, 160, 3)" in rows["astronaut-000"]["error"]
    assert "expected float32, got float64" in rows["coffee-000"]["error"]
    assert "values must lie in [0, 1]" in rows["chelsea-000"]["error"]
    assert "NaN" in rows["rocket-000"]["error"]
    assert rows["grace_hopper-000"]["error"] == "RuntimeError: out of memory"
    for image_id in ("astronaut-000", "coffee-000", "chelsea-000", "rocket-000"):
        assert f"{spec} output for {image_id}" in rows[image_id]["error"]
    assert [rows[i]["status"] for i in ("china-000", "flower-000")] == ["ok", "ok"]


def test_cli_errors_are_one_line_and_leave_no_run_directory(tmp_path, user_module):
    mod = user_module("def broken():\n    raise KeyError('model')\n")
    for spec, text in (
        (f"@{mod}:broken", "building the method raised KeyError"),
        ("@no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
        ("@bad", "expected @package.module:Name"),
    ):
        out = tmp_path / "run"
        res = CliRunner().invoke(cli, ["run", "--methods", spec, "--n", "2", "--out", str(out), "--no-progress"])
        assert res.exit_code == 1, res.output
        assert text in res.output and "Traceback" not in res.output
        assert len([line for line in res.output.splitlines() if line.startswith("Error")]) == 1
        assert not out.exists()


@pytest.mark.slow
def test_a_module_beside_the_command_works_with_jobs_2(tmp_path):
    # The README's first example, as a user types it: a file in the working directory, the console script.
    (tmp_path / "mymodel.py").write_text(textwrap.dedent(FILL))
    cmd = [
        "bench",
        "run",
        "--methods",
        "@mymodel:fill,@mymodel:fill:level=0.3",
        "--n",
        "4",
        "--jobs",
        "2",
        "--metrics",
        "mse,psnr",
        "--out",
        "run",
        "--no-progress",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rows = RunDir(tmp_path / "run").read_records()
    assert {r["method"] for r in rows} == {"@mymodel:fill", "@mymodel:fill:level=0.3"}
    assert len(rows) == 8 and all(r["status"] == "ok" for r in rows)
