"""verl-anomseer: AnomSeer (ExpCoT + TimerPO) for verl 0.9.1.

Domain packages (`series`, `expcot`, `scoring`, `grounding`) never import verl; the verl glue lives in
`plugin`, `timerpo.trainer`, `data`, `cpu` and `eval`.
"""

__version__ = "0.1.0"
