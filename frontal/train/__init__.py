"""Training: face-tube data and the paper's A/B/C sampling (`data`, `sampling`), losses (`losses`),
the trainer with exact resume (`trainer`, `state`), evaluation (`evaluate`) and the commands
(`cli`: `frontal train`, `frontal evaluate`). See docs/training.md.
"""
