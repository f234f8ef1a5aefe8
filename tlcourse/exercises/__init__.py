"""Self-checks for the exercises at the end of each notebook.

Each `check_...` function takes the learner's answer (a number, a table, a model or a
function they wrote) and returns a `Verdict`: right, or not yet with a hint that names
the likely mistake. The right answer is never stored here: each check works it out from
the same objects the learner used (their learner, their features, the library's own
implementation), so a check stays right when the notebook's parameters change.
Worked solutions: `solutions/`, one notebook per course notebook, executed and tested
like the course itself.

Not about: the course's measurements; see each notebook.
"""
from .notebooks_00_02 import check_trainable, check_forgetting, check_cell_type_layer, check_nearest, check_recall_precision, check_false_alarms, check_unsure_cells  # noqa: F401
from .notebooks_03_05 import check_one_rate_training, check_l2sp, check_adabn_few_digits, check_coral, check_reversal, check_agreement, check_zero_shot  # noqa: F401
from .notebook_06 import check_lora_parameters, check_head_without_adapters  # noqa: F401
from .verdict import DIRECTIONS, Verdict, check_prediction, direction  # noqa: F401

# The "predict, then measure" exercises: for each notebook, the answer's name and the two
# recorded figures it predicts the relation of (measured, reference). tests/test_exercises.py
# checks that each worked solution's prediction is what the notebook's evidence shows over seeds.
PREDICTIONS = {
    "00_concepts": {"prediction": ("exercise_source_after_digits_acc", "source_accuracy")},
    "01_feature_extraction": {"prediction": ("exercise_cell_type_stage2_acc", "cell_type_probe_acc")},
    "02_fine_tuning": {"prediction": ("exercise_recall_unsure", "exercise_recall_sure")},
    "03_layerwise_fine_tuning": {"prediction": ("exercise_one_rate_train_acc", "exercise_body10_train_acc")},
    "04_domain_shift": {"prediction": ("exercise_adabn_four_acc", "exercise_adabn_pool_acc")},
    "05_text_transfer": {"prediction": ("exercise_low_agreement_acc", "exercise_high_agreement_acc")},
    "06_parameter_efficient": {"prediction": ("exercise_head_without_adapters_acc", "exercise_head_only_acc")},
}
