"""The notebooks' claims, each stated as a relation between figures and checked on every run of
the evidence (evidence/*.csv, written by `make evidence`), by the course's one rule
(tlcourse/evidence.py; README, "How the course judges a claim").

A claim is a function of the evidence (one row per run, one column per recorded figure, plus
the derived columns below) that returns the verdicts it rests on; it holds when all of them do.
`test_each_claim_can_fail` feeds every claim evidence in which one of its verdicts is made false
(two figures swapped, a gain removed, a margin missed) and expects the claim to fail.

No figure here is a window drawn around one run: thresholds are chance, a stated size ("more
than 10 points"), or another figure.
"""
from __future__ import annotations

import pandas as pd
import pytest

from tlcourse import evidence
from tlcourse.maintain import evidence as making
from tlcourse.evidence import ahead, at_least, level, same, trend, undecided

# Columns computed from the recorded ones before any claim reads them, so that a test of the
# tests changes what the claim reads.
DERIVED = {
    "01_feature_extraction": {"best_layers_seen": lambda t: float(t["best_layer"].nunique()),
                              "best_layer_is_stage6_or_7": lambda t: t["best_layer"].isin(["stage6", "stage7"]).astype(float)},
    "00_concepts": {f"gain_{n}": (lambda n: lambda t: t[f"transfer_acc_{n}"] - t[f"scratch_acc_{n}"])(n)
                    for n in (10, 30, 100, 300)},
    "03_layerwise_fine_tuning": {f"{t}_cost_of_body100": (lambda t: lambda r: r[f"{t}_body10_acc"] - r[f"{t}_body100_acc"])(t)
                                 for t in ("near", "far")},
    "05_text_transfer": {f"probe_lead_{n}": (lambda n: lambda t: t[f"probe_{n}_acc"] - t[f"tfidf_{n}_acc"])(n)
                         for n in (8, 32, 128, 512)},
}

CLAIMS: dict = {}


def claim(notebook: str):
    """Register a claim of `notebook`; its docstring quotes the prose it checks."""
    def register(function):
        CLAIMS[function.__name__] = (notebook, function)
        return function
    return register


_cache: dict = {}


def runs(notebook: str) -> pd.DataFrame:
    if notebook not in _cache:
        table = evidence.load(notebook)
        for name, compute in DERIVED.get(notebook, {}).items():
            table[name] = compute(table)
        _cache[notebook] = table
    return _cache[notebook].copy()


# --------------------------------------------------------------------------- 00 concepts

@claim("00_concepts")
def imagenet_weights_name_the_photos(t):
    """The network names the espresso and the uniform; for the cat it names a cat breed."""
    return [same(t, "top1_coffee", "espresso"), same(t, "top1_grace_hopper", "military uniform"),
            same(t, "top1_chelsea", "Egyptian cat")]


@claim("00_concepts")
def the_source_model_learned_its_task(t):
    """The silhouette model learned its own task (accuracy above 0.8; chance is 0.1)."""
    return [ahead(t, "source_accuracy", 0.8)]


@claim("00_concepts")
def transfer_wins_with_few_labels(t):
    """With 10 and with 30 labelled digits per class, transfer beats training from scratch."""
    return [ahead(t, f"transfer_acc_{n}", f"scratch_acc_{n}") for n in (10, 30)]


@claim("00_concepts")
def the_gain_shrinks_as_labels_grow(t):
    """The gain of transfer shrinks from 10 to 30 labels per class."""
    return trend(t, ["gain_10", "gain_30"])


@claim("00_concepts")
def from_100_per_class_scratch_is_ahead(t):
    """From 100 labels per class on, the network trained from scratch is ahead (negative transfer)."""
    return [ahead(t, f"scratch_acc_{n}", f"transfer_acc_{n}") for n in (100, 300)]


# --------------------------------------------------------------------------- 01 feature extraction

PROBES = ("linear_probe_acc", "knn_probe_acc", "frozen_head_acc")


@claim("01_feature_extraction")
def frozen_features_beat_training_from_scratch(t):
    """Every method that starts from ImageNet's features beats the network trained from scratch."""
    return [ahead(t, probe, "scratch_acc") for probe in PROBES]


@claim("01_feature_extraction")
def the_linear_probe_and_the_fastai_head_are_not_told_apart(t):
    """The linear probe and the fastai head on the frozen body: the runs do not tell them apart (nor are they level)."""
    return [undecided(t, "frozen_head_acc", "linear_probe_acc")]


@claim("01_feature_extraction")
def nearest_neighbours_are_behind_the_linear_probe(t):
    """5 nearest neighbours was behind the linear probe on every run; against the fastai head the runs do not tell them apart."""
    return [ahead(t, "linear_probe_acc", "knn_probe_acc"), undecided(t, "frozen_head_acc", "knn_probe_acc")]


@claim("01_feature_extraction")
def training_from_scratch_takes_longest(t):
    """Training from scratch took at least twice as long as the fastai head, on every run."""
    return [at_least(t, "scratch_seconds", "frozen_head_seconds", 2)]


@claim("01_feature_extraction")
def no_middle_layer_beats_the_last(t):
    """With every probe's C chosen by cross-validation: the last layer beats the stem, stage1, stage2 and
    stage3; it is level with stage5 and stage7; the runs do not tell it apart from stage4 and stage6."""
    return ([ahead(t, "last_layer_acc", f"layer_acc_{layer}") for layer in ("stem", "stage1", "stage2", "stage3")]
            + [undecided(t, "last_layer_acc", "layer_acc_stage4"), level(t, "last_layer_acc", "layer_acc_stage5"),
               undecided(t, "last_layer_acc", "layer_acc_stage6"), level(t, "last_layer_acc", "layer_acc_stage7")])


@claim("01_feature_extraction")
def the_best_layer_is_stage6_or_stage7_and_changes_from_run_to_run(t):
    """The best single layer was stage6 or stage7, which one changing from run to run."""
    return [ahead(t, "best_layer_is_stage6_or_7", 0.5), ahead(t, "best_layers_seen", 1.0)]


@claim("01_feature_extraction")
def embeddings_encode_cell_type_more_than_defects(t):
    """A linear probe tells mono from poly cells almost perfectly, far better than defective from functional."""
    return [ahead(t, "cell_type_probe_acc", 0.95), ahead(t, "cell_type_probe_acc", "linear_probe_acc")]


# --------------------------------------------------------------------------- 02 fine-tuning

@claim("02_fine_tuning")
def keras_batchnorm_rule_beats_fastais_after_unfreezing(t):
    """Keras's BatchNorm rule beat fastai's after unfreezing, from the same trained head."""
    return [ahead(t, "lp_ft_150_acc", "fastai_bn_acc")]


@claim("02_fine_tuning")
def on_this_budget_fine_tuning_does_not_pass_the_probe(t):
    """With 150 cells per class the probe is ahead of fine-tuning and of LP-FT, not told apart from the head
    alone; with 30 per class the runs tell the probe apart from none of the three."""
    return [ahead(t, "linear_probe_150_acc", "fine_tuning_150_acc"),
            ahead(t, "linear_probe_150_acc", "lp_ft_150_acc"),
            undecided(t, "linear_probe_150_acc", "head_alone_150_acc")] + [
            undecided(t, "linear_probe_30_acc", f"{method}_30_acc") for method in ("fine_tuning", "lp_ft", "head_alone")]


@claim("02_fine_tuning")
def unfreezing_after_the_head_did_not_pay(t):
    """The runs do not tell LP-FT apart from the head alone, at either size."""
    return [undecided(t, "lp_ft_150_acc", "head_alone_150_acc"), undecided(t, "lp_ft_30_acc", "head_alone_30_acc")]


@claim("02_fine_tuning")
def lp_ft_did_not_beat_fine_tuning_from_a_new_head(t):
    """With 150 cells per class the runs do not tell LP-FT and fine-tuning apart; with 30 fine-tuning is ahead."""
    return [undecided(t, "lp_ft_150_acc", "fine_tuning_150_acc"), ahead(t, "fine_tuning_30_acc", "lp_ft_30_acc")]


@claim("02_fine_tuning")
def more_labels_help_the_probe_the_head_and_lp_ft(t):
    """The probe, the head alone and LP-FT are ahead with 150 cells per class than with 30; for fine-tuning
    the runs do not tell the two sizes apart."""
    return [ahead(t, f"{method}_150_acc", f"{method}_30_acc") for method in ("linear_probe", "head_alone", "lp_ft")] + [
            undecided(t, "fine_tuning_150_acc", "fine_tuning_30_acc")]


@claim("02_fine_tuning")
def lp_ft_takes_more_than_three_times_the_head(t):
    """LP-FT took more than three times as long as the head alone."""
    return [at_least(t, "lp_ft_seconds", "head_seconds", 3)]


@claim("02_fine_tuning")
def mistakes_are_mostly_missed_defects(t):
    """Most mistakes are defective cells called functional, not false alarms."""
    return [ahead(t, "missed_defects", "false_alarms")]


# --------------------------------------------------------------------------- 03 layer-wise rates

@claim("03_layerwise_fine_tuning")
def the_body_tolerates_smaller_rates_than_the_head(t):
    """With every layer learning, the loss stops falling at a rate at least 3 times lower than for the head alone."""
    return [at_least(t, "head_lowest_loss_lr", "all_lowest_loss_lr", 3)]


@claim("03_layerwise_fine_tuning")
def a_tenth_of_the_heads_rate_beats_one_rate_and_a_hundredth_on_both_targets(t):
    """"Body ÷10" beat one rate for every layer and "body ÷100" on every run, near and far."""
    return [ahead(t, f"{target}_body10_acc", f"{target}_body{d}_acc") for target in ("near", "far") for d in (1, 100)]


@claim("03_layerwise_fine_tuning")
def a_body_that_cannot_move_costs_more_on_the_far_target(t):
    """What the hundredth cost (against a tenth) was larger on the silhouettes than on the photo tiles."""
    return [ahead(t, "far_cost_of_body100", "near_cost_of_body100")]


@claim("03_layerwise_fine_tuning")
def the_spread_within_the_body_is_not_told_apart_from_a_lower_body_rate(t):
    """fastai's slice against "body ÷10": not told apart on either target; the slice beat one rate on both."""
    return [undecided(t, f"{target}_slice_acc", f"{target}_body10_acc") for target in ("near", "far")] + \
        [ahead(t, f"{target}_slice_acc", f"{target}_body1_acc") for target in ("near", "far")]


@claim("03_layerwise_fine_tuning")
def gradual_unfreezing_scores_below_fastais_slice(t):
    """Gradual unfreezing scored below fastai's slice, with the same rates."""
    return [ahead(t, "near_slice_acc", "near_gradual_acc")]


@claim("03_layerwise_fine_tuning")
def l2sp_keeps_the_body_near_but_does_not_match_a_smaller_rate(t):
    """L2-SP with one rate: not told apart from one rate alone, behind "body ÷10", and much nearer its start than
    one rate; one rate moved the body at least three times as far as "body ÷10"."""
    return [undecided(t, "near_l2sp_acc", "near_body1_acc"), ahead(t, "near_body10_acc", "near_l2sp_acc"),
            ahead(t, "near_body1_distance", "near_l2sp_distance"),
            at_least(t, "near_body1_distance", "near_body10_distance", 3)]


# --------------------------------------------------------------------------- 04 domain shift

ADAPTATION = ("adabn", "coral", "dann")


def acc(shift: str, method: str) -> str:
    return f"{shift}_{method}_acc"


@claim("04_domain_shift")
def both_shifts_cost_accuracy(t):
    """The shift costs most of the digits' accuracy and takes the cells to chance (level with 0.5)."""
    return [ahead(t, "digits_source_acc", "digits_source_only_acc"),
            ahead(t, "cells_source_acc", "cells_source_only_acc"),
            level(t, "cells_source_only_acc", 0.5)]


@claim("04_domain_shift")
def every_method_beats_source_only(t):
    """On both shifts every method beats source-only."""
    return [ahead(t, acc(s, m), acc(s, "source_only")) for s in ("digits", "cells")
            for m in ADAPTATION + ("k1", "k5", "k10")]


@claim("04_domain_shift")
def on_digits_adabn_and_coral_are_not_told_apart_and_both_beat_dann(t):
    """Digits: the runs do not tell AdaBN and CORAL apart; both beat DANN."""
    return [undecided(t, "digits_adabn_acc", "digits_coral_acc"),
            ahead(t, "digits_adabn_acc", "digits_dann_acc"), ahead(t, "digits_coral_acc", "digits_dann_acc")]


@claim("04_domain_shift")
def on_digits_the_labels_help_only_through_the_source_model(t):
    """Digits: ten labels beat one and are level with five; the same ten labels without the source give a
    network below source-only, and below few-shot."""
    return [ahead(t, "digits_k10_acc", "digits_k1_acc"), level(t, "digits_k10_acc", "digits_k5_acc"),
            undecided(t, "digits_k10_acc", "digits_coral_acc"),
            ahead(t, "digits_source_only_acc", "digits_target_only_acc"),
            ahead(t, "digits_k10_acc", "digits_target_only_acc")]


@claim("04_domain_shift")
def few_shot_fine_tuning_forgets_the_source(t):
    """Few-shot fine-tuning with ten labels per class lowers the source accuracy, on both shifts."""
    return [ahead(t, f"{s}_source_acc", f"{s}_k10_source_acc") for s in ("digits", "cells")]


@claim("04_domain_shift")
def the_ceiling_is_above_ten_labels(t):
    """A model trained on the target is above ten labels per class, on both shifts."""
    return [ahead(t, acc(s, "ceiling"), acc(s, "k10")) for s in ("digits", "cells")]


@claim("04_domain_shift")
def on_cells_the_ranking_differs_and_the_labels_alone_do_as_well(t):
    """Cells: CORAL ahead of DANN, DANN ahead of AdaBN; ten labels beat AdaBN, not told apart from CORAL; a new
    head on the ten labels alone beats few-shot from the source head."""
    return [ahead(t, "cells_coral_acc", "cells_dann_acc"), ahead(t, "cells_dann_acc", "cells_adabn_acc"),
            ahead(t, "cells_k10_acc", "cells_adabn_acc"), undecided(t, "cells_k10_acc", "cells_coral_acc"),
            ahead(t, "cells_target_only_acc", "cells_k10_acc")]


@claim("04_domain_shift")
def adabn_and_coral_bring_the_domains_closer(t):
    """AdaBN made the domains overlap more than source-only, and so, a little, did CORAL; CORAL lowered the CORAL
    distance on held-out images."""
    return [ahead(t, "separability_source_only", "separability_adabn"),
            ahead(t, "separability_source_only", "separability_coral"),
            ahead(t, "coral_distance_source_only", "coral_distance_coral")]


@claim("04_domain_shift")
def dann_leaves_the_domains_more_separable(t):
    """DANN's features were more separable than source-only's, on every run."""
    return [ahead(t, "separability_dann", "separability_source_only")]


@claim("04_domain_shift")
def corruptions_hurt_and_test_time_adabn_wins_much_back(t):
    """Severity-5 corruptions cut accuracy far below clean; test-time AdaBN wins much of it back."""
    return [ahead(t, "corrupted_clean_acc", "corrupted_mean_sev5_acc"),
            ahead(t, "corrupted_mean_sev5_adabn_acc", "corrupted_mean_sev5_acc")]


# --------------------------------------------------------------------------- 05 text

@claim("05_text_transfer")
def zero_shot_is_worth_about_eight_labelled_tweets_per_class(t):
    """Zero-shot is ahead of TF-IDF on 8 per class, not told apart from the probe and the fine-tuned encoder on 8;
    the probe and the fine-tuned encoder on 32, and TF-IDF on 128, are ahead of it."""
    return [ahead(t, "zero_shot_acc", "tfidf_8_acc"), undecided(t, "zero_shot_acc", "probe_8_acc"),
            undecided(t, "zero_shot_acc", "fine_tuned_8_acc"), ahead(t, "probe_32_acc", "zero_shot_acc"),
            ahead(t, "fine_tuned_32_acc", "zero_shot_acc"), ahead(t, "tfidf_128_acc", "zero_shot_acc")]


@claim("05_text_transfer")
def the_probe_beats_tfidf_only_with_few_labels(t):
    """The probe beats TF-IDF at 8 tweets per class; at 32 and 128 they are not told apart; at 512 TF-IDF is ahead."""
    return [ahead(t, "probe_8_acc", "tfidf_8_acc"), undecided(t, "probe_32_acc", "tfidf_32_acc"),
            undecided(t, "probe_128_acc", "tfidf_128_acc"), ahead(t, "tfidf_512_acc", "probe_512_acc")]


@claim("05_text_transfer")
def the_probes_lead_shrinks_as_labels_grow(t):
    """The probe's lead is larger at 8 than at 128 and 512, and larger at 32 than at 128."""
    return [ahead(t, "probe_lead_8", "probe_lead_128"), ahead(t, "probe_lead_8", "probe_lead_512"),
            ahead(t, "probe_lead_32", "probe_lead_128")]


@claim("05_text_transfer")
def fine_tuning_beats_tfidf_and_the_probe_from_32(t):
    """Fine-tuning beats TF-IDF and the probe at 32 and 128; at 8 the runs tell it apart from neither."""
    return [ahead(t, f"fine_tuned_{n}_acc", f"tfidf_{n}_acc") for n in (32, 128)] + \
        [ahead(t, f"fine_tuned_{n}_acc", f"probe_{n}_acc") for n in (32, 128)] + \
        [undecided(t, "fine_tuned_8_acc", "tfidf_8_acc"), undecided(t, "fine_tuned_8_acc", "probe_8_acc")]


@claim("05_text_transfer")
def fine_tuning_is_worth_four_times_the_labels(t):
    """Fine-tuned on 128 per class, the encoder is level with TF-IDF on 512 and ahead of the probe on 512."""
    return [level(t, "fine_tuned_128_acc", "tfidf_512_acc"), ahead(t, "fine_tuned_128_acc", "probe_512_acc")]


@claim("05_text_transfer")
def fine_tuning_takes_far_longer(t):
    """Fine-tuning takes at least a hundred times as long as the probe, on every run."""
    return [at_least(t, "fine_tuned_32_seconds", "probe_32_seconds", 100)]


@claim("05_text_transfer")
def one_rate_and_discriminative_rates_are_level(t):
    """One rate and discriminative rates are level (within 2 points)."""
    return [level(t, "fine_tuned_32_acc", "fine_tuned_one_rate_32_acc")]


@claim("05_text_transfer")
def the_topic_shift_costs_every_approach(t):
    """Every approach loses on other subjects; models trained there do better; the pretrained approaches keep
    more than TF-IDF, and are not told apart from each other."""
    methods = ("tfidf", "probe", "fine_tuned")
    return [ahead(t, f"shift_{m}_source_acc", f"shift_{m}_target_acc") for m in methods] + \
        [ahead(t, f"shift_{m}_target_trained_acc", f"shift_{m}_target_acc") for m in ("tfidf", "probe")] + \
        [ahead(t, f"shift_{m}_target_acc", "shift_tfidf_target_acc") for m in ("probe", "fine_tuned")] + \
        [undecided(t, "shift_fine_tuned_target_acc", "shift_probe_target_acc")]


# --------------------------------------------------------------------------- 06 parameter-efficient

@claim("06_parameter_efficient")
def on_silhouettes_moving_more_of_the_body_costs_accuracy(t):
    """On silhouettes every partial method and the head alone beat full fine-tuning, and the head alone beats
    LoRA; the runs do not tell the head alone from BatchNorm's parameters alone, nor L2-SP from full."""
    return [ahead(t, f"image_{m}_acc", "image_full_acc") for m in ("head", "norm", "bias", "lora")] + \
        [ahead(t, "image_head_acc", "image_lora_acc"), undecided(t, "image_norm_acc", "image_head_acc"),
         undecided(t, "image_l2sp_acc", "image_full_acc")]


@claim("06_parameter_efficient")
def on_tweets_training_the_encoder_pays(t):
    """On tweets full fine-tuning beats the head alone, LayerNorm only and LoRA; LoRA beats the head alone; the
    runs do not tell bias terms alone from the head alone; the head alone beats zero-shot."""
    return [ahead(t, "text_full_acc", f"text_{m}_acc") for m in ("head", "norm", "lora")] + \
        [ahead(t, "text_lora_acc", "text_head_acc"), undecided(t, "text_bias_acc", "text_head_acc"),
         ahead(t, "text_head_acc", "zero_shot_acc")]


@claim("06_parameter_efficient")
def the_less_a_method_moves_the_less_it_forgets(t):
    """The head alone and LoRA with its adapters taken away keep every ImageNet answer; LoRA keeps more than
    norm only, bias only, full fine-tuning and L2-SP; then norm only, bias only, full; L2-SP is level with full."""
    return [same(t, "forget_head_agreement", 1.0), same(t, "forget_lora_off_agreement", 1.0)] + \
        [ahead(t, "forget_lora_agreement", f"forget_{m}_agreement") for m in ("norm", "bias", "full", "l2sp")] + \
        [ahead(t, "forget_norm_agreement", "forget_bias_agreement"),
         ahead(t, "forget_bias_agreement", "forget_full_agreement"),
         level(t, "forget_l2sp_agreement", "forget_full_agreement")]


@claim("06_parameter_efficient")
def lora_saves_optimizer_memory_not_activations(t):
    """LoRA's activations are at least 90 % of full fine-tuning's; full fine-tuning's whole step holds at least
    1.5 times LoRA's; on the images the head alone trains at least twice as fast as every other method."""
    return [at_least(t, f"{w}_lora_activation_mb", f"{w}_full_activation_mb", 0.9) for w in ("image", "text")] + \
        [at_least(t, f"{w}_full_memory_mb", f"{w}_lora_memory_mb", 1.5) for w in ("image", "text")] + \
        [at_least(t, f"image_{m}_seconds", "image_head_seconds", 2) for m in ("norm", "bias", "lora", "full")]


# --------------------------------------------------------------------------- the tests

@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_claim_holds_over_every_run(name):
    notebook, function = CLAIMS[name]
    verdicts = function(runs(notebook))
    failed = [str(v) for v in verdicts if not v]
    assert not failed, f"{notebook}: {function.__doc__}\n  " + "\n  ".join(failed)


def _break(table: pd.DataFrame, verdict) -> pd.DataFrame:
    """Evidence in which `verdict` no longer holds."""
    t = table.copy()
    numeric = verdict.b not in t.columns
    if verdict.claim == "same":
        t[verdict.a] = "something else"
    elif verdict.claim == "ahead" and verdict.a not in t.columns:             # a number ahead of a figure
        t[verdict.b] = 2 * float(verdict.a) + 0.01
    elif verdict.claim == "ahead" and not numeric:
        t[[verdict.a, verdict.b]] = t[[verdict.b, verdict.a]].to_numpy()     # two figures swapped
    elif verdict.claim == "ahead":
        t[verdict.a] = float(verdict.b) - 0.01                                 # the gain removed
    elif verdict.claim == "level":
        other = float(verdict.b) if numeric else t[verdict.b]
        t[verdict.a] = other + 2 * verdict.margin                              # the margin missed
    elif verdict.claim == "at least" and verdict.a not in t.columns:          # a number over a figure
        t[verdict.b] = 2 * float(verdict.a) / verdict.margin
    elif verdict.claim == "at least":
        t[verdict.a] = t[verdict.b] * verdict.margin / 2                       # half the ratio
    elif verdict.claim == "undecided":
        t[verdict.a] = t[verdict.b] + 0.2                                      # clearly ahead
    return t


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_each_claim_can_fail(name):
    notebook, function = CLAIMS[name]
    table = runs(notebook)
    for i, verdict in enumerate(function(table)):
        broken = function(_break(table, verdict))
        assert not all(broken), f"{name}: breaking verdict {i} ({verdict}) left the claim holding"


def test_the_rule():
    t = pd.DataFrame({"a": [0.70, 0.72, 0.69, 0.71, 0.74], "b": [0.60, 0.65, 0.70, 0.60, 0.62],
                      "c": [0.70, 0.72, 0.69, 0.70, 0.73]})
    assert ahead(t, "a", "b") and not ahead(t, "b", "a")             # 4 of 5 and beyond 2 SE
    assert not level(t, "a", "b") and level(t, "a", "c")
    t2 = t.assign(b=[0.60, 0.73, 0.70, 0.72, 0.62])                   # ahead on 2 of 5: not "ahead"
    assert not ahead(t2, "a", "b")
    assert undecided(t2, "a", "b")
    assert not undecided(t, "a", "b")
    noisy = pd.DataFrame({"a": [0.9, 0.5, 0.9, 0.5, 0.9], "b": [0.7] * 5})   # 3 of 5, wide spread
    assert not ahead(noisy, "a", "b") and not level(noisy, "a", "b")
    assert at_least(pd.DataFrame({"s": [30, 40], "f": [10, 10]}), "s", "f", 3)
    assert not at_least(pd.DataFrame({"s": [30, 20], "f": [10, 10]}), "s", "f", 3)


NOTEBOOKS = sorted(evidence.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_committed_notebook_is_its_evidences_first_run(notebook):
    # Its recorded figures equal the default run's, to the printed digit, and the evidence was made
    # with the parameters cell as it is now.
    problems = making.stale(notebook)
    assert not problems, "\n".join(problems)


def test_stale_evidence_is_reported(tmp_path, monkeypatch):
    import shutil
    notebook = NOTEBOOKS[0]
    monkeypatch.setattr(evidence, "EVIDENCE", tmp_path)
    assert "no evidence" in making.stale(notebook)[0]
    for suffix in (".csv", ".json"):
        shutil.copy(evidence.ROOT / "evidence" / f"{notebook.stem}{suffix}", tmp_path)
    table = pd.read_csv(tmp_path / f"{notebook.stem}.csv", dtype=str)
    figure = table.loc[(table["run"] == "0") & (table["value"].str.match(r"0\.\d")), "figure"].iloc[0]
    table.loc[(table["run"] == "0") & (table["figure"] == figure), "value"] = "0.0123"
    table.to_csv(tmp_path / f"{notebook.stem}.csv", index=False)
    made = evidence.meta(notebook)
    made["parameters"]["valid_per_class"] = "7"
    (tmp_path / f"{notebook.stem}.json").write_text(__import__("json").dumps(made))
    problems = "\n".join(making.stale(notebook))
    assert f"{figure} is" in problems and "parameter valid_per_class" in problems
    assert "make evidence NOTEBOOKS=00" in problems


def test_readme_results_tables_are_the_evidence():
    readme = (evidence.ROOT / "README.md").read_text()
    block = readme.split(making.START, 1)[1].split(making.END, 1)[0].strip()
    assert block == making.readme_tables(), "run: .venv/bin/python -m tlcourse.maintain.evidence --readme"
