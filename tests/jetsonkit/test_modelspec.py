"""Loading models from specs: factories, user files, weights (weights_only), TorchScript, torch.export."""

from __future__ import annotations

import textwrap

import pytest

torch = pytest.importorskip("torch")

from jetsonkit.errors import ModelLoadError  # noqa: E402
from support import testnets  # noqa: E402
from jetsonkit.modelspec import load_model  # noqa: E402

USER_FILE = textwrap.dedent("""
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x)

    def build():
        return Tiny()

    def broken():
        raise RuntimeError("no GPU in the factory")

    NOT_CALLABLE = 3
""")


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "my_models.py"
    path.write_text(USER_FILE)
    return path


def test_package_factory_loads_in_eval_mode():
    model = load_model("support.testnets:conv_residual_net")
    assert isinstance(model, torch.nn.Module) and not model.training


def test_user_file_factory_and_class(user_file):
    assert isinstance(load_model(f"{user_file}:build"), torch.nn.Module)
    assert type(load_model(f"{user_file}:Tiny")).__name__ == "Tiny"


@pytest.mark.parametrize("spec, fragment", [
    ("support.testnets", "has no factory"),
    ("support.testnets:nope", "has no attribute 'nope'"),
    ("no_such_package_xyz.models:build", "'no_such_package_xyz.models' cannot be found"),
    ("missing/dir/models.py:build", "'missing/dir/models.py' does not exist"),
    ("missing.pt", "'missing.pt' does not exist"),
])
def test_bad_specs(spec, fragment):
    with pytest.raises(ModelLoadError) as info:
        load_model(spec)
    assert fragment in str(info.value) and "\n" not in str(info.value) and info.value.exit_code == 2


def test_factory_errors_are_named(user_file):
    with pytest.raises(ModelLoadError, match=r"raised RuntimeError: no GPU in the factory"):
        load_model(f"{user_file}:broken")
    with pytest.raises(ModelLoadError, match=r"'NOT_CALLABLE' is a int, not a callable"):
        load_model(f"{user_file}:NOT_CALLABLE")
    with pytest.raises(ModelLoadError, match=r"has no attribute 'nope' \(callables there: Tiny, broken, build"):
        load_model(f"{user_file}:nope")


def test_weights_round_trip(tmp_path):
    source = testnets.conv_residual_net(seed=1)
    path = tmp_path / "w.pth"
    torch.save(source.state_dict(), path)
    model = load_model("support.testnets:conv_residual_net", str(path))
    assert torch.equal(model.head.weight, source.head.weight)
    torch.save({"state_dict": source.state_dict(), "epoch": 3}, path)  # a training checkpoint
    assert torch.equal(load_model("support.testnets:conv_residual_net", str(path)).head.bias,
                       source.head.bias)


def test_mismatched_weights_name_the_first_keys(tmp_path):
    state = testnets.conv_residual_net().state_dict()
    state["extra.weight"] = state.pop("head.weight")
    state["head.bias"] = torch.zeros(7)
    path = tmp_path / "w.pth"
    torch.save(state, path)
    with pytest.raises(ModelLoadError) as info:
        load_model("support.testnets:conv_residual_net", str(path))
    message = str(info.value)
    assert "missing keys: head.weight" in message and "unexpected keys: extra.weight" in message
    assert "shape mismatch: head.bias (7,) vs model (10,)" in message and "\n" not in message


class _Custom:  # not a tensor: refused by weights_only=True, so no pickle code of the file runs
    pass


def test_weights_that_need_pickle_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"obj": _Custom()}, path)
    with pytest.raises(ModelLoadError, match="cannot be read with weights_only=True"):
        load_model("support.testnets:conv_residual_net", str(path))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_program(tmp_path):
    model, x = testnets.build("conv_residual_net")
    path = tmp_path / "m.pt"
    torch.jit.trace(model, x).save(str(path))
    loaded = load_model(str(path))
    assert isinstance(loaded, torch.jit.ScriptModule)
    assert torch.allclose(loaded(x), model(x), atol=1e-6)
    with pytest.raises(ModelLoadError, match="--weights applies to a factory model"):
        load_model(str(path), str(path))


def test_unreadable_program_file(tmp_path):
    path = tmp_path / "junk.pt2"
    path.write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match=r"is not a readable torch.export program"):
        load_model(str(path))
