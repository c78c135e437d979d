"""scikit-learn's shared estimator checks on the two sklearn estimators of ``classify``.

``FewShotClassifier`` runs on precomputed feature arrays (no model); ``ZeroShotClassifier`` with the
``test-tiny`` model. A check that cannot apply is listed with the reason; every other check must pass, and a
listed check that starts passing fails the run (``xfail_strict``), so the lists stay true (a misspelt name
leaves its real check unlisted, which then fails).
"""

from __future__ import annotations

import warnings

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from vocabfree.classify.few_shot import FewShotClassifier
from vocabfree.classify.zero_shot import ZeroShotClassifier
from vocabfree.models import load_model

LABELS_ARE_NAMES = "labels are class names: fit keeps y as strings (probe files store them as text)"
IMAGES_OR_FEATURES = "X is images or a 2-D float feature array; any other input is read as a list of images"
OUR_NOT_FITTED = "raises vocabfree's NotFittedError (a ValueError and AttributeError, as sklearn's), not sklearn's"
NO_INPUT_VALIDATION = "features are trusted model outputs: no check_array (NaN, sparse) on the predict path"

FEW_SHOT_NOT_APPLICABLE = {
    "check_fit_score_takes_y": LABELS_ARE_NAMES,
    "check_pipeline_consistency": LABELS_ARE_NAMES,
    "check_estimators_pickle": LABELS_ARE_NAMES,
    "check_methods_sample_order_invariance": LABELS_ARE_NAMES,
    "check_methods_subset_invariance": LABELS_ARE_NAMES,
    "check_fit_idempotent": LABELS_ARE_NAMES,
    "check_classifiers_regression_target": LABELS_ARE_NAMES,
    "check_supervised_y_2d": LABELS_ARE_NAMES,
    "check_estimators_dtypes": IMAGES_OR_FEATURES,
    "check_complex_data": IMAGES_OR_FEATURES,
    "check_dtype_object": IMAGES_OR_FEATURES,
    "check_classifier_data_not_an_array": IMAGES_OR_FEATURES,
    "check_classifiers_train": IMAGES_OR_FEATURES,
    "check_fit2d_predict1d": IMAGES_OR_FEATURES,
    "check_estimators_unfitted": OUR_NOT_FITTED,
    "check_estimators_nan_inf": NO_INPUT_VALIDATION,
    "check_estimator_sparse_tag": NO_INPUT_VALIDATION,
    "check_estimator_sparse_array": NO_INPUT_VALIDATION,
    "check_estimator_sparse_matrix": NO_INPUT_VALIDATION,
    "check_n_features_in_after_fitting": "a wrong feature width is an IndexMismatchError naming both widths",
    "check_fit2d_1sample": "one sample is one class: refused as 'a probe needs at least two classes'",
    "check_classifiers_classes": "decision_function is (N, 2) for two classes (the softmax's input), not (N,)",
}

# ``fit(None, class_names)`` takes the label set, not one label per sample, and needs a model to embed them:
# the checks that fit on (X, y) data cannot apply; the API checks (params, clone, repr, __init__) do.
ZERO_SHOT_FIT = "fit(None, class_names) takes the label set, not a label per sample of X"
ZERO_SHOT_NOT_APPLICABLE = {
    name: ZERO_SHOT_FIT
    for name in (
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_estimators_dtypes",
        "check_complex_data",
        "check_dtype_object",
        "check_estimators_empty_data_messages",
        "check_pipeline_consistency",
        "check_estimators_nan_inf",
        "check_estimator_sparse_tag",
        "check_estimator_sparse_array",
        "check_estimator_sparse_matrix",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_classifier_data_not_an_array",
        "check_classifiers_one_label",
        "check_classifiers_classes",
        "check_classifiers_train",
        "check_classifiers_regression_target",
        "check_supervised_y_2d",
        "check_decision_proba_consistency",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_fit2d_1feature",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
        "check_fit2d_predict1d",
        "check_requires_y_none",
    )
} | {"check_estimators_unfitted": OUR_NOT_FITTED}


def _not_applicable(estimator) -> dict[str, str]:
    return FEW_SHOT_NOT_APPLICABLE if isinstance(estimator, FewShotClassifier) else ZERO_SHOT_NOT_APPLICABLE


@parametrize_with_checks(
    [FewShotClassifier(Cs=(1.0,), max_iter=200), ZeroShotClassifier(load_model("test-tiny"))],
    expected_failed_checks=_not_applicable,
    xfail_strict=True,
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


@pytest.mark.parametrize("method", ["decision_function", "predict", "predict_proba"])
def test_unfitted_estimators_raise_our_not_fitted_error(method):
    import numpy as np

    from vocabfree.errors import NotFittedError

    X = np.zeros((2, 32), np.float32)
    with pytest.raises(NotFittedError, match=r"^FewShotClassifier is not fitted: call fit\(X, y\) first$"):
        getattr(FewShotClassifier(), method)(X)
    with pytest.raises(NotFittedError, match=r"^ZeroShotClassifier is not fitted: call fit\(None, labels\) first$"):
        getattr(ZeroShotClassifier(load_model("test-tiny")), method)(X)
