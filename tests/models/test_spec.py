"""InputSpec / ModelMetadata: validation, JSON round trip, column look-up."""

import numpy as np
import pytest
from pydantic import ValidationError

from boostjet.errors import ModelError
from boostjet.models.synthetic import synthetic_jets
from boostjet.spec import CONSTITUENT_FEATURES, JET_FEATURES, InputSpec, ModelMetadata


def test_defaults_follow_the_input_contract():
    spec = InputSpec()
    assert spec.constituent_features == CONSTITUENT_FEATURES
    assert spec.jet_features == JET_FEATURES
    assert spec.constituent_sources == ("EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron")


def test_input_spec_json_round_trip():
    spec = InputSpec(n_constituents=100, constituent_features=("E", "px", "py", "pz"))
    assert InputSpec.model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize(
    "options",
    [
        {"constituent_features": ("E", "Px")},
        {"jet_features": ("pt", "pt")},
        {"n_constituents": 0},
        {"unknown_key": 1},
    ],
)
def test_input_spec_rejects_bad_values(options):
    with pytest.raises(ValidationError):
        InputSpec(**options)


def test_metadata_json_round_trip():
    metadata = ModelMetadata(
        name="particlenet_top",
        task="tagger",
        signal="top",
        input_spec=InputSpec(n_constituents=32),
        architecture="particlenet",
        hyperparameters={"width": 64},
        training={"epochs": 3},
        validation={"auc": 0.97},
        n_parameters=1234,
    )
    assert ModelMetadata.from_json(metadata.to_json()) == metadata


def test_metadata_needs_signal_for_taggers_only():
    with pytest.raises(ValidationError, match="signal"):
        ModelMetadata(
            name="t", task="tagger", input_spec=InputSpec(), architecture="dnn", n_parameters=1
        )
    with pytest.raises(ValidationError, match="no signal"):
        ModelMetadata(
            name="m",
            task="mass",
            signal="w",
            input_spec=InputSpec(),
            architecture="iml_mass",
            n_parameters=1,
        )


def test_missing_feature_is_a_model_error_naming_it():
    spec = InputSpec(constituent_features=("E", "px", "py", "pz"))
    assert spec.constituent_columns(("pz", "E"), "lola") == [3, 0]
    with pytest.raises(ModelError, match=r"'cnn'.*'deta'"):
        spec.constituent_columns(("deta", "dphi", "pt"), "cnn")


def test_synthetic_jets_obey_the_contract():
    spec = InputSpec(n_constituents=20)
    constituents, mask, jet, labels = synthetic_jets(50, spec, seed=3)
    assert constituents.shape == (50, 20, len(spec.constituent_features))
    assert constituents.dtype == np.float32 and mask.dtype == bool
    assert jet.shape == (50, len(spec.jet_features))
    assert set(np.unique(labels)) <= {0.0, 1.0}
    pt = constituents[..., spec.constituent_features.index("pt")]
    assert np.all(np.diff(pt, axis=1) <= 0), "constituents are pT-ordered"
    assert np.all(constituents[~mask] == 0), "padding is zero"
    n_constituents = jet[:, spec.jet_features.index("n_constituents")]
    np.testing.assert_array_equal(n_constituents, mask.sum(1))
