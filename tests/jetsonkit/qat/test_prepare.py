"""prepare: the same sites as the Q/DQ stage, the same arithmetic, BatchNorm, the plan, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from jetsonkit import qat  # noqa: E402
from jetsonkit.errors import IncompatibleArtifactError, InputError  # noqa: E402
from jetsonkit.evaluate import agreement, top1  # noqa: E402
from jetsonkit.quantize.plan import PrecisionPlan, Rule  # noqa: E402
from jetsonkit.qat.train import evaluate_top1  # noqa: E402

from .conftest import ptq_path, short_train, structure  # noqa: E402

EXAMPLE = (1, 1, 28, 28)


def test_untrained_fake_quant_equals_post_training_int8(sensitive_ptq, sensitive_model, mnist_test):
    """Same sites, same scales, same rounding: before any training torch and ORT's PTQ model agree."""
    _, table, ptq = sensitive_ptq
    model = qat.prepare(sensitive_model, table, torch.zeros(EXAMPLE))
    s = qat.summary(model)
    assert s.activation_sites == ["input", "/Relu_output_0", "/Flatten_output_0", "/Relu_2_output_0"]
    assert s.weight_sites == {"conv1.weight": "conv1", "conv2.weight": "conv2", "fc1.weight": "fc1",
                              "fc2.weight": "fc2"}
    assert not s.unknown_layers and not s.not_simulated
    x, y = mnist_test
    fp32, torch_int8, ort_int8 = top1(sensitive_ptq[0], x, y), evaluate_top1(model, x, y), top1(ptq, x, y)
    assert fp32 - ort_int8 > 0.01  # the model really breaks under full INT8
    assert abs(torch_int8 - ort_int8) <= 0.0005


def test_plan_layers_get_no_fake_quant(sensitive_ptq, sensitive_model, tmp_path, mnist_train_1k):
    fp32, table, _ = sensitive_ptq
    plan = PrecisionPlan([Rule("fp32", match="/fc2/Gemm")])
    model = qat.prepare(sensitive_model, table, torch.zeros(EXAMPLE), plan)
    s = qat.summary(model)
    assert s.kept_float == {"/fc2/Gemm": "fp32"} and "/Relu_2_output_0" not in s.activation_sites
    assert not hasattr(model.fc2, "parametrizations") and hasattr(model.fc1, "parametrizations")
    assert not s.unknown_layers
    from jetsonkit.quantize.qdq import quantize_qdq

    quantize_qdq(fp32, table, tmp_path / "plan.qdq.onnx", plan=plan)
    qat.export(model, torch.zeros(EXAMPLE), tmp_path / "plan.qat.onnx")
    assert structure(tmp_path / "plan.qat.onnx") == structure(tmp_path / "plan.qdq.onnx")


def test_table_for_another_model_is_refused(sensitive_model, mnist_onnx, mnist_train_1k):
    from jetsonkit.calibrate import calibrate

    mnist_table = calibrate(mnist_onnx, mnist_train_1k[0][:200], "minmax")
    with pytest.raises(IncompatibleArtifactError, match=r"no range for 2 of this model's Q/DQ tensors: "
                                                        r"/Relu_output_0.*another model"):
        qat.prepare(sensitive_model, mnist_table, torch.zeros(EXAMPLE))
    assert not hasattr(sensitive_model, "jetsonkit_qat")  # nothing half-done
    bn_model = _bn_residual_net()
    before = {k: v.clone() for k, v in bn_model.state_dict().items()}
    with pytest.raises(IncompatibleArtifactError):
        qat.prepare(bn_model, mnist_table, torch.zeros(EXAMPLE))  # BatchNorm folding happens on a copy first
    assert isinstance(bn_model.bn1, torch.nn.BatchNorm2d)
    assert all(torch.equal(v, before[k]) for k, v in bn_model.state_dict().items())


def test_prepare_twice_and_non_modules_are_refused(sensitive_ptq, sensitive_model):
    table = sensitive_ptq[1]
    model = qat.prepare(sensitive_model, table, torch.zeros(EXAMPLE))
    with pytest.raises(InputError, match="already prepared"):
        qat.prepare(model, table, torch.zeros(EXAMPLE))
    with pytest.raises(InputError, match="needs a torch.nn.Module"):
        qat.prepare(lambda x: x, table, torch.zeros(EXAMPLE))


def _bn_residual_net():
    nn = torch.nn

    class BnResidual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8)
            self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
            self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(8, 10)

        def forward(self, x):
            x = torch.relu(self.bn1(self.conv1(x)))
            x = torch.relu(x + self.bn2(self.conv2(x)))
            return self.fc(torch.flatten(self.pool(x), 1))

    torch.manual_seed(0)
    net = BnResidual()
    with torch.no_grad():
        for bn in (net.bn1, net.bn2):
            bn.running_mean.uniform_(-0.3, 0.3)
            bn.running_var.uniform_(0.3, 2.0)
            bn.weight.uniform_(-1.5, 1.5)  # negative gammas too: the sign must survive folding
            bn.bias.uniform_(-0.2, 0.2)
    return net.eval()


@pytest.mark.parametrize("mode", ["fold", "freeze"])
def test_batchnorm_fold_or_freeze_exports_the_ptq_structure(mode, tmp_path, mnist_train_1k, capsys):
    x = mnist_train_1k[0][:600]
    _, table, ptq = ptq_path(_bn_residual_net(), torch.zeros(EXAMPLE), x, tmp_path, "bn")
    model = qat.prepare(_bn_residual_net(), table, torch.zeros(EXAMPLE), batchnorm=mode)
    s = qat.summary(model)
    assert s.batchnorm == ({"folded": ["bn1", "bn2"], "frozen": []} if mode == "fold"
                           else {"folded": [], "frozen": ["bn1", "bn2"]})
    # the residual Add's input is plain Python: reported, and warned about
    residual = [t for t in s.not_simulated]
    assert len(residual) == 1 and s.not_simulated[residual[0]] == ["/Add"]
    assert "functional ops QAT cannot hook" in capsys.readouterr().err
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    short_train(model, x, np.zeros(len(x), np.int64), steps=2)
    for k, v in before.items():  # frozen statistics did not move in model.train()
        assert torch.equal(model.state_dict()[k], v)
    out = tmp_path / f"bn.{mode}.qat.onnx"
    qat.export(model, torch.zeros(EXAMPLE), out)
    got, want = structure(out), structure(ptq)
    for a, b in zip(got[0], want[0]):
        assert a == b
    assert got == want
    with torch.no_grad():
        ref = model(torch.from_numpy(x[:200])).numpy()
    agree = agreement(out, lambda b: ref, x[:200])
    assert agree.cosine > 0.995 and agree.top1_agreement > 0.95


def test_unknown_layers_are_listed_left_in_float_and_warned(tmp_path, capsys):
    nn = torch.nn

    class SeqNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj, self.rnn, self.head = nn.Linear(6, 16), nn.GRU(16, 16, batch_first=True), nn.Linear(16, 4)

        def forward(self, x):
            h, _ = self.rnn(torch.relu(self.proj(x)))  # proj on a 3-D input: MatMul with a transposed weight
            return self.head(h[:, -1])

    torch.manual_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 5, 6)).astype(np.float32)
    model = qat.prepare(SeqNet().eval(), x, torch.from_numpy(x[:1]), method="minmax")
    s = qat.summary(model)
    assert s.unknown_layers == {"rnn": "GRU"}
    assert set(s.weight_sites.values()) == {"proj", "head"}  # proj found through its scope name
    assert "left in float: rnn (GRU)" in capsys.readouterr().err
    result = qat.export(model, torch.from_numpy(x[:1]), tmp_path / "seq.qat.onnx")
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    # ONNX Runtime's default graph optimizations rewrite DQ -> MatMul on a 3-D input into a fused kernel that
    # rounds differently (measured: up to 0.04 here); the graph itself, run as written, equals torch.
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(result.path), opts, providers=["CPUExecutionProvider"])
    assert np.abs(sess.run(None, {"input": x})[0] - ref).max() < 1e-5


@pytest.mark.parametrize("mode", ["fold", "freeze"])
def test_batchnorm_with_learned_scales_exports_what_torch_computes(mode, tmp_path, mnist_train_1k):
    """Frozen BN: the exporter folds a = gamma/sqrt(var+eps) into the conv; the exported scale must be s*|a| and the
    codes sign(a)*q for the trained s (negative gammas included): ORT then equals torch."""
    import onnxruntime as ort

    nn = torch.nn
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 16, 3, stride=2), nn.BatchNorm2d(16), nn.ReLU(), nn.Flatten(),
                        nn.Linear(16 * 36, 10))
    with torch.no_grad():
        for bn in (net[1], net[4]):
            bn.running_mean.uniform_(-0.3, 0.3)
            bn.running_var.uniform_(0.3, 2.0)
            bn.weight.uniform_(-1.5, 1.5)
    x, y = mnist_train_1k[0][:512], mnist_train_1k[1][:512]
    model = qat.prepare(net.eval(), x, torch.zeros(EXAMPLE), learn_scales=True, batchnorm=mode, method="minmax")
    assert qat.summary(model).batchnorm[{"fold": "folded", "freeze": "frozen"}[mode]] == ["1", "4"]
    assert len(model) == 8  # an nn.Sequential keeps its layers: the QAT state is not a child module
    short_train(model, x, y, steps=5, lr=1e-3, scale_lr=5e-2)
    out = qat.export(model, torch.zeros(EXAMPLE), tmp_path / "bn.onnx").path
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    got = ort.InferenceSession(str(out), opts, providers=["CPUExecutionProvider"]).run(None, {"input": x[:256]})[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(x[:256])).numpy()
    # float32 rounding of the folded weight may flip a rare code at an exact tie; the outputs still agree closely
    assert np.abs(got - ref).max() < 1e-2 * np.abs(ref).max()
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.99


def _module_relu_residual(reuse: bool):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem, self.relu0 = nn.Conv2d(1, 8, 3, padding=1), nn.ReLU()
            self.conv1, self.relu1 = nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()
            self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
            self.relu2 = self.relu0 if reuse else nn.ReLU()
            self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(8, 10)

        def forward(self, x):
            x = self.relu0(self.stem(x))
            x = self.relu2(x + self.conv2(self.relu1(self.conv1(x))))  # residual: x feeds conv1 and the Add
            return self.fc(torch.flatten(self.pool(x), 1))

    torch.manual_seed(0)
    return Block().eval()


@pytest.mark.parametrize("reuse", [False, True])
def test_residual_input_produced_by_a_module_is_simulated_exactly(reuse, tmp_path, mnist_train_1k):
    import onnxruntime as ort

    x = mnist_train_1k[0][:256]
    model = qat.prepare(_module_relu_residual(reuse), x, torch.zeros(EXAMPLE), method="minmax")
    s = qat.summary(model)
    if reuse:  # relu0 / relu2 is one module run twice: its output cannot be hooked per call
        assert len(s.not_simulated) == 1 and list(s.not_simulated.values())[0] == ["/Add"]
        return
    assert not s.not_simulated and hasattr(model.relu0, "jetsonkit_output_quantizer")
    out = qat.export(model, torch.zeros(EXAMPLE), tmp_path / "res.onnx").path
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    got = ort.InferenceSession(str(out), opts, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.abs(got - ref).max() < 1e-5


def test_prepare_calibrates_with_the_registry_default_method():
    """Library, CLI and recipe agree on the calibration method when QAT is given data instead of a table."""
    import inspect

    from calibrators.methods import DEFAULT_METHOD
    from jetsonkit.qat.instrument import prepare
    from jetsonkit.qat.stage import QatSettings

    assert inspect.signature(prepare).parameters["method"].default == DEFAULT_METHOD == QatSettings().method
