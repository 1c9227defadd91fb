"""export_onnx on real models: checker, parity <= 1e-4, dynamic batch 1/3/8 in ONNX Runtime, names, atomicity."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from jetsonkit.errors import CheckFailed, InputError, InputSpecError, UnsupportedError  # noqa: E402
from support import testnets  # noqa: E402
from jetsonkit.export import export_onnx  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory, mnist_model):
    """MNIST CNN, conv+residual+linear and attention nets, each exported once with a dynamic batch."""
    folder = tmp_path_factory.mktemp("export")
    models = {"mnist": (mnist_model, torch.zeros(1, 1, 28, 28))}
    for name in ("conv_residual_net", "attention_net"):
        models[name] = testnets.build(name)
    results = {}
    for name, (model, x) in models.items():
        results[name] = (model, export_onnx(model, x, folder / f"{name}.onnx", input_names=["input"],
                                            output_names=["logits"], dynamic=True, random_trials=1))
    return results


NETS = ["mnist", "conv_residual_net", "attention_net"]


@pytest.mark.parametrize("name", NETS)
def test_export_passes_checker_and_parity(exported, name):
    _, result = exported[name]
    onnx.checker.check_model(str(result.path), full_check=True)
    assert result.exporter == "legacy"
    assert result.opset == 17 and onnx.load(str(result.path)).opset_import[0].version == 17
    assert result.parity.ok
    assert result.parity.max_abs <= 1e-4
    assert result.parity.min_cosine > 0.999999
    assert [r.inputs for r in result.parity.rows] == ["example", "random#1 (batch 3)"]


@pytest.mark.parametrize("name", NETS)
def test_dynamic_batch_1_3_8_in_onnxruntime(exported, name):
    model, result = exported[name]
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    assert result.inputs[0]["shape"][0] == "batch" and result.outputs[0]["shape"][0] == "batch"
    per_sample = tuple(result.inputs[0]["shape"][1:])
    rng = np.random.default_rng(1)
    for batch in (1, 3, 8):
        x = rng.standard_normal((batch, *per_sample)).astype(np.float32)
        got = session.run(None, {"input": x})[0]
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        assert got.shape == ref.shape == (batch, ref.shape[1])
        assert np.abs(got - ref).max() <= 1e-4


def test_node_names_are_module_paths_unique_and_stable(exported, tmp_path, mnist_model):
    names = [n.name for n in onnx.load(str(exported["mnist"][1].path)).graph.node]
    assert "/features/features.0/Conv" in names and "/classifier/classifier.2/Gemm" in names
    assert len(set(names)) == len(names) and all(names)
    again = export_onnx(mnist_model, torch.zeros(1, 1, 28, 28), tmp_path / "again.onnx", input_names=["input"],
                        output_names=["logits"], dynamic=True, parity=False)
    assert [n.name for n in onnx.load(str(again.path)).graph.node] == names


def test_constant_folding_removes_batchnorm_and_constants(exported):
    graph = onnx.load(str(exported["conv_residual_net"][1].path)).graph
    ops = {n.op_type for n in graph.node}
    assert "BatchNormalization" not in ops and "Constant" not in ops and "Identity" not in ops
    assert all(dim.dim_value or dim.dim_param for vi in graph.value_info for dim in vi.type.tensor_type.shape.dim)
    assert len(graph.value_info) > 0  # shape inference results are stored in the file


def test_external_data_written_beside_the_model(tmp_path):
    model, x = testnets.build("conv_residual_net")
    result = export_onnx(model, x, tmp_path / "big.onnx", external_data=True, random_trials=0)
    data = tmp_path / "big.onnx.data"
    assert result.external_data == data and data.stat().st_size > 50_000
    assert (tmp_path / "big.onnx").stat().st_size < 20_000  # the weights are not inside the protobuf
    assert result.parity.ok  # ONNX Runtime read the external data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.onnx", "big.onnx.data"]


class _BatchDependent(torch.nn.Module):
    """Python control flow on the batch size: tracing freezes the batch-1 branch, so batch 3 differs."""

    def forward(self, x):
        return x * 2 if x.shape[0] == 1 else x * 3


def test_parity_failure_raises_checkfailed_and_writes_nothing(tmp_path):
    target = tmp_path / "bad.onnx"
    with pytest.raises(CheckFailed) as info:
        export_onnx(_BatchDependent(), torch.ones(1, 4), target, dynamic=True, exporter="legacy")
    assert info.value.exit_code == 1
    assert "parity failed for bad.onnx" in str(info.value) and "\n" not in str(info.value)
    table = info.value.details
    assert "example" in table and "random#1 (batch 3)" in table and " NO" in table
    assert list(tmp_path.iterdir()) == []  # no file under the target name, no temp left behind


def test_example_inputs_that_do_not_fit_are_named(tmp_path, mnist_model):
    with pytest.raises(InputSpecError, match=r"inputs images \(1, 1, 32, 32\) float32.*Input size mismatch"):
        export_onnx(mnist_model, torch.zeros(1, 1, 32, 32), tmp_path / "m.onnx", input_names=["images"])
    with pytest.raises(InputSpecError, match=r"input \(1, 3, 28, 28\).*expected input\[1, 3, 28, 28\] to have 1 "):
        export_onnx(mnist_model, torch.zeros(1, 3, 28, 28), tmp_path / "m.onnx")
    with pytest.raises(InputSpecError, match=r"2 input names \(a, b\) for 1 example inputs"):
        export_onnx(mnist_model, torch.zeros(1, 1, 28, 28), tmp_path / "m.onnx", input_names=["a", "b"])
    assert list(tmp_path.iterdir()) == []


def test_output_folder_must_exist(tmp_path, mnist_model):
    with pytest.raises(InputError, match="does not exist.*mkdir -p"):
        export_onnx(mnist_model, torch.zeros(1, 1, 28, 28), tmp_path / "missing" / "m.onnx")


class _Erfinv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(4, 4)
        self.head = torch.nn.Sequential(torch.nn.Tanh(), _ErfinvLayer())

    def forward(self, x):
        return self.head(self.proj(x))


class _ErfinvLayer(torch.nn.Module):
    def forward(self, x):
        return torch.erfinv(x * 0.5)


def test_unsupported_op_names_op_and_module_path(tmp_path):
    with pytest.raises(UnsupportedError) as info:
        export_onnx(_Erfinv().eval(), torch.randn(2, 4), tmp_path / "e.onnx", exporter="legacy")
    message = str(info.value)
    assert "operator 'erfinv'" in message and "in module 'head.1'" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []


class _LogAddExp(torch.nn.Module):
    def forward(self, x):
        return torch.logaddexp(x, 2 * x)


def test_auto_falls_back_to_dynamo_and_says_so(tmp_path):
    result = export_onnx(_LogAddExp(), torch.randn(2, 4), tmp_path / "l.onnx", random_trials=1)
    assert result.exporter == "dynamo"
    assert any("legacy exporter failed" in n and "falling back to dynamo" in n for n in result.notes)
    assert result.parity.ok and result.opset == 17


def test_training_mode_model_is_exported_in_eval_mode(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(8)).train()
    result = export_onnx(model, torch.randn(4, 8), tmp_path / "t.onnx", random_trials=1)
    assert not model.training and result.parity.ok
    ops = {n.op_type for n in onnx.load(str(result.path)).graph.node}
    assert "Dropout" not in ops  # exported in eval mode (BatchNorm1d after Linear stays a node: not folded)


def test_exporter_choice_is_validated(tmp_path, mnist_model):
    with pytest.raises(UnsupportedError, match="unknown exporter 'onnxmagic'"):
        export_onnx(mnist_model, torch.zeros(1, 1, 28, 28), tmp_path / "m.onnx", exporter="onnxmagic")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_dynamo_exporter_gets_module_path_names(tmp_path):
    model, x = testnets.build("conv_residual_net")
    result = export_onnx(model, x, tmp_path / "d.onnx", input_names=["input"], dynamic=True, exporter="dynamo",
                         random_trials=1)
    assert result.exporter == "dynamo" and result.parity.ok and result.parity.max_abs <= 1e-4
    names = [n.name for n in onnx.load(str(result.path)).graph.node]
    assert len(set(names)) == len(names) and all(n.startswith("/") for n in names)
    assert any(n.startswith("/block1/conv1/conv1.") and n.endswith("/Conv") for n in names), names
    assert "/head/Gemm" in names


def test_external_data_is_automatic_above_the_limit(tmp_path, monkeypatch):
    import jetsonkit.export as export_module

    monkeypatch.setattr(export_module, "EXTERNAL_DATA_BYTES", 10_000)  # the real limit is 2 GB: too big for a test
    model, x = testnets.build("conv_residual_net")
    result = export_onnx(model, x, tmp_path / "auto.onnx", random_trials=0)
    assert result.external_data == tmp_path / "auto.onnx.data" and result.parity.ok
