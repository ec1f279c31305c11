"""Device names checked against the machine, the numerics pinned on CUDA, and what is recorded.

These run on any machine: the CUDA branches are reached by standing in for ``torch.cuda``'s
answers (how many devices, which is current), never by assuming a GPU.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from bench.core import device as dev

FLAGS = (
    (torch.backends.cuda.matmul, "allow_tf32"),
    (torch.backends.cudnn, "allow_tf32"),
    (torch.backends.cudnn, "benchmark"),
    (torch.backends.cudnn, "deterministic"),
)


@pytest.fixture
def flags():
    """The process-wide numerics flags, restored after the test."""
    before = [getattr(obj, name) for obj, name in FLAGS]
    yield
    for (obj, name), value in zip(FLAGS, before):
        setattr(obj, name, value)


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: f"Test GPU {torch.device(d).index}")


def test_importing_the_module_imports_no_torch():
    code = (
        "import sys, bench.core, bench.core.device as d; d.configure_numerics('cpu'); "
        "assert d.is_cuda('cuda:1') and not d.is_cuda('cpu'); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cpu_and_auto_without_cuda(no_cuda):
    assert dev.resolve_device("cpu") == "cpu"
    assert dev.resolve_device(" CPU ") == "cpu"
    assert dev.resolve_device("auto") == "cpu"


def test_this_machine_resolves_auto_to_what_torch_sees():
    expected = f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
    assert dev.resolve_device("auto") == expected


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_without_a_device_is_refused_in_one_line(no_cuda, name):
    with pytest.raises(ValueError) as err:
        dev.resolve_device(name)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(
        f"--device {name}: torch {torch.__version__} has no CUDA device here (torch.cuda.is_available() is False"
    )
    assert text.endswith("use --device cpu or auto")


def test_the_caller_names_its_option(no_cuda):
    with pytest.raises(ValueError, match=r"^iizuka: device=cuda: torch .* has no CUDA device here"):
        dev.resolve_device("cuda", what="iizuka: device=cuda")


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:x", "cuda:-1", "mps", "", "cpu:0", "cuda0"])
def test_unknown_names_are_refused_with_the_accepted_ones(name):
    with pytest.raises(ValueError) as err:
        dev.resolve_device(name)
    text = str(err.value)
    assert "\n" not in text and repr(name) in text
    assert "cpu, cuda, cuda:N, auto" in text


def test_a_non_string_is_refused():
    with pytest.raises(ValueError, match="not a string"):
        dev.resolve_device(0)  # type: ignore[arg-type]


def test_cuda_names_get_an_index_and_a_missing_index_is_refused(two_gpus):
    assert dev.resolve_device("cuda") == "cuda:0"
    assert dev.resolve_device("auto") == "cuda:0"
    assert dev.resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match=r"^--device cuda:2: this machine has 2 CUDA devices \(cuda:0 to cuda:1\)"):
        dev.resolve_device("cuda:2")


def test_numerics_on_the_cpu_change_nothing(flags):
    # Set every flag against what configure_numerics would choose, so a change would show.
    for obj, name in FLAGS:
        setattr(obj, name, name != "deterministic")
    before = [getattr(obj, name) for obj, name in FLAGS]
    dev.configure_numerics("cpu")
    assert [getattr(obj, name) for obj, name in FLAGS] == before


def test_numerics_on_cuda_switch_tf32_off_and_pin_cudnn(flags):
    for obj, name in FLAGS:
        setattr(obj, name, name != "deterministic")
    dev.configure_numerics("cuda:0")
    assert torch.backends.cuda.matmul.allow_tf32 is False
    assert torch.backends.cudnn.allow_tf32 is False
    assert torch.backends.cudnn.benchmark is False
    assert torch.backends.cudnn.deterministic is True


def test_record_on_the_cpu_has_the_versions_and_no_gpu_flags():
    record = dev.device_record("cpu")
    assert record["device"] == "cpu"
    assert record["torch"] == torch.__version__
    assert record["torch_cuda"] == torch.version.cuda
    expected_cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    assert record["cudnn"] == expected_cudnn
    assert not {"gpu", "tf32_matmul", "tf32_cudnn"} & set(record)
    assert json.loads(json.dumps(record)) == record


def test_record_on_cuda_names_the_gpu_and_the_flags_as_set(two_gpus, flags):
    dev.configure_numerics("cuda:1")
    record = dev.device_record("cuda:1")
    assert record["gpu"] == "Test GPU 1"
    assert record["tf32_matmul"] is False and record["tf32_cudnn"] is False
    assert record["cudnn_deterministic"] is True and record["cudnn_benchmark"] is False
    torch.backends.cudnn.allow_tf32 = True  # the record reads the flags, it does not assume them
    assert dev.device_record("cuda:1")["tf32_cudnn"] is True
    assert json.loads(json.dumps(record)) == record
