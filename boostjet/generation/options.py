"""Validated options of the sample generator; every invalid value raises one GenerationError."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from boostjet.errors import GenerationError, validation_sentence

Process = Literal["ttbar", "qcd", "wjets", "zjets"]
Card = Literal["mc", "data-like"]


class GenerationOptions(BaseModel):
    """What to generate: hard process, statistics, beam energy, detector card, seed, parallelism."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    process: Process
    events: int = Field(gt=0)
    ecm: float = Field(default=14000.0, gt=0, description="pp centre-of-mass energy in GeV")
    pthat_min: float = Field(default=500.0, gt=0, description="PhaseSpace:pTHatMin in GeV")
    card: Card = "mc"
    seed: int = Field(default=1, ge=0)
    mpi: bool = False
    workers: int = Field(default=1, ge=1)
    batch_size: int = Field(default=500, ge=1, description="events per task and per write")
    fatjet_pt_min: float = Field(default=200.0, ge=0, description="FatJet pT threshold in GeV")
    jet_pt_min: float = Field(default=20.0, ge=0, description="Jet (R = 0.4) pT threshold in GeV")
    genfatjet_pt_min: float = Field(default=150.0, ge=0, description="GenFatJet pT threshold")

    def __init__(self, **data: Any) -> None:
        """Validate like pydantic, but raise GenerationError with a sentence naming the option."""
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise GenerationError(validation_sentence(error, "generation option")) from None

    @field_validator("pthat_min")
    @classmethod
    def _pthat_below_beam_energy(cls, pthat_min: float, info: ValidationInfo) -> float:
        """A 2 → 2 process cannot have pT-hat above half the collision energy."""
        ecm = info.data.get("ecm")
        if ecm is not None and pthat_min >= ecm / 2:
            raise ValueError(f"{pthat_min} GeV is not below half of ecm = {ecm} GeV")
        return pthat_min
