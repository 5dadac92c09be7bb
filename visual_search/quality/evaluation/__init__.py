"""Measured retrieval quality: ``evaluate()`` and the ``visual_search_evaluate`` command.

    from visual_search.quality.evaluation import evaluate
    result = evaluate("photos/", live=True)
    result.as_dict()["runs"][0]["metrics"]["recall@1"]
"""

from visual_search.quality.evaluation.dataset import EvaluationSet, Sample, load_evaluation_set
from visual_search.quality.evaluation.run import EncoderRun, Evaluation, evaluate

__all__ = ["EncoderRun", "Evaluation", "EvaluationSet", "Sample", "evaluate", "load_evaluation_set"]
