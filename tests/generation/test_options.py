"""Every invalid generation option raises one GenerationError sentence naming the option."""

import pytest

from boostjet.errors import BoostjetError, GenerationError
from boostjet.generation import GenerationOptions, generate

VALID = {"process": "ttbar", "events": 10}


@pytest.mark.parametrize(
    ("change", "option"),
    [
        ({"process": "mixture"}, "process"),
        ({"process": "higgs"}, "process"),
        ({"events": 0}, "events"),
        ({"events": -5}, "events"),
        ({"pthat_min": 0.0}, "pthat_min"),
        ({"pthat_min": -500.0}, "pthat_min"),
        ({"pthat_min": 8000.0}, "pthat_min"),
        ({"ecm": 0.0}, "ecm"),
        ({"card": "atlas"}, "card"),
        ({"workers": 0}, "workers"),
        ({"batch_size": 0}, "batch_size"),
        ({"seed": -1}, "seed"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_option_names_the_option(change, option):
    with pytest.raises(GenerationError, match=f"option '{option}'") as error:
        GenerationOptions(**(VALID | change))
    assert isinstance(error.value, BoostjetError)
    assert str(error.value).endswith(".")
    assert "\n" not in str(error.value)


def test_defaults_follow_the_public_top_tagging_setup():
    options = GenerationOptions(**VALID)
    assert (options.pthat_min, options.ecm, options.card, options.mpi) == (
        500.0,
        14000.0,
        "mc",
        False,
    )
    assert options.workers == 1


@pytest.mark.parametrize(
    ("output", "message"),
    [("sample.txt", "must end in .root"), ("no/such/dir/sample.root", "missing directory")],
)
def test_bad_output_path_names_the_option(tmp_path, output, message):
    with pytest.raises(GenerationError, match=f"option 'output'.*{message}"):
        generate(GenerationOptions(**VALID), tmp_path / output, progress=False)
