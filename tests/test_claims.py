"""The notebooks' prose against their recorded figures.

The figures are read from the committed notebooks; nbval (make test-notebooks)
checks that a fresh run reproduces them to the printed digit.
"""
from pathlib import Path

import pytest

from tlcourse.results import recorded

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"


@pytest.fixture(scope="module")
def concepts():
    return recorded(NOTEBOOKS / "00_concepts.ipynb")


def test_00_imagenet_weights_name_the_photos(concepts):
    # "The network names the espresso, the cat's breed and the army uniform"
    assert concepts["top1_coffee"] == "espresso"
    assert concepts["top1_chelsea"] in {"Egyptian cat", "tabby", "tiger cat"}
    assert concepts["top1_grace_hopper"] == "military uniform"


def gain(figures, n):
    return figures[f"transfer_acc_{n}"] - figures[f"scratch_acc_{n}"]


def test_00_transfer_wins_clearly_with_10_labels_per_class(concepts):
    # "With 10 labelled digits per class ... much better": by more than 10 points, and by more than
    # twice its gain at 30 per class. Over three seeds and both precisions (benchmarks/results/
    # precision_runs.csv) the gain at 10 was 14-22 points; the old window (15-23) failed one of them.
    assert gain(concepts, 10) > 0.10
    assert gain(concepts, 10) > 2 * gain(concepts, 30)


def test_00_gain_shrinks_to_a_few_points_at_30(concepts):
    # "With 30 per class the gain is a few points"
    assert 0.0 < gain(concepts, 30) < 0.06
    assert gain(concepts, 30) < gain(concepts, 10)


def test_00_methods_are_level_from_100_per_class(concepts):
    # "from 100 per class on the two are level"
    assert abs(gain(concepts, 100)) <= 0.02
    assert abs(gain(concepts, 300)) <= 0.02


def test_00_source_model_learned_its_task(concepts):
    assert concepts["source_accuracy"] > 0.8


# --------------------------------------------------------------------------- 01 feature extraction

@pytest.fixture(scope="module")
def extraction():
    return recorded(NOTEBOOKS / "01_feature_extraction.ipynb")


MIDDLE = ["stage2", "stage3", "stage4", "stage5", "stage6", "stage7"]


def test_01_probes_on_frozen_features_are_well_above_chance_and_agree(extraction):
    # "The linear probe reaches 0.768 and 5 nearest neighbours 0.742 ... A fastai head ... 0.760:
    #  about the same ... gaps of 2-3 points between these three are noise."
    probes = [extraction[k] for k in ("linear_probe_acc", "knn_probe_acc", "frozen_head_acc")]
    assert min(probes) >= 0.70
    assert max(probes) - min(probes) <= 0.03


def test_01_from_scratch_is_well_below_frozen_features_and_took_longest(extraction):
    # "reached 0.618 in 6 epochs: well below every method that starts from ImageNet's features,
    #  and it took the longest."
    frozen = [extraction[k] for k in ("linear_probe_acc", "knn_probe_acc", "frozen_head_acc")]
    assert extraction["scratch_acc"] <= min(frozen) - 0.08
    assert extraction["scratch_seconds"] > extraction["frozen_head_seconds"]


def test_01_layer_curve_early_layers_worse_then_flat(extraction):
    # "stem and stage1 (0.66-0.67) are clearly worse ... From stage2 on the curve is flat within
    #  noise (0.745-0.770), and the last layer (0.768) is no better than the best middle one"
    early = [extraction["layer_acc_stem"], extraction["layer_acc_stage1"]]
    middle = [extraction[f"layer_acc_{layer}"] for layer in MIDDLE]
    assert max(early) < 0.70 and min(middle) - max(early) >= 0.05
    assert max(middle) - min(middle) <= 0.04
    assert extraction["last_layer_acc"] <= max(middle)
    assert extraction["best_layer"] != "head_conv"


def test_01_embeddings_encode_cell_type_more_than_defects(extraction):
    # "a linear probe tells mono from poly cells with accuracy 0.993"
    assert extraction["cell_type_probe_acc"] >= 0.98
    assert extraction["cell_type_probe_acc"] > extraction["linear_probe_acc"] + 0.2


# --------------------------------------------------------------------------- 02 fine-tuning

@pytest.fixture(scope="module")
def fine_tuning():
    return recorded(NOTEBOOKS / "02_fine_tuning.ipynb")


def test_02_lr_finder_suggestions_fall_in_the_noise(fine_tuning):
    # "Below about 1e-4 the head learns next to nothing ... both automatic suggestions land in or at the edge of that noise."
    assert fine_tuning["valley_lr"] < 1e-3 and fine_tuning["minimum_lr"] < 1e-4


def test_02_keras_batchnorm_is_faster_and_no_less_accurate(fine_tuning):
    # "head-only training was faster with Keras's setting, and no less accurate". Over three seeds
    # and both precisions Keras's setting scored 1 to 11 points higher; "level" (within 3 points)
    # failed three of those six runs.
    assert fine_tuning["head_keras_bn_seconds"] < fine_tuning["head_fastai_bn_seconds"]
    assert fine_tuning["head_keras_bn_acc"] >= fine_tuning["head_fastai_bn_acc"]


def test_02_fine_tuning_did_not_beat_the_probe_but_all_transfer_beat_scratch(fine_tuning):
    # "fine-tuning (0.705) did not beat the linear probe ... (0.768) ... Everything that started
    #  from ImageNet beat the network trained from scratch (0.613)."
    assert fine_tuning["fine_tune_acc"] <= fine_tuning["probe_acc"]
    assert fine_tuning["fine_tune_acc"] >= fine_tuning["head_fastai_bn_acc"]   # "raised accuracy by 5 points"
    transfer = [fine_tuning[k] for k in ("probe_acc", "head_fastai_bn_acc", "head_keras_bn_acc", "fine_tune_acc")]
    assert min(transfer) > fine_tuning["scratch_acc"]   # "beat": by 4 to 14 points over six runs


def test_02_mistakes_are_mostly_missed_defects(fine_tuning):
    # "91 of the 200 defective validation cells were called functional, against 27 false alarms"
    assert fine_tuning["missed_defects"] > 3 * fine_tuning["false_alarms"]


def test_02_and_01_share_the_cached_features(extraction, fine_tuning):
    # notebook 02's probe reads the features notebook 01 cached: the same figure
    assert fine_tuning["probe_acc"] == extraction["linear_probe_acc"]


@pytest.fixture(scope="module")
def layerwise():
    return recorded(NOTEBOOKS / "03_layerwise_fine_tuning.ipynb")


def test_03_is_an_ablation_over_at_least_three_seeds(layerwise):
    assert layerwise["seeds"] >= 3


def test_03_the_body_tolerates_smaller_rates_than_the_head(layerwise):
    # "With every layer learning, it stops falling near 0.023, about sixteen times lower"
    assert layerwise["all_lowest_loss_lr"] * 3 < layerwise["head_lowest_loss_lr"]


def test_03_one_rate_beats_discriminative_rates_on_every_seed(layerwise):
    # "(a)'s worst seed beat (b)'s best, and the gap is larger than the two standard deviations added"
    assert layerwise["one_rate_min_acc"] > layerwise["discriminative_max_acc"]
    gap = layerwise["one_rate_acc"] - layerwise["discriminative_acc"]
    assert gap > layerwise["one_rate_std"] + layerwise["discriminative_std"]


def test_03_gradual_unfreezing_is_no_better_than_discriminative_rates(layerwise):
    # "no better than (b), the difference well inside the spread between seeds"
    difference = abs(layerwise["gradual_acc"] - layerwise["discriminative_acc"])
    assert difference < min(layerwise["gradual_std"], layerwise["discriminative_std"])


def test_03_small_rates_leave_the_body_where_freezing_does(layerwise):
    # "the body ended 4.9 away ..., as little as with the body frozen (5.7). With one rate it moved 45.8."
    assert layerwise["discriminative_distance"] <= 1.2 * layerwise["head_only_distance"]
    assert layerwise["one_rate_distance"] > 5 * layerwise["discriminative_distance"]


def test_03_l2sp_keeps_the_body_closer_at_no_cost_in_accuracy(layerwise):
    # "kept the body at 19.3 instead of 45.8, and was as accurate as (a) within the noise (0.01 lower, less
    #  than (a)'s standard deviation)"
    assert layerwise["l2sp_distance"] < 0.5 * layerwise["one_rate_distance"]
    assert abs(layerwise["l2sp_acc"] - layerwise["one_rate_acc"]) < layerwise["one_rate_std"]


def test_03_head_only_is_the_worst(layerwise):
    others = [layerwise[k] for k in ("one_rate_acc", "discriminative_acc", "gradual_acc", "l2sp_acc")]
    assert layerwise["head_only_acc"] < min(others)


# --------------------------------------------------------------------------- 04 domain shift

@pytest.fixture(scope="module")
def domain_shift():
    return recorded(NOTEBOOKS / "04_domain_shift.ipynb")


def test_04_tables_are_over_at_least_three_seeds(domain_shift):
    assert domain_shift["seeds"] >= 3


def test_04_both_shifts_cost_most_of_the_accuracy(domain_shift):
    f = domain_shift
    assert f["digits_source_acc"] > 0.85 and f["digits_source_acc"] - f["digits_source_only_acc"] > 0.5
    # solar cells: at chance on a balanced held-out set (0.5), well below the source
    assert abs(f["cells_source_only_acc"] - 0.5) < 0.05 and f["cells_source_acc"] - f["cells_source_only_acc"] > 0.25
    for shift in ("digits", "cells"):
        ceiling = f[f"{shift}_ceiling_acc"]
        others = [v for k, v in f.items() if k.startswith(shift) and k.endswith("_acc")
                  and k not in (f"{shift}_ceiling_acc", f"{shift}_source_acc")]
        assert all(ceiling > v + 0.1 for v in others), shift   # the target-trained ceiling is above every method


def test_04_adabn_recovers_most_without_labels_on_digits(domain_shift):
    f = domain_shift
    assert f["digits_adabn_min_gain"] > 0                       # better on every seed
    assert f["digits_adabn_acc"] - f["digits_source_only_acc"] > f["digits_adabn_std"] + f["digits_source_only_std"]
    assert f["digits_adabn_acc"] > max(f["digits_coral_acc"], f["digits_dann_acc"])


def test_04_coral_and_dann_help_on_average_and_coral_not_on_every_seed_for_digits(domain_shift):
    # DANN's worst seed gained next to nothing (+0.008 on the committed run, +0.012 under float32),
    # CORAL's lost: "help on average, CORAL not on every seed".
    f = domain_shift
    for method in ("coral", "dann"):
        assert f[f"digits_{method}_acc"] > f["digits_source_only_acc"]
    assert f["digits_coral_min_gain"] < 0


def test_04_few_labels_beat_every_unsupervised_method_on_digits(domain_shift):
    f = domain_shift
    assert f["digits_k1_acc"] < f["digits_k5_acc"] < f["digits_k10_acc"]
    assert f["digits_k1_acc"] < f["digits_adabn_acc"] < f["digits_k5_acc"]   # AdaBN: worth 1 to 5 labels per class
    assert f["digits_k10_acc"] > max(f["digits_adabn_acc"], f["digits_coral_acc"], f["digits_dann_acc"]) + 0.1
    assert f["digits_ceiling_acc"] - f["digits_k10_acc"] > 0.3


def test_04_coral_does_best_without_labels_on_cells(domain_shift):
    f = domain_shift
    assert f["cells_coral_min_gain"] > 0
    assert f["cells_coral_acc"] > max(f["cells_adabn_acc"], f["cells_dann_acc"])
    assert f["cells_coral_acc"] - f["cells_source_only_acc"] > f["cells_coral_std"] + f["cells_source_only_std"]
    assert min(f["cells_adabn_acc"], f["cells_dann_acc"]) > f["cells_source_only_acc"]
    # the ranking of AdaBN differs between the two shifts
    assert f["cells_adabn_acc"] < min(f["cells_coral_acc"], f["cells_dann_acc"])


def test_04_only_adabn_makes_the_domains_overlap(domain_shift):
    f = domain_shift
    for method in ("source_only", "coral", "dann"):
        assert f[f"separability_{method}"] > 0.98
    assert f["separability_adabn"] < 0.9


def test_04_corruptions_hurt_and_test_time_adabn_wins_much_back(domain_shift):
    f = domain_shift
    assert f["corrupted_clean_acc"] > 0.85
    assert f["corrupted_mean_sev5_acc"] < f["corrupted_clean_acc"] - 0.5
    assert f["corrupted_worst_sev5_acc"] <= 0.15                      # at chance for some corruption
    assert f["corrupted_mean_sev5_adabn_acc"] - f["corrupted_mean_sev5_acc"] > 0.2


@pytest.fixture(scope="module")
def text_transfer():
    return recorded(NOTEBOOKS / "05_text_transfer.ipynb")


def probe_gain(f, n):
    return f[f"probe_{n}_acc"] - f[f"tfidf_{n}_acc"]


def test_05_transfer_wins_when_labels_are_few(text_transfer):
    # "With 8 labelled tweets per class ... TF-IDF 0.429, the probe 0.524, fine-tuned 0.576"
    f = text_transfer
    for n in (8, 32):
        assert f[f"tfidf_{n}_acc"] < f[f"probe_{n}_acc"] < f[f"fine_tuned_{n}_acc"]
    assert probe_gain(f, 8) > 2 * f["standard_error"]


def test_05_the_probes_lead_shrinks_then_goes(text_transfer):
    # "+0.096 at 8, +0.064 at 32, +0.007 at 128 and -0.020 at 512, where TF-IDF was ahead"
    f = text_transfer
    assert probe_gain(f, 8) > probe_gain(f, 32) > probe_gain(f, 128) > probe_gain(f, 512)
    assert probe_gain(f, 512) < 0


def test_05_fine_tuning_beats_the_probe_and_matches_4x_the_labels(text_transfer):
    # "Fine-tuning beat the probe at 8 and 128 tweets per class (... more than twice the standard
    # error); at 32 it was ahead by 0.040, too little for this run to tell them apart. With 128 tweets
    # per class it was level with TF-IDF trained on 512 and beat the probe trained on 512."
    # Over three seeds and both precisions (benchmarks/results/precision_runs.csv) fine-tuning was
    # ahead of the probe at 32 and 128 on every run but behind at 8 on one seed; the old claims
    # ("beat the probe at every size", "beat both trained on 512") held on one seed only.
    f = text_transfer
    twice_se = 2 * f["standard_error"]
    fine_tuned = [n for n in (8, 32, 128, 512) if f"fine_tuned_{n}_acc" in f]
    assert fine_tuned == [8, 32, 128]
    assert all(f[f"fine_tuned_{n}_acc"] - f[f"probe_{n}_acc"] > twice_se for n in (8, 128))
    assert 0 < f["fine_tuned_32_acc"] - f["probe_32_acc"] < twice_se
    assert abs(f["fine_tuned_128_acc"] - f["tfidf_512_acc"]) < twice_se
    assert f["fine_tuned_128_acc"] - f["probe_512_acc"] > twice_se
    assert f["fine_tuned_32_seconds"] > 100 * max(f["probe_32_seconds"], 0.01)   # "far more" time


def test_05_one_run_does_not_tell_the_two_schedules_apart(text_transfer):
    # "a difference of 0.018, less than twice the standard error"
    f = text_transfer
    assert abs(f["fine_tuned_32_acc"] - f["fine_tuned_one_rate_32_acc"]) < 2 * f["standard_error"]


def test_05_the_topic_shift_costs_every_approach(text_transfer):
    # "every approach lost 16 to 22 points ... trained on the other subjects, 0.573 and 0.607 there"
    f = text_transfer
    for method in ("tfidf", "probe", "fine_tuned"):
        assert 0.14 < f[f"shift_{method}_source_acc"] - f[f"shift_{method}_target_acc"] < 0.23
    for method in ("tfidf", "probe"):
        assert f[f"shift_{method}_target_trained_acc"] - f[f"shift_{method}_target_acc"] > 0.1
    # "the pretrained approaches kept 9 to 10 points more than TF-IDF on the new subjects"
    for method in ("probe", "fine_tuned"):
        assert f[f"shift_{method}_target_acc"] - f["shift_tfidf_target_acc"] > 0.07
