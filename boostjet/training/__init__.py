"""boostjet.training: a `boostjet dataset` export → a fitted, validated, exported model.

`options` (what `boostjet train` takes), `data` (the one reader of the export), `loop` (objective,
schedule, epochs with early stopping and resumable checkpoints), `metrics` (validation numbers) and
`train` (the entry point: read → fit → validate → export).
"""
