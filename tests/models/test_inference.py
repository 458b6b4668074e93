"""ModelRunner: batched numpy evaluation, one load per process, spec checks."""

import itertools
import pickle

import numpy as np
import pytest
import torch

from boostjet.errors import ModelError
from boostjet.models.export import describe_model, export_model
from boostjet.models.inference import (
    BATCH_MULTIPLE,
    ModelRunner,
    clear_cache,
    input_columns,
    load_count,
)
from boostjet.models.registry import MODELS, build_model
from boostjet.models.synthetic import synthetic_jets
from boostjet.spec import InputSpec

SPEC = InputSpec(n_constituents=16)


def export(name: str, task: str, directory):
    torch.manual_seed(0)
    model = build_model(name, task, SPEC, preset="small")
    constituents, mask, jet, _ = (torch.from_numpy(a) for a in synthetic_jets(32, SPEC))
    target = jet[:, SPEC.jet_features.index("sd_mass")] if task == "mass" else None
    model.fit_normalisation(constituents, mask, jet, target)
    metadata = describe_model(
        model,
        name=name,
        architecture=name,
        task=task,
        spec=SPEC,
        signal="w" if task == "tagger" else None,
    )
    return model.eval(), export_model(model, metadata, directory / name)[0]


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    return export("particlenet", "tagger", tmp_path_factory.mktemp("runner"))


def test_runner_matches_the_model_in_any_batch_size(tagger):
    model, path = tagger
    constituents, mask, jet, _ = synthetic_jets(23, SPEC, seed=4)
    with torch.no_grad():
        expected = model(*(torch.from_numpy(a) for a in (constituents, mask, jet))).numpy()
    for batch_size in (5, 1000):
        scores = ModelRunner(path, batch_size=batch_size, device="cpu")(constituents, mask, jet)
        assert scores.dtype == np.float32 and scores.shape == (23,)
        np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)


def test_model_is_loaded_once_per_process(tagger):
    _, path = tagger
    clear_cache()
    before = load_count(path)
    runners = [ModelRunner(path, device="cpu") for _ in range(3)]
    restored = pickle.loads(pickle.dumps(runners[0]))
    assert load_count(path) == before + 1
    assert restored.model is runners[0].model and restored.batch_size == runners[0].batch_size


def test_empty_input_and_energy_output_shapes(tmp_path):
    _, path = export("energy_dnn", "energy", tmp_path)
    runner = ModelRunner(path, device="cpu")
    constituents, mask, jet, _ = synthetic_jets(4, SPEC)
    assert runner(constituents, mask, jet).shape == (4, 2)
    assert runner(constituents[:0], mask[:0], jet[:0]).shape == (0, 2)


def test_wrong_array_shape_is_a_model_error(tagger):
    _, path = tagger
    constituents, mask, jet, _ = synthetic_jets(4, SPEC)
    with pytest.raises(
        ModelError,
        match=rf"needs constituents of shape \(4, 16, {len(SPEC.constituent_features)}\)",
    ):
        ModelRunner(path, device="cpu")(constituents[..., :5], mask, jet)
    with pytest.raises(ModelError, match="needs jet of shape"):
        ModelRunner(path, device="cpu")(constituents, mask, jet[:3])


def test_spec_mismatches_are_named(tagger):
    _, path = tagger
    metadata = ModelRunner(path, device="cpu").metadata
    input_columns(metadata, SPEC)
    with pytest.raises(ModelError, match=r"n_constituents is 16 for the model but 8"):
        input_columns(metadata, SPEC.model_copy(update={"n_constituents": 8}))
    without_charge = tuple(f for f in SPEC.constituent_features if f != "charge")
    lacking_charge = SPEC.model_copy(update={"constituent_features": without_charge})
    with pytest.raises(ModelError, match=r"needs constituent feature\(s\) \['charge'\]"):
        input_columns(metadata, lacking_charge)
    with pytest.raises(ModelError, match="constituent_sources"):
        ModelRunner(
            path,
            device="cpu",
            expected_spec=SPEC.model_copy(update={"constituent_sources": ("Tower",)}),
        )


def test_a_wider_configured_layout_gives_the_models_own_outputs(tagger):
    # the configuration orders features differently and pads to more constituents: the runner
    # picks the model's columns and leading slots, so the scores are those of the model's layout
    _, path = tagger
    constituents, mask, jet, _ = synthetic_jets(9, SPEC, seed=5)
    expected = ModelRunner(path, device="cpu")(constituents, mask, jet)
    wide = SPEC.model_copy(
        update={
            "n_constituents": 24,
            "constituent_features": SPEC.constituent_features[::-1],
            "jet_features": SPEC.jet_features[::-1],
        }
    )
    wide_constituents = np.zeros((9, 24, len(SPEC.constituent_features)), np.float32)
    wide_constituents[:, :16] = constituents[..., ::-1]
    wide_constituents[:, 16:] = 7.0  # garbage behind the mask beyond the model's slots
    wide_mask = np.zeros((9, 24), bool)
    wide_mask[:, :16] = mask
    runner = ModelRunner(path, device="cpu", expected_spec=wide)
    scores = runner(wide_constituents, wide_mask, jet[:, ::-1])
    np.testing.assert_array_equal(scores, expected)
    restored = pickle.loads(pickle.dumps(runner))
    np.testing.assert_array_equal(restored(wide_constituents, wide_mask, jet[:, ::-1]), expected)


@pytest.mark.parametrize("name", list(MODELS))
def test_batches_cut_to_their_jets_width_give_the_full_width_outputs(name, tmp_path):
    # the runner evaluates each jet only about as wide as its last real constituent
    model, path = export(name, MODELS[name][0], tmp_path)
    constituents, mask, jet, _ = synthetic_jets(40, SPEC, seed=6)
    mask[:5] = False  # jets without constituents, and short ones, next to full ones
    mask[5:10, 3:] = False
    with torch.no_grad():
        expected = model(*(torch.from_numpy(a) for a in (constituents, mask, jet))).numpy()
    outputs = ModelRunner(path, batch_size=8, device="cpu")(constituents, mask, jet)
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5)


class _Outputs(torch.nn.Module):
    """A toy tagger returning ``width`` sigmoid scores per jet (0: shape [N]), NaN for jets
    whose first jet feature exceeds ``nan_above``."""

    def __init__(self, width: int, nan_above: float):
        super().__init__()
        self.width = width
        self.nan_above = nan_above

    def forward(self, constituents, mask, jet):
        score = torch.sigmoid(jet[:, 0] / 1000.0)
        score = torch.where(jet[:, 0] > self.nan_above, torch.full_like(score, float("nan")), score)
        return score if self.width == 0 else score[:, None].repeat(1, self.width)


def _toy(module, tmp_path):
    metadata = describe_model(
        module, name="toy", architecture="toy", task="tagger", spec=SPEC, signal="top"
    )
    return export_model(module, metadata, tmp_path / "toy")[0]


def test_an_output_of_the_wrong_shape_is_a_model_error(tmp_path):
    path = _toy(_Outputs(width=3, nan_above=1e9), tmp_path)
    constituents, mask, jet, _ = synthetic_jets(6, SPEC)
    with pytest.raises(ModelError) as caught:
        ModelRunner(path, device="cpu", batch_size=4)(constituents, mask, jet)
    # the batch is filled up to a multiple of BATCH_MULTIPLE rows before the model sees it
    rows = BATCH_MULTIPLE
    assert str(caught.value) == (
        f"Model 'toy' ({path}) returns shape ({rows}, 3) for a batch of {rows} jets; "
        f"a tagger model must return ({rows},)."
    )


def test_nan_outputs_are_a_model_error_counting_the_jets(tmp_path):
    constituents, mask, jet, _ = synthetic_jets(20, SPEC, seed=2)
    threshold = float(np.sort(jet[:, 0])[-4])  # NaN for the three jets of highest pT
    path = _toy(_Outputs(width=0, nan_above=threshold), tmp_path)
    with pytest.raises(ModelError) as caught:
        ModelRunner(path, device="cpu", batch_size=8)(constituents, mask, jet)
    assert str(caught.value) == f"Model 'toy' ({path}) returns NaN or inf for 3 of 20 jets."


@pytest.mark.parametrize("name", list(MODELS))
def test_a_jets_outputs_do_not_depend_on_the_other_jets_of_its_chunk(
    name, tmp_path, two_torch_threads
):
    # chunks of any size, in any order, in any batch size: bitwise the same outputs per jet,
    # also with coincident constituents (ties in ParticleNet's neighbour search)
    _, path = export(name, MODELS[name][0], tmp_path)
    constituents, mask, jet, _ = synthetic_jets(70, SPEC, seed=8, coincident=True)
    mask[:3] = False  # jets without constituents, and short ones
    mask[3:9, 5:] = False
    runner = ModelRunner(path, device="cpu")
    whole = runner(constituents, mask, jet)
    order = np.random.default_rng(0).permutation(70)
    shuffled = np.empty_like(whole)
    shuffled[order] = runner(constituents[order], mask[order], jet[order])
    cuts = [0, 1, 4, 20, 21, 45, 70]
    chunked = np.concatenate(
        [runner(constituents[a:b], mask[a:b], jet[a:b]) for a, b in itertools.pairwise(cuts)]
    )
    small_batches = ModelRunner(path, batch_size=3, device="cpu")(constituents, mask, jet)
    for outputs in (shuffled, chunked, small_batches):
        np.testing.assert_array_equal(outputs, whole)
