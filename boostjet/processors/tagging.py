"""The boostjet coffea processor: jets → constituents → features → models → histograms."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import awkward as ak
import numpy as np
from coffea import processor

from boostjet import histograms
from boostjet.config import RunConfig
from boostjet.errors import InputDataError, ModelError
from boostjet.models.workingpoints import run_thresholds
from boostjet.processors.constituents import (
    FlatConstituents,
    LeadingConstituents,
    associate_by_delta_r,
    leading_constituents,
    resolve_from_sources,
)
from boostjet.processors.delphes import (
    candidate_source,
    chunk_name,
    energy_flow_candidates,
    fat_jets,
    has_collection,
    has_impact_parameters,
    is_track_collection,
    jet_constituent_refs,
    shower_weight_ratios,
)
from boostjet.processors.features import cut_based_score, energy_fractions, ratio
from boostjet.processors.jets import (
    heavy_resonances,
    match_generator_jets,
    select_fat_jets,
    truth_labels,
)
from boostjet.spec import IMPACT_PARAMETERS, JET_FEATURES, InputSpec, ResolvedModel


@dataclass(frozen=True)
class JetInputs:
    """Everything known about the selected jets of one chunk, flat over jets."""

    jets: ak.Array
    """Record per jet: JET_FEATURES, ``label``, ``target_mass``, ``target_energy``, ``event``;
    without constituents only ``n_constituents`` of the constituent-derived features."""
    leading: LeadingConstituents | None
    """The leading constituents' feature rows (None when not built); padded only when asked for
    (models, export)."""
    unresolved_refs: int

    @cached_property
    def _padded(self) -> tuple[np.ndarray, np.ndarray]:
        if self.leading is None:
            raise ValueError("these jet inputs were built without constituents")
        return self.leading.padded()

    @property
    def constituents(self) -> np.ndarray:
        """[jets, n_constituents, features] float32, pT-ordered and zero-padded."""
        return self._padded[0]

    @property
    def mask(self) -> np.ndarray:
        """[jets, n_constituents] bool, True for real constituents."""
        return self._padded[1]

    def jet_matrix(self) -> np.ndarray:
        """[jets, len(JET_FEATURES)] float32 jet-level inputs."""
        return np.stack(
            [ak.to_numpy(self.jets[name]).astype(np.float32) for name in JET_FEATURES], axis=1
        )


def _require(events, collection: str, option: str) -> None:
    if not has_collection(events, collection):
        raise InputDataError(
            f"{chunk_name(events)} has no collection '{collection}' (set by {option})."
        )


def _constituents(events, config: RunConfig, selected) -> FlatConstituents:
    """Constituents of the selected jets: resolved references, or ΔR association without them."""
    collections = tuple(c for c in config.constituents.collections if has_collection(events, c))
    if not collections:
        raise InputDataError(
            f"{chunk_name(events)} has none of the constituent collections "
            f"{list(config.constituents.collections)} (set by constituents.collections)."
        )
    impact = _impact_parameters_wanted(events, config, collections)
    refs = jet_constituent_refs(events, config.fatjet_collection)
    if refs is None:
        candidates = energy_flow_candidates(events, collections, impact)
        radius = config.constituents.association_radius
        return FlatConstituents.from_records(associate_by_delta_r(selected, candidates, radius))
    sources = [candidate_source(events, name, impact) for name in collections]
    return resolve_from_sources(refs[selected.index], sources)


def _impact_parameters_wanted(events, config: RunConfig, collections) -> bool:
    """Whether the configured features need track impact parameters; every track collection
    must then store them (InputDataError naming the file and option otherwise)."""
    wanted = [f for f in config.constituents.features if f in IMPACT_PARAMETERS]
    if not wanted:
        return False
    for name in collections:
        if is_track_collection(events, name) and not has_impact_parameters(events, name):
            raise InputDataError(
                f"{chunk_name(events)}: '{name}' stores no track impact parameters "
                f"(D0, DZ, ErrorD0, ErrorDZ), which constituents.features asks for ({wanted}); "
                "Delphes writes them from version 3.4 on, or drop them from the features."
            )
    return True


def _targets(events, config: RunConfig, selected) -> tuple[ak.Array, ak.Array]:
    """Generator-level soft-drop mass and energy of the matched generator jet (NaN if none)."""
    name = config.truth.genjet_collection
    if name is None or not has_collection(events, name):
        nan = ak.full_like(selected.pt, np.nan, dtype=np.float32)
        return nan, nan
    gen = fat_jets(events, name, generator=True)
    matched = match_generator_jets(selected, gen, config.truth.genjet_match_radius)
    return (
        ak.fill_none(matched.sd_mass, np.nan),
        ak.fill_none(matched.energy, np.nan),
    )


def build_jet_inputs(
    events, config: RunConfig, is_data: bool, with_constituents: bool = True
) -> JetInputs:
    """Select fat jets and compute every per-jet quantity and model input for one chunk.

    Without constituents (a run with no model) the references and energy-flow collections are
    never read; ``n_constituents`` is then Delphes' own count NCharged + NNeutrals, which equals
    the resolved count whenever every reference resolves. Collections without those counts get
    their constituents built anyway.
    """
    _require(events, config.fatjet_collection, "fatjet_collection")
    jets = fat_jets(events, config.fatjet_collection)
    selected = select_fat_jets(jets, config.selection)
    with_constituents = with_constituents or "multiplicity" not in ak.fields(selected)
    constituents = _constituents(events, config, selected) if with_constituents else None

    if not is_data and has_collection(events, "Particle"):
        resonances = heavy_resonances(events.Particle, chunk_name(events))
        label = truth_labels(selected, resonances, config.truth.match_radius)
    else:
        label = ak.zeros_like(selected.pt, dtype=np.int8)
    target_mass, target_energy = (
        _targets(events, config, selected) if not is_data else (selected.pt * np.nan,) * 2
    )
    n_per_event = ak.num(selected.pt, axis=1)
    flat = {
        "pt": selected.pt,
        "eta": selected.eta,
        "phi": selected.phi,
        "mass": selected.mass,
        "energy": selected.energy,
        "sd_mass": selected.sd_mass,
        "tau21": ratio(selected.tau2, selected.tau1),
        "tau32": ratio(selected.tau3, selected.tau2),
        "label": label,
        "target_mass": target_mass,
        "target_energy": target_energy,
        "event": ak.broadcast_arrays(ak.local_index(n_per_event, axis=0), selected.pt)[0],
    }
    columns = {k: ak.flatten(v, axis=1) for k, v in flat.items()}
    if constituents is None:
        jet_table = ak.zip(columns | {"n_constituents": ak.flatten(selected.multiplicity)})
        _check_finite(events, jet_table, KINEMATIC_FEATURES)
        return JetInputs(jet_table, None, 0)
    found = constituents.columns
    jet_table = ak.zip(
        columns
        | {"n_constituents": constituents.per_jet}
        | energy_fractions(found["E"], found["kind"], constituents.per_jet)
    )
    leading = leading_constituents(
        ak.to_numpy(jet_table.eta),
        ak.to_numpy(jet_table.phi),
        found,
        constituents.per_jet,
        config.constituents.n_constituents,
        config.constituents.features,
    )
    if not np.isfinite(leading.rows).all():  # the padding zeros are finite
        raise InputDataError(f"{chunk_name(events)} has NaN or inf in constituent kinematics.")
    _check_finite(events, jet_table, JET_FEATURES)
    return JetInputs(jet_table, leading, constituents.unresolved)


#: Jet features that do not need the constituents.
KINEMATIC_FEATURES = ("pt", "eta", "phi", "mass", "energy", "sd_mass", "tau21", "tau32")


def _check_finite(events, jet_table: ak.Array, features: tuple[str, ...]) -> None:
    """The jet features computed from finite inputs can still overflow (e.g. E from a huge η)."""
    for name in features:
        if not np.isfinite(ak.to_numpy(jet_table[name])).all():
            raise InputDataError(
                f"{chunk_name(events)} has NaN or inf in fat-jet kinematics (the feature {name})."
            )


def input_spec(config: RunConfig) -> InputSpec:
    """The model input layout a run configuration produces; models must declare the same."""
    return InputSpec(
        constituent_features=config.constituents.features,
        n_constituents=config.constituents.n_constituents,
        jet_features=JET_FEATURES,
        constituent_sources=config.constituents.collections,
    )


class BoostedJetProcessor(processor.ProcessorABC):
    """Fills tagger-score, template, response and control histograms for one chunk of Delphes
    events.

    ``models`` are the pre-flight's records of the configured models, in configuration order;
    ``shower_weight_files`` the input paths whose ``Weight`` collection holds the shower
    variations (the pre-flight reads each file's WeightNames string): their simulated jets fill
    the templates under every variation, other jets under ``nominal`` only.
    """

    def __init__(
        self,
        config: RunConfig,
        models: tuple[ResolvedModel, ...] = (),
        shower_weight_files: frozenset[str] = frozenset(),
    ):
        if [m.name for m in models] != [m.name for m in config.models]:
            raise ValueError(
                "BoostedJetProcessor needs the resolved record of every configured model, "
                "in configuration order (pipeline.preflight.resolve_models)."
            )
        self.config = config
        self.models = tuple(models)
        self.shower_weight_files = frozenset(shower_weight_files)
        self.thresholds = run_thresholds(config, self.models)
        """Tagger → working point → frozen score threshold: the taggers with templates."""

    @property
    def taggers(self) -> list[str]:
        return histograms.tagger_names(self.models)

    @property
    def regressors(self) -> dict[str, str]:
        return histograms.regressor_kinds(self.models)

    @property
    def regressors_with_sigma(self) -> tuple[str, ...]:
        """Energy regressors: their second output is a per-jet σ."""
        return tuple(m.name for m in self.models if m.task == "energy")

    def _runner(self, model: ResolvedModel):
        """The model's runner; the model itself is loaded once per worker process and cached."""
        from boostjet.models.inference import ModelRunner

        return ModelRunner(model.path, expected_spec=input_spec(self.config))

    def process(self, events):
        dataset = events.metadata["dataset"]
        settings = self.config.datasets[dataset]
        inputs = build_jet_inputs(
            events, self.config, settings.is_data, with_constituents=bool(self.models)
        )
        jets = inputs.jets
        hists = histograms.book(
            self.config,
            self.taggers,
            self.regressors,
            dataset,
            self.regressors_with_sigma,
            self.thresholds,
        )
        truth = histograms.truth_names(ak.to_numpy(jets.label), settings.is_data)
        pt = ak.to_numpy(jets.pt)
        sd_mass = ak.to_numpy(jets.sd_mass)
        window = self.config.cut_based
        scores = {
            histograms.CUT_BASED["top"]: cut_based_score(
                sd_mass, ak.to_numpy(jets.tau32), window.top_mass_window
            ),
            histograms.CUT_BASED["w"]: cut_based_score(
                sd_mass, ak.to_numpy(jets.tau21), window.w_mass_window
            ),
        }
        predictions = {
            histograms.MASS_BASELINE: (sd_mass, "mass"),
            histograms.ENERGY_BASELINE: (ak.to_numpy(jets.energy), "energy"),
        }
        sigmas: dict[str, np.ndarray] = {}
        if len(pt) and self.models:
            predictions |= self._evaluate_models(inputs, scores, sigmas, chunk_name(events))
        for name, score in scores.items():
            hists[histograms.score_key(name)].fill(dataset=dataset, truth=truth, pt=pt, score=score)
        for name in histograms.CONTROL_VARIABLES:
            hists[histograms.control_key(name)].fill(
                dataset=dataset, truth=truth, pt=pt, **{name: ak.to_numpy(jets[name])}
            )
        variations = {histograms.NOMINAL: np.ones(len(pt))}
        if not settings.is_data and events.metadata.get("filename") in self.shower_weight_files:
            names = (histograms.NOMINAL, *histograms.SHOWER_VARIATIONS)
            ratios = shower_weight_ratios(events, names)[ak.to_numpy(jets.event)]
            variations |= {name: ratios[:, i] for i, name in enumerate(names[1:])}
        for tagger in (t for t in self.thresholds if t in scores):  # no model ran without jets
            for systematic, weight in variations.items():
                hists[histograms.template_key(tagger)].fill(
                    dataset=dataset,
                    truth=truth,
                    systematic=systematic,
                    pt=pt,
                    score=scores[tagger],
                    sd_mass=sd_mass,
                    weight=weight,
                )
        if not settings.is_data:
            self._fill_responses(hists, dataset, jets, predictions, sigmas)
        cutflow = {
            "events_processed": len(events),
            "fat_jets_selected": len(pt),
            "constituent_refs_unresolved": inputs.unresolved_refs,
        }
        return {"histograms": hists, "cutflow": {dataset: cutflow}}

    def _evaluate_models(
        self, inputs: JetInputs, scores: dict, sigmas: dict, where: str
    ) -> dict[str, tuple]:
        """Fill ``scores`` with tagger outputs and ``sigmas`` with the energy regressors' σ;
        return regressor outputs with their target kind. A model's wrong output shape or NaN/inf
        output is a ModelError naming ``where`` (the chunk)."""
        predictions = {}
        jet_matrix = inputs.jet_matrix()
        for model in self.models:
            runner = self._runner(model)
            try:
                output = runner(inputs.constituents, inputs.mask, jet_matrix)
            except ModelError as error:
                raise ModelError(f"{where}: {error}") from None
            if model.task == "tagger":
                scores[model.name] = output
            elif model.task == "mass":
                predictions[model.name] = (output, "mass")
            else:
                predictions[model.name] = (output[:, 0], "energy")
                sigmas[model.name] = output[:, 1]
                offset, slope = model.calibration
                linear = offset + slope * jet_matrix[:, JET_FEATURES.index("energy")]
                predictions[histograms.linear_calibration_name(model.name)] = (linear, "energy")
        return predictions

    def _fill_responses(self, hists, dataset, jets, predictions, sigmas) -> None:
        pt = ak.to_numpy(jets.pt)
        abseta = np.abs(ak.to_numpy(jets.eta))
        for name, (predicted, kind) in predictions.items():
            target = ak.to_numpy(jets[f"target_{kind}"])
            floor = self.config.truth.mass_target_min if kind == "mass" else 0.0
            valid = np.isfinite(target) & (target > floor)
            response = predicted[valid] / target[valid]
            hists[histograms.response_key(name)].fill(
                dataset=dataset, pt=pt[valid], abseta=abseta[valid], response=response
            )
            if histograms.energy_response_key(name) in hists:
                hists[histograms.energy_response_key(name)].fill(
                    dataset=dataset, energy_true=target[valid], response=response
                )
            if name in sigmas:
                pull = (predicted[valid] - target[valid]) / sigmas[name][valid]
                hists[histograms.pull_key(name)].fill(dataset=dataset, pt=pt[valid], pull=pull)

    def postprocess(self, accumulator):
        return accumulator
